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
    """Records what heap.py asks of malloc; `free` is what mallinfo2 reports free, `checks` how
    often it was asked."""

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
    monkeypatch.setattr(heap, "_checks_since_trim", None)
    monkeypatch.setattr(heap, "_settle_left", 0)
    monkeypatch.setattr(heap, "_level", 0)
    return fake


@pytest.fixture
def rss(monkeypatch):
    """The resident size heap.py reads, set by the test (bytes)."""
    size = SimpleNamespace(now=1000 * MB)
    monkeypatch.setattr(heap, "resident_bytes", lambda: size.now)
    return size


MB = 1024 * 1024


def settle(level: int, glibc, rss) -> None:
    """Run the first check, then those that set the level, ending at `level` bytes."""
    heap.trim_if_grown()
    trims = glibc.trims
    for step in range(heap.SETTLE_CHECKS):
        rss.now = level - step * MB
        assert heap.trim_if_grown() is False
    assert glibc.trims == trims and heap._level == level


@pytest.mark.parametrize("free, trims", [(0, 0), (heap.MIN_GROWTH_BEFORE_TRIM + 1, 1)])
def test_first_check_hands_back_what_loading_freed(glibc, rss, free, trims):
    glibc.free = free
    settle(1000 * MB, glibc, rss)  # and then only growth trims
    assert glibc.trims == trims


def test_building_a_copy_hands_back_what_converting_freed(glibc, rss):
    glibc.free = 600 * MB
    settle(1000 * MB, glibc, rss)
    heap.copy_built()
    settle(1200 * MB, glibc, rss)  # trims, then measures the level anew
    assert glibc.trims == 2


def test_trims_when_resident_memory_grew_past_its_level(glibc, rss):
    settle(1000 * MB, glibc, rss)
    trims = glibc.trims
    for _ in range(heap.SETTLE_CHECKS):  # a while after the last trim
        assert heap.trim_if_grown() is False
    allowance = int(heap.GROWTH_BEFORE_TRIM * 1000 * MB)
    glibc.free, asked = 10 * allowance, glibc.checks
    rss.now = 1000 * MB + allowance
    assert heap.trim_if_grown() is False  # within the allowance: the batches' working set
    assert glibc.checks == asked  # glibc is not even asked
    rss.now += MB
    assert heap.trim_if_grown() is True and glibc.trims == trims + 1
    assert heap._level == 1000 * MB  # a trim leaves the level alone


def test_a_working_set_that_regrows_right_after_a_trim_raises_the_level(glibc, rss):
    settle(1000 * MB, glibc, rss)
    for _ in range(heap.SETTLE_CHECKS):
        heap.trim_if_grown()
    glibc.free, trims = 600 * MB, glibc.trims
    rss.now = 1100 * MB
    assert heap.trim_if_grown() is True
    rss.now = 1100 * MB  # the next batch faulted it all back in: trimming again would not hold
    assert heap.trim_if_grown() is False and heap._level == 1100 * MB
    assert glibc.trims == trims + 1
    for _ in range(20):
        assert heap.trim_if_grown() is False


def test_free_pages_already_handed_back_do_not_trim_again(glibc, rss):
    """glibc still counts trimmed chunks as free: a large free count alone must not trim."""
    glibc.free = 600 * MB
    settle(1000 * MB, glibc, rss)  # the first check trims once: what loading freed
    for _ in range(20):
        assert heap.trim_if_grown() is False
    assert glibc.trims == 1


def test_growth_by_memory_in_use_raises_the_level_instead(glibc, rss):
    settle(1000 * MB, glibc, rss)
    for _ in range(heap.SETTLE_CHECKS):
        heap.trim_if_grown()
    glibc.free = heap.MIN_GROWTH_BEFORE_TRIM  # less than the allowance: nothing to give back
    rss.now, asked = 1200 * MB, glibc.checks
    assert heap.trim_if_grown() is False and glibc.checks == asked + 1
    assert heap._level == 1200 * MB
    assert heap.trim_if_grown() is False and glibc.checks == asked + 1  # not asked again


def test_small_processes_get_the_minimum_allowance(glibc, rss):
    settle(100 * MB, glibc, rss)
    for _ in range(heap.SETTLE_CHECKS):
        heap.trim_if_grown()
    glibc.free = 100 * MB
    rss.now = 100 * MB + heap.MIN_GROWTH_BEFORE_TRIM
    assert heap.trim_if_grown() is False
    rss.now += 1
    assert heap.trim_if_grown() is True


def test_default_trims_between_batches_and_sets_nothing(tiny_bert, glibc, rss, monkeypatch):
    monkeypatch.setattr(heap, "CHECK_EVERY_TOKENS", 1)  # look at every batch
    nlp = initialized_nlp(tiny_bert)
    assert nlp.get_pipe("transformer").release_heap == "trim"
    glibc.free = 1000 * MB
    # Loading, then building the packed copy, freed memory: the next checks hand it back, and
    # the SETTLE_CHECKS after them only watch.
    list(nlp.pipe(TEXTS, batch_size=1))
    settled = glibc.trims
    assert settled >= 1
    list(nlp.pipe(TEXTS, batch_size=1))
    assert glibc.trims == settled
    rss.now += 100 * MB
    list(nlp.pipe(TEXTS[:1]))
    assert glibc.trims == settled + 1
    rss.now += 100 * MB
    nlp.update(both_examples(nlp), losses={})
    assert glibc.trims == settled + 1  # training never trims
    assert glibc.thresholds == [] and heap.mmap_threshold_set_here() is None


def test_building_the_int8_copy_is_handed_back_at_the_next_check(
    tiny_bert, glibc, rss, monkeypatch
):
    monkeypatch.setattr(heap, "CHECK_EVERY_TOKENS", 1)
    nlp = initialized_nlp(tiny_bert)
    glibc.free = 1000 * MB
    list(nlp.pipe(TEXTS * 2, batch_size=1))  # settled: no growth from here on
    before = glibc.trims
    nlp.get_pipe("transformer").set_inference_precision("int8")
    list(nlp.pipe(TEXTS[:1]))  # checked, then the copy is built
    assert glibc.trims == before
    list(nlp.pipe(TEXTS[:1]))
    assert glibc.trims == before + 1


def test_single_docs_are_checked_only_every_few_thousand_tokens(tiny_bert, monkeypatch):
    nlp = initialized_nlp(tiny_bert)
    checks = []
    monkeypatch.setattr(heap, "_tokens_since_check", 0)
    monkeypatch.setattr(heap, "trim_if_grown", lambda: checks.append(1))
    n_tokens = len(nlp.make_doc(TEXTS[0]))
    for _ in range(heap.CHECK_EVERY_TOKENS // n_tokens + 1):
        nlp(TEXTS[0])
    assert len(checks) == 1


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


def test_off_leaves_malloc_alone(tiny_bert, glibc, rss, monkeypatch):
    monkeypatch.setattr(heap, "CHECK_EVERY_TOKENS", 1)
    nlp = initialized_nlp(tiny_bert, transformer={"release_heap": False})
    assert nlp.get_pipe("transformer").release_heap == "off"
    glibc.free = 1000 * MB
    for _ in range(heap.SETTLE_CHECKS + 2):
        rss.now += 100 * MB
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
    assert heap.resident_bytes() > 10 * MB  # this process: python, torch, spaCy
    assert heap.trim() is True
    before = heap.mmap_threshold_set_here()
    try:
        assert heap.set_mmap_threshold(heap.PREDICTION_MMAP_THRESHOLD) is True
    finally:
        heap.set_mmap_threshold(before or heap.TRAINING_MMAP_THRESHOLD)
