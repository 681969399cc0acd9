"""The local engine with worker processes (nlp.pipe(n_process=2)): the same rows as one
process, bad rows in their places, and a failing component costs its batch, not the run."""

import spacy

from spacy_bert_tasks.annotate import annotate_rows
from spacy_bert_tasks.annotate.local import WORKER_FAILURE

from .conftest import sample_rows
from .test_files import comparable


def test_two_processes_give_the_rows_of_one(pipeline_dir):
    rows = sample_rows() * 2
    one = list(annotate_rows(rows, pipeline_dir, batch_size=3))
    two = list(annotate_rows(rows, pipeline_dir, batch_size=3, n_process=2))
    assert comparable(two) == comparable(one)


def test_a_failing_batch_in_a_worker_is_reported_in_its_rows(pipeline_dir):
    nlp = spacy.load(pipeline_dir)
    textcat = nlp.get_pipe("textcat")
    original = textcat.predict

    def predict(docs):  # runs in the forked workers, which copy this patched pipeline
        if any("boom" in doc.text for doc in docs):
            raise RuntimeError("boom in textcat")
        return original(docs)

    textcat.predict = predict
    rows = [{"id": i, "text": "boom" if i == 5 else f"mary works in paris {i}"} for i in range(12)]
    rows.insert(3, {"id": "bad", "text": None})
    out = list(annotate_rows(rows, nlp, batch_size=2, n_process=2))
    assert [r["id"] for r in out] == [r["id"] for r in rows]
    failed = [r["id"] for r in out if r["error"] == WORKER_FAILURE]
    assert 5 in failed and len(failed) <= 2  # the batch of two holding "boom"
    assert next(r for r in out if r["id"] == "bad")["error"].startswith("missing text")
    assert sum(r["error"] is None for r in out) == len(rows) - 1 - len(failed)
    assert nlp.get_pipe("textcat").get_error_handler() is nlp.default_error_handler  # restored
