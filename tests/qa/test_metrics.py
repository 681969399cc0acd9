"""The official SQuAD metrics, checked against hand-computed values of the official scripts."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spacy_bert_tasks.qa.metrics import exact_match, f1, normalize_answer, squad_scores


@pytest.mark.parametrize(
    "text, normalized",
    [
        ("the Denver Broncos", "denver broncos"),
        ("The  Quick, brown-fox!", "quick brownfox"),  # punctuation goes before articles: "-" joins
        ("An apple a day", "apple day"),
        ("banana Anna theatre", "banana anna theatre"),  # articles only as whole words
        ("  Levi's\tStadium \n", "levis stadium"),
        ("24\u201310", "24\u201310"),  # the en dash is not ASCII punctuation
        ("The.", ""),
        ("", ""),
    ],
)
def test_normalize_answer(text, normalized):
    assert normalize_answer(text) == normalized


@pytest.mark.parametrize(
    "prediction, golds, em, f_score",
    [
        ("the Denver Broncos", ["Denver Broncos"], 1.0, 1.0),
        ("Denver Broncos defeated", ["Denver Broncos"], 0.0, 0.8),  # P 2/3, R 1
        ("Broncos", ["Denver Broncos"], 0.0, 2 / 3),  # P 1, R 1/2
        ("Carolina Panthers", ["Denver Broncos"], 0.0, 0.0),
        ("Broncos", ["Denver Broncos", "Broncos", "Denver"], 1.0, 1.0),  # the best gold counts
        ("Santa Clara, California", ["Levi's Stadium", "Santa Clara"], 0.0, 0.8),
        (
            "cat cat",
            ["the cat"],
            0.0,
            2 / 3,
        ),  # overlap counts each token at most as often as in both: P 1/2, R 1
        ("Denver", [], 0.0, 0.0),  # SQuAD 2.0: no answer
        ("", [], 1.0, 1.0),
        ("the", [], 1.0, 1.0),  # normalizes to "", as the official v2.0 script counts it
        ("", ["Denver Broncos"], 0.0, 0.0),
        ("", ["."], 1.0, 1.0),  # a gold that normalizes to nothing is no possible answer
        ("", [".", "Broncos"], 0.0, 0.0),
    ],
)
def test_exact_match_and_f1(prediction, golds, em, f_score):
    assert exact_match(prediction, golds) == em
    assert f1(prediction, golds) == pytest.approx(f_score)


def test_squad_scores_official_shape():
    pairs = [
        ("Denver Broncos", ["Denver Broncos"]),  # EM 1, F1 1
        ("Denver Broncos defeated", ("Denver Broncos",)),  # EM 0, F1 0.8
        ("", []),  # no answer, right
        ("Carolina", []),  # no answer, wrong
    ]
    scores = squad_scores(iter(pairs))
    expected = {
        "exact": 50.0,
        "f1": 70.0,
        "total": 4,
        "HasAns_exact": 50.0,
        "HasAns_f1": 90.0,
        "HasAns_total": 2,
        "NoAns_exact": 50.0,
        "NoAns_f1": 50.0,
        "NoAns_total": 2,
    }
    assert scores == pytest.approx(expected)
    assert list(scores) == list(expected)


def test_squad_scores_omit_empty_groups():
    assert squad_scores([("x y", ["x y z"])]) == pytest.approx(
        {
            "exact": 0.0,
            "f1": 80.0,
            "total": 1,
            "HasAns_exact": 0.0,
            "HasAns_f1": 80.0,
            "HasAns_total": 1,
        }
    )
    assert set(squad_scores([("", [])])) == {
        "exact",
        "f1",
        "total",
        "NoAns_exact",
        "NoAns_f1",
        "NoAns_total",
    }
    assert squad_scores([]) == {"total": 0}


@given(st.text(max_size=30), st.lists(st.text(max_size=30), max_size=3))
def test_scores_are_bounded_and_exact_implies_full_f1(prediction, golds):
    em, f_score = exact_match(prediction, golds), f1(prediction, golds)
    assert 0.0 <= em <= f_score <= 1.0
    assert em == 0.0 or f_score == 1.0
    assert exact_match(prediction, golds + [prediction]) == 1.0 or not normalize_answer(prediction)
