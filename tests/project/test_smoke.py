"""The smoke test of a packaged pipeline: analysis, checks, displaCy page, isolated process."""

import sys

import pytest
from util import QA_SETTINGS, both_examples, qa_examples, trained_qa_nlp

from spacy_bert_tasks.project.smoke import (
    EXPECTED,
    SmokeTestError,
    analyse,
    check_results,
    render_page,
    run_isolated,
)

TEXT = "john visited london yesterday and mary works in paris with paul"
QUESTIONS = ["where does mary work ?", "who visited london ?"]


@pytest.fixture(scope="module")
def pipeline(tiny_bert, tmp_path_factory):
    nlp, _ = trained_qa_nlp(
        tiny_bert,
        lambda nlp: both_examples(nlp) + qa_examples(nlp),
        20,
        ("ner", "textcat"),
        **QA_SETTINGS,
    )
    path = tmp_path_factory.mktemp("smoke") / "model"
    nlp.to_disk(path)
    return nlp, path


def test_analyse_runs_every_head(pipeline):
    nlp, _ = pipeline
    results = analyse(nlp, TEXT, QUESTIONS)
    assert results["pipeline"] == ["transformer", "ner", "textcat", "qa"]
    assert set(results["cats"]) == {"NEG", "POS"}
    assert [answer["question"] for answer in results["answers"]] == QUESTIONS
    for item in results["entities"] + [a for a in results["answers"] if a["text"] is not None]:
        assert TEXT[item["start_char"] : item["end_char"]] == item["text"]
    assert check_results(results) == []


def test_page_shows_entities_answers_and_categories(pipeline):
    nlp, _ = pipeline
    results = analyse(nlp, TEXT, QUESTIONS)
    results["entities"] = [
        {"text": "london", "label": "LOC", "start_char": 13, "end_char": 19, "score": 0.9}
    ]
    results["answers"][0].update(text="paris", start_char=49, end_char=54, score=0.8)
    page = render_page(nlp, results)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "LOC" in page and "ANSWER" in page and "where does mary work ?" in page
    assert "A: <b>paris</b> (score 0.80)" in page
    assert "<td>POS</td>" in page


def _results(**changes):
    results = {
        "pipeline": ["transformer", "ner", "textcat", "qa"],
        "text": "Taylor Swift played in Paris with Emma from London.",
        "entities": [
            {
                "text": "Taylor Swift",
                "label": "person",
                "start_char": 0,
                "end_char": 12,
                "score": 0.9,
            },
            {"text": "Paris", "label": "location", "start_char": 23, "end_char": 28, "score": 0.9},
        ],
        "cats": {"POSITIVE": 0.9, "NEGATIVE": 0.1},
        "answers": [
            {"question": "Where?", "text": "Paris", "start_char": 23, "end_char": 28, "score": 0.7},
            {"question": "Who?", "text": "Emma", "start_char": 34, "end_char": 38, "score": 0.6},
        ],
    }
    return {**results, **changes}


def test_check_results():
    london = {"text": "London", "label": "location", "start_char": 44, "end_char": 50, "score": 0.8}
    assert check_results(_results(), expected=EXPECTED) == [
        "expected the entities London, got ['Taylor Swift', 'Paris']"
    ]
    complete = _results()
    complete["entities"].append(london)
    assert check_results(complete, expected=EXPECTED) == []
    # The second question is shown, not checked: a wrong answer there is no problem.
    complete["answers"][1].update(text="Taylor Swift", start_char=0, end_char=12)
    assert check_results(complete, expected=EXPECTED) == []
    assert check_results(_results(pipeline=["transformer", "ner"])) == [
        "expected the components ner, textcat and qa, got ['transformer', 'ner']"
    ]
    shifted = _results(
        entities=[{"text": "Paris", "label": "location", "start_char": 22, "end_char": 27}]
    )
    assert check_results(shifted) == ["'Paris' is not the text at 22:27"]
    wrong = _results(entities=[], cats={"POSITIVE": 0.2, "NEGATIVE": 0.8})
    wrong["answers"][0].update(text=None)
    problems = check_results(wrong, expected=EXPECTED)
    assert problems[0] == "expected the entities London, Taylor Swift, Paris, got []"
    assert problems[1].startswith("expected the category POSITIVE, got NEGATIVE")
    assert problems[2] == "expected an answer with 'Paris' to 'Where?', got None"
    # Without expectations, a weak model passes on structure alone.
    assert check_results(wrong) == []


@pytest.mark.slow
def test_run_isolated_loads_in_a_fresh_process(pipeline):
    _, path = pipeline
    results = run_isolated(str(path), python=sys.executable, text=TEXT, questions=QUESTIONS)
    assert results["python"] == sys.executable
    assert results["network_blocked"] == {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    assert results["pipeline"] == ["transformer", "ner", "textcat", "qa"]
    assert "<h2>Entities (ner)</h2>" in results["html"]
    assert check_results(results) == []


def test_run_isolated_reports_the_childs_error(tmp_path):
    with pytest.raises(SmokeTestError, match="failed .* to load and run"):
        run_isolated(str(tmp_path / "missing_package_dir"), python=sys.executable)
