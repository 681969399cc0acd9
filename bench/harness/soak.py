"""Pieces shared by the long-input and memory soak scripts: the pipeline under test, and texts.

The pipeline has all three heads on the embedded encoder, with random output layers (see
checks.randomize_heads): untrained heads start at zero and predict no entity at all, which would
leave the entity and answer code (and any memory it keeps) out of the measurement.
"""

import random
from typing import List, Sequence, Tuple

from . import common
from .checks import PROSE_WORDS, randomize_heads


def three_head_pipeline(*, release_heap: str = "trim"):
    """transformer + ner + textcat + qa, initialized, heads random (see the module docstring).

    release_heap (str): The encoder's release_heap mode.
    RETURNS (Tuple[Language, Tuple[str, ...], Tuple[str, ...]]): The pipeline, its entity
        labels and its cat labels.
    """
    nlp = common.build_spacy_pipeline(["ner", "textcat", "qa"], release_heap=release_heap)
    randomize_heads(nlp, seed=0)
    return nlp, nlp.get_pipe("ner").labels, nlp.get_pipe("textcat").labels


def short_texts(n_texts: int, *, seed: int) -> List[Tuple[str, str]]:
    """`n_texts` (text, question) pairs of 5 to 40 words of prose, for streams of many docs."""
    words = PROSE_WORDS
    rng = random.Random(seed)
    pairs = []
    for _ in range(n_texts):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(5, 40)))
        question = "who " + " ".join(rng.choice(words) for _ in range(rng.randint(2, 5))) + " ?"
        pairs.append((text + " .", question))
    return pairs


def trend_percent(samples: Sequence[Tuple[int, float]], per_docs: int = 10_000) -> float:
    """RSS's least-squares slope over `samples` ((docs done, RSS MB), at least two), in percent of
    the first sample's RSS per `per_docs` docs.

    A leak shows as a slope however the samples scatter; a single low sample (a trim just
    before it, or a warm-up sample taken before the heap settled) moves the end-to-end growth
    by its whole gap but the slope only by its share of the fit.
    """
    if len(samples) < 2:
        raise ValueError(f"a trend needs two samples or more, got {len(samples)}")
    docs = [float(done) for done, _ in samples]
    rss = [float(mb) for _, mb in samples]
    mean_docs, mean_rss = sum(docs) / len(docs), sum(rss) / len(rss)
    spread = sum((d - mean_docs) ** 2 for d in docs)
    if spread == 0:
        raise ValueError("a trend needs samples at two doc counts or more")
    # By hand: statistics.linear_regression needs Python 3.10, setup.cfg allows 3.9.
    slope = sum((d - mean_docs) * (r - mean_rss) for d, r in zip(docs, rss)) / spread
    return 100 * slope * per_docs / rss[0]
