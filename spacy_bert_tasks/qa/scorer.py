"""SQuAD exact match and F1 for `spacy train` / `spacy evaluate`, over the QA docs of a corpus.

Only examples whose reference doc has a question are scored, so a corpus may mix QA docs with NER
or textcat docs; the others are counted. The predicted answer is read from the n-best group the QA
component writes: "" (no answer) if its `attrs["no_answer"]` is true, else the best span's text.
The gold answers are the raw ones in `reference._.gold_answers`, so answers whose characters align
to no token still count, as they do in the official script.
"""

from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence

from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import registry

from .extensions import ANSWERS_KEY, install_qa_extensions
from .metrics import Pair, squad_scores


def score_squad(
    examples: Iterable[Example], *, spans_key: str = ANSWERS_KEY, **kwargs: Any
) -> Dict[str, Any]:
    """Score the predicted answers of the QA examples with the official SQuAD metrics.

    examples (Iterable[Example]): The examples; those without a question are skipped.
    spans_key (str): The span group of the predicted answers, best first.
    kwargs: Other settings a component passes to its scorer; not used.
    RETURNS (Dict[str, Any]): On a 0-1 scale: "qa_exact", "qa_f1", "qa_has_ans_exact",
        "qa_has_ans_f1", "qa_no_ans_exact", "qa_no_ans_f1" (each None when there are no such
        questions); "qa_total" (questions scored) and "qa_docs_without_question" (skipped).
    RAISES (ValueError): A reference doc has a question but no gold answers (None).
    """
    install_qa_extensions()  # examples of a corpus with no QA doc may come before any QA code ran
    pairs: List[Pair] = []
    skipped = 0
    for eg in examples:
        if eg.reference._.question is None:
            skipped += 1
            continue
        pairs.append((predicted_answer(eg.predicted, spans_key), _gold_texts(eg.reference)))
    scores = squad_scores(pairs)
    result: Dict[str, Optional[float]] = {}
    for prefix, key in (("", "qa"), ("HasAns_", "qa_has_ans"), ("NoAns_", "qa_no_ans")):
        for metric in ("exact", "f1"):
            value = scores.get(f"{prefix}{metric}")
            result[f"{key}_{metric}"] = None if value is None else value / 100.0
    return {**result, "qa_total": len(pairs), "qa_docs_without_question": skipped}


def predicted_answer(doc: Doc, spans_key: str = ANSWERS_KEY) -> str:
    """The answer text a QA component predicted for a doc.

    The group's attrs["texts"] holds the answers exactly as the model predicted them, character
    for character (as the official evaluation expects); the spans are snapped to whole tokens,
    so they are the fallback only.
    doc (Doc): A doc the QA component has annotated.
    spans_key (str): The span group of the n-best answers, best first.
    RETURNS (str): "" if the group says "no answer", is empty or is missing; else the best answer.
    """
    group = doc.spans.get(spans_key)
    if group is None or group.attrs.get("no_answer") or len(group) == 0:
        return ""
    texts = group.attrs.get("texts")
    return texts[0] if texts else group[0].text


def _gold_texts(doc: Doc) -> Sequence[str]:
    gold_answers = doc._.gold_answers
    if gold_answers is None:
        raise ValueError(
            f"expected the gold answers in doc._.gold_answers of the QA doc with question id "
            f"{doc._.qa_id!r}, got None; set them (an empty list means no answer), e.g. convert the "
            f"data with `python -m spacy_bert_tasks convert squad`"
        )
    return [answer["text"] for answer in gold_answers]


@registry.scorers("spacy-bert-tasks.squad_scorer.v1")
def make_squad_scorer() -> Callable[..., Dict[str, Any]]:
    """RETURNS (Callable): `score_squad`."""
    return score_squad
