"""What `annotate` adds to each row: the output columns, read off a processed Doc.

Every output row holds the input row's columns (id and anything else, unchanged) plus:

- `ents` (List[Dict]): {"start_char", "end_char", "label", "score"} per entity, in text order;
  `score` is the NER head's confidence (None for a NER component that gives none).
- `cats` (Dict[str, float]): the text categories and their scores ({} without a textcat head).
- `answer`, `answer_start`, `answer_end`, `answer_score`, `no_answer`: for rows with a question,
  the best answer (snapped to whole tokens: `text[answer_start:answer_end] == answer`) and its
  probability over the n-best; `no_answer` True (and the other four None) when the QA head
  predicts "no answer" (SQuAD 2.0). All five None for rows without a question.
- `error` (Optional[str]): why the row could not be processed, None when it was. A row with an
  error keeps its input columns and has None in every other output column.

An input column with one of these names is replaced by the output column.
"""

import math
from typing import Any, Dict, Optional

from spacy.tokens import Doc

from ..qa.extensions import best_answer

Row = Dict[str, Any]
ANSWER_COLUMNS = ("answer", "answer_start", "answer_end", "answer_score", "no_answer")
OUTPUT_COLUMNS = ("ents", "cats") + ANSWER_COLUMNS + ("error",)
# Where a NER head stores its entities with scores (bert_ner's default spans_key).
ENTS_KEY = "ents"


def doc_columns(doc: Doc, *, asked: bool) -> Row:
    """The output columns of a processed doc.

    doc (Doc): A doc that went through the pipeline.
    asked (bool): Whether the row had a question (then the answer columns are filled).
    RETURNS (Dict[str, Any]): The OUTPUT_COLUMNS, `error` None.
    """
    scores = _entity_scores(doc)
    ents = [
        {
            "start_char": ent.start_char,
            "end_char": ent.end_char,
            "label": ent.label_,
            "score": scores.get((ent.start, ent.end, ent.label_)),
        }
        for ent in doc.ents
    ]
    columns: Row = {"ents": ents, "cats": {label: float(v) for label, v in doc.cats.items()}}
    columns.update(_answer_columns(doc) if asked else dict.fromkeys(ANSWER_COLUMNS))
    columns["error"] = None
    return columns


def error_columns(message: str) -> Row:
    """The output columns of a row that could not be processed: `message` in `error`."""
    return {**dict.fromkeys(OUTPUT_COLUMNS), "error": message}


def error_kind(message: str) -> str:
    """The kind of an error message (the part before its first colon), for counting."""
    return message.split(":", 1)[0]


def is_missing(value: Any) -> bool:
    """None or a float NaN: how Arrow, pandas and CSV readers spell an empty cell."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _entity_scores(doc: Doc) -> Dict[tuple, Optional[float]]:
    group = doc.spans.get(ENTS_KEY)
    if group is None or "scores" not in group.attrs:
        return {}
    return {
        (span.start, span.end, span.label_): float(score)
        for span, score in zip(group, group.attrs["scores"])
    }


def _answer_columns(doc: Doc) -> Row:
    span = best_answer(doc)
    group = next((g for g in doc.spans.values() if "null_score" in g.attrs), None)
    if span is None:
        # No answer group at all means the QA head did not run on the doc.
        no_answer = None if group is None else True
        return {**dict.fromkeys(ANSWER_COLUMNS), "no_answer": no_answer}
    return {
        "answer": span.text,
        "answer_start": span.start_char,
        "answer_end": span.end_char,
        "answer_score": float(group.attrs["scores"][0]),
        "no_answer": False,
    }
