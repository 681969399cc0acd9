"""The encoder has glibc give large freed blocks back to the OS (see encoder/heap.py)."""
import sys

import pytest

from spacy_bert_tasks.encoder import component as encoder_component
from spacy_bert_tasks.encoder import heap
from util import initialized_nlp


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_mmap_threshold_is_fixed_here():
    # A second call is a no-op that still reports the fixed threshold.
    assert heap.fix_mmap_threshold() is True
    assert heap.fix_mmap_threshold() is True


@pytest.fixture
def fixes(monkeypatch):
    calls = []
    monkeypatch.setattr(encoder_component, "fix_mmap_threshold", lambda: calls.append(1) or True)
    return calls


def test_encoder_fixes_the_threshold_by_default(tiny_bert, fixes):
    nlp = initialized_nlp(tiny_bert)
    assert nlp.get_pipe("transformer").release_heap is True
    assert fixes == [1]


def test_release_heap_can_be_turned_off_in_the_config(tiny_bert, fixes):
    nlp = initialized_nlp(tiny_bert, transformer={"release_heap": False})
    assert nlp.get_pipe("transformer").release_heap is False
    assert fixes == []
