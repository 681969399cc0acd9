"""How much of each task the training has seen: docs, spaCy tokens and encoder wordpieces.

The task batcher (batcher.py) adds each batch as it hands it to `spacy train`; the training log
(logger.py) reports the totals at every evaluation. spaCy's config gives the batcher and the
logger no way to talk to each other, so they meet in this one process-wide counter, which the
logger resets when a training run starts, and which stays empty under other batchers.
"""

from collections import defaultdict
from typing import Callable, Dict, List, Optional

from spacy.training import Example


class Exposure:
    """Per task: docs, tokens, and (once a wordpiece counter is set) wordpieces seen."""

    def __init__(self) -> None:
        self.counts: Dict[str, Dict[str, int]] = {}
        self.count_wordpieces: Optional[Callable[[List[str]], int]] = None

    def reset(self, count_wordpieces: Optional[Callable[[List[str]], int]] = None) -> None:
        """Start counting afresh; `count_wordpieces(texts)` counts the encoder's wordpieces."""
        self.counts = defaultdict(lambda: {"docs": 0, "tokens": 0, "wordpieces": 0})
        self.count_wordpieces = count_wordpieces

    def add(self, task: str, batch: List[Example]) -> None:
        if not isinstance(self.counts, defaultdict):
            self.reset()
        counts = self.counts[task]
        counts["docs"] += len(batch)
        counts["tokens"] += sum(len(eg) for eg in batch)
        if self.count_wordpieces is not None:
            texts = [eg.reference.text for eg in batch]
            # A QA doc is encoded with its question.
            texts += [q for q in (_question(eg) for eg in batch) if q]
            counts["wordpieces"] += self.count_wordpieces(texts)

    def snapshot(self) -> Dict[str, Dict[str, int]]:
        return {task: dict(counts) for task, counts in sorted(self.counts.items())}


def _question(example: Example) -> Optional[str]:
    doc = example.reference
    return doc._.question if doc.has_extension("question") else None


EXPOSURE = Exposure()
