"""The Doc extensions that carry a SQuAD question, its id and its raw gold answers.

A QA doc is one (question, context) pair: `doc.text` is the context and `doc._.question` is set.
A doc whose `_.question` is None is not a QA doc (an NER or textcat doc in a mixed corpus).

- `doc._.question` (Optional[str]): the question.
- `doc._.qa_id` (Optional[str]): the SQuAD question id, for official-style prediction files.
- `doc._.gold_answers` (Optional[List[Dict]]): every raw SQuAD answer, `{"text": str,
  "answer_start": int}`, for exact EM/F1. An EMPTY list means "no answer" (SQuAD 2.0).
  The same answers as token spans are in `doc.spans["answers"]`.

- `doc._.answer` (read-only): the best predicted answer as a Span, or None when the QA component
  predicted "no answer" or found none. The n-best list is `doc.spans["answers"]`.

The values live in `doc.user_data`, so a DocBin keeps them only with `store_user_data=True`; it
gives lists back as tuples.
"""

from typing import Optional

from spacy.tokens import Doc, Span

QA_EXTENSIONS = ("question", "qa_id", "gold_answers")
ANSWERS_KEY = "answers"


def best_answer(doc: Doc) -> Optional[Span]:
    """The best predicted answer of a doc, or None ("no answer", none found, or not asked)."""
    group = doc.spans.get(ANSWERS_KEY)
    if group is None or "null_score" not in group.attrs:
        # A QA component with another spans_key: its group is the one with a null score.
        group = next((g for g in doc.spans.values() if "null_score" in g.attrs), group)
    if group is None or len(group) == 0 or group.attrs.get("no_answer"):
        return None
    return group[0]


def install_qa_extensions() -> None:
    """Register the QA Doc extensions (default None) unless they are registered already.

    An existing registration is left as it is, so calling this any number of times, from any
    module, is safe.
    """
    for name in QA_EXTENSIONS:
        if not Doc.has_extension(name):
            Doc.set_extension(name, default=None)
    if not Doc.has_extension("answer"):
        Doc.set_extension("answer", getter=best_answer)
