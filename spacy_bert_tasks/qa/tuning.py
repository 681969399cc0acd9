"""Tune a QA component's `null_score_diff_threshold` on a dev set (SQuAD 2.0 "no answer").

For each dev question the model's best non-null answer and its null score are computed once;
`postprocess.best_threshold` then finds the threshold that maximises mean F1 (or EM), exactly as
the official SQuAD 2.0 evaluation's best-threshold search does.
"""

from typing import Dict, Iterable, List

from spacy.language import Language
from spacy.training import Example

from .component import SpanQuestionAnswerer
from .metrics import exact_match, f1
from .postprocess import best_threshold


def qa_component_name(nlp: Language) -> str:
    """The name of the pipeline's (single) QA component."""
    names = [name for name, proc in nlp.pipeline if isinstance(proc, SpanQuestionAnswerer)]
    if len(names) != 1:
        raise ValueError(
            f"Expected one bert_qa component in the pipeline, found {names or 'none'}."
        )
    return names[0]


def tune_null_threshold(nlp: Language, examples: Iterable[Example], *, metric: str = "f1") -> Dict:
    """Find and set the QA component's best null_score_diff_threshold on `examples`.

    Also turns `allow_no_answer` on: the threshold is meaningless without it.
    nlp (Language): A pipeline with a trained bert_qa component.
    examples (Iterable[Example]): Dev examples; those whose reference has no question are ignored.
    metric (str): "f1" or "exact", the score to maximise.
    RETURNS (Dict): "threshold", "score" (tuned, 0-1), "score_before" (the current setting),
        "questions" and "no_answer_questions".
    """
    if metric not in ("f1", "exact"):
        raise ValueError(f"metric must be 'f1' or 'exact', got {metric!r}.")
    name = qa_component_name(nlp)
    qa = nlp.get_pipe(name)
    asked = [eg for eg in examples if eg.reference._.question is not None]
    if not asked:
        raise ValueError("No example has a question (doc._.question): nothing to tune on.")
    docs = [nlp.make_doc(eg.reference.text) for eg in asked]
    for doc, eg in zip(docs, asked):
        doc._.question = eg.reference._.question
    score_of = f1 if metric == "f1" else exact_match
    diffs: List[float] = []
    has_answer: List[bool] = []
    gains: List[float] = []
    for eg, (candidates, null) in zip(asked, qa.predict(docs)):
        golds = [answer["text"] for answer in eg.reference._.gold_answers or []]
        best = candidates[0] if candidates else None
        diffs.append(null - best.score if best else float("inf"))
        has_answer.append(bool(golds))
        text = eg.reference.text[best.start_char : best.end_char] if best else ""
        gains.append(score_of(text, golds) if golds else 0.0)
    current = qa.cfg["null_score_diff_threshold"] if qa.cfg["allow_no_answer"] else float("inf")
    before = _score_at(current, diffs, has_answer, gains)
    threshold, score = best_threshold(diffs, has_answer, gains)
    qa.cfg["allow_no_answer"] = True
    qa.cfg["null_score_diff_threshold"] = float(threshold)
    return {
        "component": name,
        "threshold": float(threshold),
        "score": score,
        "score_before": before,
        "metric": metric,
        "questions": len(asked),
        "no_answer_questions": sum(not has for has in has_answer),
    }


def _score_at(threshold: float, diffs, has_answer, gains) -> float:
    """Mean score when answering the questions with diff <= threshold."""
    total = 0.0
    for diff, has, gain in zip(diffs, has_answer, gains):
        answered = diff <= threshold
        total += (gain if has else 0.0) if answered else (0.0 if has else 1.0)
    return total / len(diffs)
