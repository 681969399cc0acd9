"""score_squad: predictions read from the n-best span group, QA docs only, spaCy's 0-1 scale."""

import pytest
import spacy
from spacy.tokens import SpanGroup
from spacy.training import Example
from spacy.util import registry

from spacy_bert_tasks.qa.scorer import predicted_answer, score_squad

CONTEXT = "Denver Broncos beat the Carolina Panthers in Santa Clara"
nlp = spacy.blank("en")


def qa_example(golds, spans=(), *, no_answer=False, set_group=True, question="Who won?"):
    """An example whose predicted n-best answers are the token spans `spans`, best first."""
    reference = nlp.make_doc(CONTEXT)
    reference._.question = question
    reference._.qa_id = "q"
    reference._.gold_answers = [
        {"text": text, "answer_start": CONTEXT.index(text)} for text in golds
    ]
    predicted = nlp.make_doc(CONTEXT)
    predicted._.question = question
    if set_group:
        group = [predicted[start:end] for start, end in spans]
        attrs = {"scores": [1.0 - i / 10 for i in range(len(group))], "no_answer": no_answer}
        predicted.spans["answers"] = SpanGroup(predicted, name="answers", spans=group, attrs=attrs)
    return Example(predicted, reference)


def ner_example():
    doc = nlp.make_doc("Mary works in Paris")
    return Example(nlp.make_doc(doc.text), doc)


def test_predicted_answer_reads_the_best_span_or_no_answer():
    assert predicted_answer(qa_example([], [(0, 2), (1, 2)]).predicted) == "Denver Broncos"
    assert predicted_answer(qa_example([], [(0, 2)], no_answer=True).predicted) == ""
    assert predicted_answer(qa_example([], []).predicted) == ""
    assert predicted_answer(qa_example([], set_group=False).predicted) == ""


def test_scores_qa_docs_and_counts_the_others():
    examples = [
        qa_example(["Denver Broncos"], [(0, 2), (1, 2)]),  # EM 1
        qa_example(["Denver Broncos", "Broncos"], [(0, 3)]),  # "Denver Broncos beat": EM 0, F1 0.8
        qa_example([], [(4, 6)], no_answer=True),  # right: no answer
        qa_example([], [(4, 6)]),  # wrong: predicts "Carolina Panthers"
        qa_example(["Santa Clara"], set_group=False),  # nothing predicted: EM 0, F1 0
        ner_example(),
    ]
    scores = score_squad(examples)
    assert scores == pytest.approx(
        {
            "qa_exact": 2 / 5,
            "qa_f1": 2.8 / 5,
            "qa_has_ans_exact": 1 / 3,
            "qa_has_ans_f1": 1.8 / 3,
            "qa_no_ans_exact": 0.5,
            "qa_no_ans_f1": 0.5,
            "qa_total": 5,
            "qa_docs_without_question": 1,
        }
    )


def test_groups_without_questions_are_none():
    scores = score_squad([qa_example(["Broncos"], [(1, 2)])])
    assert scores["qa_exact"] == 1.0 and scores["qa_has_ans_f1"] == 1.0
    assert scores["qa_no_ans_exact"] is None and scores["qa_no_ans_f1"] is None
    scores = score_squad([ner_example(), ner_example()])
    assert scores["qa_total"] == 0 and scores["qa_docs_without_question"] == 2
    assert all(
        scores[key] is None for key in scores if key not in ("qa_total", "qa_docs_without_question")
    )


def test_other_span_key_and_unused_settings():
    eg = qa_example(["Broncos"])
    eg.predicted.spans["nbest"] = [eg.predicted[1:2]]
    assert score_squad([eg], spans_key="nbest", threshold=0.5)["qa_exact"] == 1.0


def test_question_without_gold_answers_is_an_error():
    eg = qa_example(["Broncos"], [(1, 2)])
    eg.reference._.gold_answers = None
    with pytest.raises(ValueError, match="got None"):
        score_squad([eg])


def test_registered_scorer():
    assert registry.scorers.get("spacy-bert-tasks.squad_scorer.v1")() is score_squad
