"""The results of a report run, by step, and the readings of them that the page and the plots share."""

from typing import Any, Dict, List, Optional

# Each step's JSON output (None: missing or failed), by step name.
Results = Dict[str, Optional[Dict[str, Any]]]


def get(data: Optional[Dict[str, Any]], *keys: str) -> Any:
    """data[k1][k2]..., or None where any level is missing."""
    for key in keys:
        if not isinstance(data, dict) or data.get(key) is None:
            return None
        data = data[key]
    return data


def accuracy_rows(r: Results) -> List[Dict[str, Any]]:
    """One row per (task, metric): this package single-task and joint, and HF; 0-100 scale."""
    metrics = [
        ("ner", "CoNLL-03 dev entity F1", "ents_f"),
        ("textcat", "SST-2 held-out accuracy", "cats_accuracy"),
        ("qa", "SQuAD dev articles EM", "qa_exact"),
        ("qa", "SQuAD dev articles F1", "qa_f1"),
    ]
    rows = []
    for task, label, key in metrics:

        def score(step: str) -> Optional[float]:
            value = (
                get(r.get(step), "scores", task, key)
                if step.startswith("spacy")
                else get(r.get(step), "scores", key)
            )
            return None if value is None else 100.0 * value

        rows.append(
            {
                "task": task,
                "label": label,
                "key": key,
                "single": score(f"spacy_{task}"),
                "joint": score("spacy_joint"),
                "hf": score(f"hf_{task}"),
            }
        )
    return rows
