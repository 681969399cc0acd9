"""Text-classification scores over the docs that HAVE gold categories.

spaCy's Scorer.score_cats counts a doc with no gold cats as all-negative, so in a multi-task corpus
every NER-only doc would turn a predicted label into a false positive. Those docs are skipped here
and counted instead. Accuracy (exact match of the top label) is added for exclusive classes.
"""

from typing import Any, Dict, Iterable, List, Optional

from spacy.scorer import Scorer
from spacy.training import Example
from spacy.util import registry


def score_known_cats(
    examples: Iterable[Example],
    *,
    labels: Iterable[str],
    multi_label: bool,
    threshold: Optional[float] = None,
    positive_label: Optional[str] = None,
    **kwargs,
) -> Dict[str, Any]:
    """Scorer.score_cats on the examples whose reference doc has cats, plus cats_accuracy.

    RETURNS (Dict[str, Any]): Scorer.score_cats' keys, "cats_accuracy" (exclusive only) and
        "cats_docs_without_gold" (how many examples were skipped).
    """
    examples = list(examples)
    labels = list(labels)
    known = [eg for eg in examples if eg.reference.cats]
    scores = Scorer.score_cats(
        known,
        "cats",
        labels=labels,
        multi_label=multi_label,
        threshold=threshold if threshold is not None else 0.5,
        positive_label=positive_label,
    )
    if not multi_label:
        scores["cats_accuracy"] = _accuracy(known, labels)
    scores["cats_docs_without_gold"] = len(examples) - len(known)
    return scores


def _accuracy(examples: List[Example], labels: List[str]) -> Optional[float]:
    hits = 0
    counted = 0
    for eg in examples:
        gold = {label: value for label, value in eg.reference.cats.items() if label in labels}
        pred = {label: value for label, value in eg.predicted.cats.items() if label in labels}
        if not gold or not pred:
            continue
        counted += 1
        hits += max(gold, key=gold.get) == max(pred, key=pred.get)
    return hits / counted if counted else None


@registry.scorers("spacy-bert-tasks.textcat_scorer.v1")
def make_bert_textcat_scorer():
    return score_known_cats
