"""Sentence pairs for next-sentence prediction (NSP), drawn anew every epoch.

For every sentence that has a next one in its doc, a pair (A, B): half the time B is that next
sentence (label 0, "is next"), otherwise a random sentence of another, random doc (label 1), as
in BERT. Docs of one sentence only give random second segments.
Every doc needs a sentence.
"""

from typing import List, Sequence, Tuple

import numpy

IS_NEXT = 0
IS_RANDOM = 1


def count_pairs(sentences_per_doc: Sequence[Sequence[str]]) -> int:
    """How many pairs `sample_pairs` makes from these docs."""
    return sum(max(0, len(sentences) - 1) for sentences in sentences_per_doc)


def sample_pairs(
    sentences_per_doc: Sequence[Sequence[str]],
    rng: numpy.random.Generator,
    *,
    next_share: float = 0.5,
) -> Tuple[List[str], List[str], List[int]]:
    """Draw NSP pairs.

    sentences_per_doc (Sequence[Sequence[str]]): Each doc's sentences, in order.
    rng (numpy.random.Generator): The only source of randomness.
    next_share (float): Share of pairs whose B is the true next sentence.
    RETURNS (Tuple[List[str], List[str], List[int]]): First segments, second segments, labels
        (IS_NEXT or IS_RANDOM), doc by doc in order.
    """
    if len(sentences_per_doc) < 2:
        raise ValueError(
            f"expected at least 2 docs to draw random second sentences from, got {len(sentences_per_doc)}"
        )
    if not all(sentences_per_doc):
        raise ValueError("expected every doc to have at least one sentence")
    firsts: List[str] = []
    seconds: List[str] = []
    labels: List[int] = []
    n_docs = len(sentences_per_doc)
    for doc_index, sentences in enumerate(sentences_per_doc):
        for i in range(len(sentences) - 1):
            firsts.append(sentences[i])
            if rng.random() < next_share:
                seconds.append(sentences[i + 1])
                labels.append(IS_NEXT)
                continue
            # Any doc but this one: draw from the n_docs - 1 others.
            other = int(rng.integers(n_docs - 1))
            other += other >= doc_index
            candidates = sentences_per_doc[other]
            seconds.append(candidates[int(rng.integers(len(candidates)))])
            labels.append(IS_RANDOM)
    return firsts, seconds, labels
