"""The encoder has glibc give large freed blocks back to the OS when it predicts, not when it
trains (see encoder/heap.py)."""
import sys

import pytest

from spacy_bert_tasks.encoder import component as encoder_component
from spacy_bert_tasks.encoder import heap
from util import both_examples, initialized_nlp

TEXTS = [f"Paul visited London on day {i} and loved it" for i in range(6)]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_mmap_threshold_can_be_set_here():
    assert heap.set_mmap_threshold(heap.TRAINING_MMAP_THRESHOLD) is True
    assert heap.set_mmap_threshold(heap.PREDICTION_MMAP_THRESHOLD) is True


@pytest.fixture
def thresholds(monkeypatch):
    calls = []
    monkeypatch.setattr(encoder_component, "set_mmap_threshold", lambda nbytes: calls.append(nbytes) or True)
    return calls


def test_low_threshold_to_predict_high_to_train(tiny_bert, thresholds):
    nlp = initialized_nlp(tiny_bert)
    assert nlp.get_pipe("transformer").release_heap is True
    thresholds.clear()
    list(nlp.pipe(TEXTS))
    assert set(thresholds) == {heap.PREDICTION_MMAP_THRESHOLD}
    thresholds.clear()
    nlp.update(both_examples(nlp), losses={})
    assert thresholds[0] == heap.TRAINING_MMAP_THRESHOLD


def test_release_heap_can_be_turned_off_in_the_config(tiny_bert, thresholds):
    nlp = initialized_nlp(tiny_bert, transformer={"release_heap": False})
    list(nlp.pipe(TEXTS))
    nlp.update(both_examples(nlp), losses={})
    assert thresholds == []
