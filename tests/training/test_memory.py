"""spacy-bert-tasks.release_freed_memory.v1: malloc_trim between training steps (glibc)."""

import sys

import pytest
import spacy
from spacy.util import registry

from spacy_bert_tasks.training import memory


def resident_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_freed_heap_memory_goes_back_to_the_os():
    # Many blocks below the mmap threshold, freed except every 64th: the heap keeps its size
    # (live blocks pin it) until malloc_trim returns the free pages between them.
    blocks = [bytearray(16 * 1024) for _ in range(20000)]  # about 320 MB in the heap
    kept = blocks[::64]
    del blocks
    before = resident_mb()
    assert memory.release_freed_memory()
    assert resident_mb() < before - 150
    assert len(kept) == 313


def test_callback_trims_every_n_steps(monkeypatch):
    calls = []
    monkeypatch.setattr(memory, "release_freed_memory", lambda: calls.append(1) or True)
    callback = registry.callbacks.get("spacy-bert-tasks.release_freed_memory.v1")(every_n_steps=3)
    nlp = spacy.blank("en")
    for step in range(7):
        callback(nlp, {"step": step, "epoch": 0})
    assert len(calls) == 3  # steps 0, 3, 6
    with pytest.raises(ValueError, match="every_n_steps"):
        registry.callbacks.get("spacy-bert-tasks.release_freed_memory.v1")(every_n_steps=0)
