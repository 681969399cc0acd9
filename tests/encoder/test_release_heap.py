"""`release_heap`: how the encoder keeps a long-running process at its warm-up size (encoder/heap.py).

The default trims glibc's free pages between prediction batches and sets nothing process-wide;
"mmap" fixes the mmap threshold while predicting, and must not outlive its need: training, or
another pipeline predicting with another mode, puts it back.
"""

import sys
from types import SimpleNamespace

import pytest
import spacy
from util import both_examples, initialized_nlp

from spacy_bert_tasks.encoder import heap

TEXTS = [f"Paul visited London on day {i} and loved it" for i in range(6)]


class FakeGlibc:
    """Records what heap.py asks of malloc; `free` is what mallinfo2 reports free."""

    def __init__(self) -> None:
        self.thresholds = []
        self.trims = 0
        self.free = 0
        self.checks = 0

    def mallopt(self, param: int, value: int) -> int:
        assert param == heap.M_MMAP_THRESHOLD
        self.thresholds.append(value)
        return 1

    def malloc_trim(self, pad: int) -> int:
        self.trims += 1
        return 1

    def mallinfo2(self):
        self.checks += 1
        return SimpleNamespace(fordblks=self.free)


@pytest.fixture
def glibc(monkeypatch):
    fake = FakeGlibc()
    monkeypatch.setattr(heap, "_LIBC", fake)
    monkeypatch.setattr(heap, "_current", None)  # a fresh process: nothing set yet
    monkeypatch.setattr(heap, "_tokens_since_check", 0)
    return fake


def test_default_trims_when_enough_is_free_and_sets_nothing(tiny_bert, glibc, monkeypatch):
    monkeypatch.setattr(heap, "CHECK_EVERY_TOKENS", 1)  # look at every batch
    nlp = initialized_nlp(tiny_bert)
    assert nlp.get_pipe("transformer").release_heap == "trim"
    glibc.free = heap.TRIM_WHEN_FREE_EXCEEDS - 1
    list(nlp.pipe(TEXTS))
    assert glibc.trims == 0  # not worth the page faults yet
    glibc.free = heap.TRIM_WHEN_FREE_EXCEEDS + 1
    list(nlp.pipe(TEXTS, batch_size=2))
    assert glibc.trims == 3  # once per batch
    nlp.update(both_examples(nlp), losses={})
    assert glibc.trims == 3  # training never trims
    assert glibc.thresholds == [] and heap.mmap_threshold_set_here() is None


def test_single_docs_ask_glibc_only_every_few_thousand_tokens(tiny_bert, glibc):
    nlp = initialized_nlp(tiny_bert)
    glibc.free = 10 * heap.TRIM_WHEN_FREE_EXCEEDS
    n_tokens = len(nlp.make_doc(TEXTS[0]))
    calls = heap.CHECK_EVERY_TOKENS // n_tokens + 1
    for _ in range(calls):
        nlp(TEXTS[0])
    assert glibc.checks == glibc.trims == 1


def test_mmap_mode_is_low_to_predict_and_restored_to_train(tiny_bert, glibc):
    nlp = initialized_nlp(tiny_bert, transformer={"release_heap": "mmap"})
    list(nlp.pipe(TEXTS))
    assert glibc.thresholds == [heap.PREDICTION_MMAP_THRESHOLD]
    nlp.update(both_examples(nlp), losses={})
    assert glibc.thresholds[-1] == heap.TRAINING_MMAP_THRESHOLD
    list(nlp.pipe(TEXTS))
    assert heap.mmap_threshold_set_here() == heap.PREDICTION_MMAP_THRESHOLD


@pytest.mark.parametrize("other_mode", ["off", "trim"])
def test_a_second_pipeline_does_not_inherit_mmap(tiny_bert, glibc, other_mode):
    low = initialized_nlp(tiny_bert, transformer={"release_heap": "mmap"})
    other = initialized_nlp(tiny_bert, transformer={"release_heap": other_mode})
    list(low.pipe(TEXTS))
    assert heap.mmap_threshold_set_here() == heap.PREDICTION_MMAP_THRESHOLD
    list(other.pipe(TEXTS))
    assert heap.mmap_threshold_set_here() == heap.TRAINING_MMAP_THRESHOLD
    list(low.pipe(TEXTS))  # and the first gets its setting back
    assert heap.mmap_threshold_set_here() == heap.PREDICTION_MMAP_THRESHOLD


def test_off_leaves_malloc_alone(tiny_bert, glibc):
    nlp = initialized_nlp(tiny_bert, transformer={"release_heap": False})
    assert nlp.get_pipe("transformer").release_heap == "off"
    glibc.free = 10 * heap.TRIM_WHEN_FREE_EXCEEDS
    list(nlp.pipe(TEXTS))
    nlp.update(both_examples(nlp), losses={})
    assert glibc.thresholds == [] and glibc.trims == 0


def test_mmap_setting_is_logged(tiny_bert, glibc, caplog):
    nlp = initialized_nlp(tiny_bert, transformer={"release_heap": "mmap"})
    with caplog.at_level("INFO", logger=heap.__name__):
        list(nlp.pipe(TEXTS))
    assert "mmap threshold fixed at 131072" in caplog.text


def test_saved_true_still_loads_as_the_default(tiny_bert, glibc, tmp_path):
    nlp = initialized_nlp(tiny_bert, transformer={"release_heap": True})
    nlp.to_disk(tmp_path / "pipeline")
    assert spacy.load(tmp_path / "pipeline").get_pipe("transformer").release_heap == "trim"


def test_unknown_mode_is_refused(tiny_bert):
    with pytest.raises(ValueError, match="not 'always'"):
        initialized_nlp(tiny_bert, transformer={"release_heap": "always"})


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_real_glibc_calls_work_here():
    assert heap.free_heap_bytes() > 0
    assert heap.trim_if_worth_it(min_free=0) is True
    before = heap.mmap_threshold_set_here()
    try:
        assert heap.set_mmap_threshold(heap.PREDICTION_MMAP_THRESHOLD) is True
    finally:
        heap.set_mmap_threshold(before or heap.TRAINING_MMAP_THRESHOLD)
