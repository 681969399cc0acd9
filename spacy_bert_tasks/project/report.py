"""A Markdown table of the scores that `spacy evaluate --output` writes.

The scores are spaCy's (0-1 scale, speed in words per second); the table shows percentages with
two decimals, one row per headline metric of each head in the pipeline, then one table per label
where the scores have them (entity types, text categories).
"""

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

# (task, metric, score key): the headline rows, in this order, for the keys the scores have.
HEADLINE: Sequence[Tuple[str, str, str]] = (
    ("NER", "entity precision", "ents_p"),
    ("NER", "entity recall", "ents_r"),
    ("NER", "entity F1", "ents_f"),
    ("text classification", "accuracy (top label)", "cats_accuracy"),
    ("text classification", "macro F1", "cats_macro_f"),
    ("QA", "exact match", "qa_exact"),
    ("QA", "F1", "qa_f1"),
)

# (score key, title of the first column): the per-label tables.
PER_LABEL: Sequence[Tuple[str, str]] = (
    ("ents_per_type", "entity type"),
    ("cats_f_per_type", "category"),
)


def metrics_table(scores: Mapping[str, Any]) -> str:
    """The scores as Markdown: a headline table, then a P/R/F table per labelled metric.

    scores (Mapping[str, Any]): What `spacy evaluate --output` or `nlp.evaluate` returns.
    RETURNS (str): Markdown text ending in a newline.
    RAISES (ValueError): The scores hold none of the known headline metrics.
    """
    rows = [
        (task, metric, _percent(scores[key])) for task, metric, key in HEADLINE if key in scores
    ]
    if not rows:
        known = ", ".join(key for _, _, key in HEADLINE)
        raise ValueError(
            f"expected scores of spacy evaluate with at least one of {known}, got the keys "
            f"{sorted(scores)}; give the JSON file that `spacy evaluate ... --output` wrote"
        )
    if scores.get("qa_total") is not None:
        rows.append(("QA", "questions scored", f"{scores['qa_total']:,}"))
    if scores.get("speed") is not None:
        rows.append(("all", "speed (words/s)", f"{scores['speed']:,.0f}"))
    parts = [_table(("task", "metric", "score"), rows, right=(2,))]
    for key, title in PER_LABEL:
        per_label = scores.get(key) or {}
        label_rows = [
            (label, _percent(prf.get("p")), _percent(prf.get("r")), _percent(prf.get("f")))
            for label, prf in sorted(per_label.items())
        ]
        if label_rows:
            parts.append(_table((title, "P", "R", "F"), label_rows, right=(1, 2, 3)))
    return "\n".join(parts)


def headline(scores: Mapping[str, Any]) -> Dict[str, Optional[float]]:
    """The headline metrics the scores have, in percent (None where spaCy reported none).

    scores (Mapping[str, Any]): What `spacy evaluate --output` or `nlp.evaluate` returns.
    RETURNS (Dict[str, Optional[float]]): Score key to percentage, in HEADLINE order.
    """
    return {
        key: None if scores[key] is None else round(100 * float(scores[key]), 2)
        for _, _, key in HEADLINE
        if key in scores
    }


def _percent(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{100 * float(value):.2f}"


def _table(header: Sequence[str], rows: List[Tuple[str, ...]], *, right: Sequence[int]) -> str:
    rule = ["---:" if i in right else "---" for i in range(len(header))]
    lines = [header, rule, *rows]
    return "".join("| " + " | ".join(line) + " |\n" for line in lines)
