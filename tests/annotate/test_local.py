"""The local engine: one output row per input row, in order, bad rows as errors, same
predictions as nlp.pipe."""

import spacy

from spacy_bert_tasks.annotate import annotate_rows
from spacy_bert_tasks.annotate.columns import OUTPUT_COLUMNS

from .conftest import sample_rows, valid_rows


def test_one_row_per_input_row_in_order_with_columns_kept(pipeline_dir):
    rows = sample_rows()
    out = list(annotate_rows(rows, pipeline_dir, batch_size=3))
    assert [r["id"] for r in out] == [r["id"] for r in rows]
    assert [r["source"] for r in out] == [r["source"] for r in rows]
    for row in out:
        assert set(OUTPUT_COLUMNS) <= set(row)


def test_bad_rows_are_errors_not_crashes(pipeline_dir):
    out = {r["id"]: r for r in annotate_rows(sample_rows(), pipeline_dir)}
    assert out[3]["error"].startswith("missing text")
    assert (
        out[20]["error"].startswith("text too long")
        and "nlp.max_length 1,000,000" in out[20]["error"]
    )
    assert out[21]["error"].startswith("bad question")
    for i in (3, 20, 21):
        assert out[i]["ents"] is None and out[i]["cats"] is None
    # An empty text and a None question are fine.
    assert out[2]["error"] is None and out[2]["ents"] == []
    assert out[4]["error"] is None and out[4]["no_answer"] is None


def test_non_string_values_name_their_type(pipeline_dir):
    rows = [{"text": 5}, {"text": "ok", "question": ["a"]}, "not a row", {"text": "fine"}]
    out = list(annotate_rows(rows, pipeline_dir))
    assert out[0]["error"] == "bad text: expected a string in column 'text', got int"
    assert out[0]["text"] is None  # one type per column in Parquet; the error keeps the type
    assert out[1]["error"].startswith("bad question") and "got list" in out[1]["error"]
    assert out[2]["error"].startswith("bad row")
    assert out[3]["error"] is None


def test_same_predictions_as_nlp_pipe(pipeline_dir):
    rows = valid_rows()
    out = list(annotate_rows(rows, pipeline_dir, batch_size=4))
    nlp = spacy.load(pipeline_dir)
    docs = []
    for row in rows:
        doc = nlp.make_doc(row["text"])
        doc._.question = row.get("question")
        docs.append(doc)
    docs = list(nlp.pipe(docs))
    assert len(docs) == len(out)
    for doc, row in zip(docs, out):
        assert [(e["start_char"], e["end_char"], e["label"]) for e in row["ents"]] == [
            (e.start_char, e.end_char, e.label_) for e in doc.ents
        ]
        for ent, score in zip(row["ents"], doc.spans["ents"].attrs["scores"]):
            assert abs(ent["score"] - float(score)) < 1e-5
        assert row["cats"].keys() == doc.cats.keys()
        assert all(abs(row["cats"][k] - v) < 1e-5 for k, v in doc.cats.items())
        if doc._.question is None:
            assert row["no_answer"] is None and row["answer"] is None
        else:
            answer = doc._.answer
            assert row["no_answer"] is (answer is None)
            if answer is not None:
                assert row["answer"] == answer.text
                assert row["text"][row["answer_start"] : row["answer_end"]] == answer.text
                assert abs(row["answer_score"] - doc.spans["answers"].attrs["scores"][0]) < 1e-5


def test_a_loaded_pipeline_works_too_and_batch_size_does_not_change_results(pipeline_dir):
    nlp = spacy.load(pipeline_dir)
    rows = valid_rows()
    one = list(annotate_rows(rows, nlp, batch_size=1))
    many = list(annotate_rows(rows, nlp, batch_size=64))
    for a, b in zip(one, many):
        assert a["error"] == b["error"]
        if a["error"] is None:
            assert [e["label"] for e in a["ents"]] == [e["label"] for e in b["ents"]]
            assert a["answer"] == b["answer"]
            assert all(abs(a["cats"][k] - b["cats"][k]) < 1e-5 for k in a["cats"])


def test_a_component_failure_costs_one_row(pipeline_dir):
    nlp = spacy.load(pipeline_dir)
    ner = nlp.get_pipe("ner")
    original = ner.predict

    def predict(docs):
        if any("boom" in doc.text for doc in docs):
            raise RuntimeError("boom in NER")
        return original(docs)

    ner.predict = predict
    rows = [{"text": "john visited london"}, {"text": "boom"}, {"text": "mary works in paris"}]
    out = list(annotate_rows(rows, nlp))
    assert out[1]["error"] == "pipeline failed: RuntimeError: boom in NER"
    assert out[0]["error"] is None and out[2]["error"] is None
    assert out[0]["cats"] and out[2]["cats"]


def test_a_pipeline_without_qa_leaves_answer_columns_empty(tiny_bert, tmp_path):
    from util import initialized_nlp

    nlp = initialized_nlp(tiny_bert)
    out = list(annotate_rows([{"text": "john visited london", "question": "who ?"}], nlp))
    assert out[0]["error"] is None and out[0]["no_answer"] is None and out[0]["answer"] is None
