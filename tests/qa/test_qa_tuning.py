"""Tuning null_score_diff_threshold on a dev set (SQuAD 2.0), as a function and a command."""

import json

import pytest
import spacy
from spacy.tokens import DocBin
from spacy.training import Example
from util import QA_DATA, qa_examples, run_module, trained_qa_nlp

from spacy_bert_tasks.qa.tuning import tune_null_threshold

NO_ANSWER_DATA = [
    ("paul lives in berlin", "who works at google ?", None),
    ("the film was great", "where is the bank ?", None),
]


def squad2_examples(nlp):
    return qa_examples(nlp, QA_DATA + NO_ANSWER_DATA)


@pytest.fixture
def trained(tiny_bert):
    # Trained WITHOUT "no answer": the tuning alone must make it say so where it pays. A fresh
    # pipeline per test, since tuning changes it.
    return trained_qa_nlp(tiny_bert, squad2_examples, 30, learn_rate=0.003)


def test_tuning_sets_the_best_threshold(trained):
    nlp, examples = trained
    result = tune_null_threshold(nlp, examples)
    qa = nlp.get_pipe("qa")
    assert qa.cfg["allow_no_answer"] is True
    assert qa.cfg["null_score_diff_threshold"] == result["threshold"]
    assert result["questions"] == 6 and result["no_answer_questions"] == 2
    assert result["score"] >= result["score_before"]
    # The tuned setting reproduces the tuned score through the pipeline and the scorer.
    assert nlp.evaluate(examples)["qa_f1"] == pytest.approx(result["score"])


def test_tuning_needs_questions(trained):
    nlp, _ = trained
    doc = nlp.make_doc("no question here")
    with pytest.raises(ValueError, match="No example has a question"):
        tune_null_threshold(nlp, [Example(nlp.make_doc(doc.text), doc)])


def test_tune_command_saves_the_pipeline(trained, tmp_path):
    nlp, examples = trained
    nlp.to_disk(tmp_path / "model")
    DocBin(docs=[eg.reference for eg in examples], store_user_data=True).to_disk(
        tmp_path / "dev.spacy"
    )
    run_module(
        "spacy_bert_tasks",
        "tune-qa-threshold",
        "model",
        "dev.spacy",
        "--output",
        "tuned",
        "--json",
        "result.json",
        cwd=tmp_path,
    )
    result = json.loads((tmp_path / "result.json").read_text())
    tuned = spacy.load(tmp_path / "tuned")
    assert tuned.get_pipe("qa").cfg["null_score_diff_threshold"] == pytest.approx(
        result["threshold"]
    )
    assert tuned.get_pipe("qa").cfg["allow_no_answer"] is True
    assert spacy.load(tmp_path / "model").get_pipe("qa").cfg["allow_no_answer"] is False
