"""Fuzzed rows: whatever a row holds, the local engine yields one output row for it, with an
error exactly when its text or question is unusable, and never raises."""

import math

import pytest
import spacy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spacy_bert_tasks.annotate import annotate_rows

VALUES = st.one_of(
    st.none(),
    st.text(max_size=40),
    st.integers(),
    st.floats(allow_nan=True),
    st.booleans(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
ROWS = st.lists(
    st.one_of(
        st.fixed_dictionaries({"text": VALUES}, optional={"question": VALUES, "id": VALUES}),
        st.fixed_dictionaries(
            {"text": st.text(max_size=60)}, optional={"question": st.text(max_size=20)}
        ),
        VALUES,  # not a dict at all
    ),
    max_size=12,
)


@pytest.fixture(scope="module")
def nlp(pipeline_dir):
    return spacy.load(pipeline_dir)


def _missing(value):
    return value is None or (isinstance(value, float) and math.isnan(value))


def expected_error(row):
    if not isinstance(row, dict):
        return "bad row"
    text, question = row.get("text"), row.get("question")
    if _missing(text):
        return "missing text"
    if not isinstance(text, str):
        return "bad text"
    if not _missing(question) and (not isinstance(question, str) or not question.strip()):
        return "bad question"
    return None


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=ROWS, batch_size=st.integers(1, 5))
def test_any_rows_give_one_output_row_each(nlp, rows, batch_size):
    out = list(annotate_rows(rows, nlp, batch_size=batch_size))
    assert len(out) == len(rows)
    for row, result in zip(rows, out):
        kind = expected_error(row)
        if kind is None:
            assert result["error"] is None, result["error"]
            assert isinstance(result["ents"], list) and isinstance(result["cats"], dict)
            for ent in result["ents"]:
                assert 0 <= ent["start_char"] < ent["end_char"] <= len(row["text"])
        else:
            assert result["error"].startswith(kind), (row, result["error"])
            assert result["ents"] is None
        if isinstance(row, dict) and row.get("id") is not None:
            assert result["id"] is row["id"]  # other columns kept as they were
