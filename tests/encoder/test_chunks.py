"""Prediction in chunks of windows of similar length (encoder/chunks.py)."""

import random

import numpy
import pytest
from conftest import TINY_WORDS
from util import assert_same_outputs, both_examples, trained_nlp

from spacy_bert_tasks.encoder import chunks
from spacy_bert_tasks.encoder.serialization import SafeHFShim


def padded(lengths, plan):
    return sum(len(rows) * max(lengths[i] for i in rows) for rows in plan)


def test_plan_covers_every_window_once_longest_chunk_first():
    rng = random.Random(0)
    for _ in range(50):
        lengths = [rng.randint(1, 120) for _ in range(rng.randint(1, 60))]
        plan = chunks.plan_chunks(lengths, 1024, 32)
        assert sorted(i for rows in plan for i in rows) == list(range(len(lengths)))
        widths = [[lengths[i] for i in rows] for rows in plan]
        assert all(w == sorted(w) for w in widths)
        assert all(a[0] >= b[-1] for a, b in zip(widths, widths[1:]))
        assert all(len(w) == 1 or len(w) * w[-1] <= 1024 for w in widths)
        # Never more padded wordpieces plus calls than one call per 1024-wordpiece slice.
        single = chunks.plan_chunks(lengths, 1024, 10**9)
        assert padded(lengths, plan) + 32 * len(plan) <= padded(lengths, single) + 32 * len(single)


def test_plan_splits_only_where_padding_outweighs_a_call():
    lengths = [10] * 8 + [100] * 2
    assert [len(rows) for rows in chunks.plan_chunks(lengths, 10**6, 32)] == [2, 8]
    # A call costing more than the 720 padded wordpieces saved: one chunk.
    assert [len(rows) for rows in chunks.plan_chunks(lengths, 10**6, 1000)] == [10]
    # Same lengths: as many windows per call as the budget allows.
    assert [len(rows) for rows in chunks.plan_chunks([50] * 10, 200, 32)] == [4, 4, 2]
    # A window longer than the budget runs alone.
    assert chunks.plan_chunks([500, 10], 100, 32) == [[0], [1]]
    assert chunks.plan_chunks([], 100, 32) == []


@pytest.fixture(scope="module")
def trained(tiny_bert):
    return trained_nlp(tiny_bert, ("ner", "textcat"), both_examples, 10)[0]


def texts_of_many_lengths(n=40, seed=3):
    rng = random.Random(seed)
    return [" ".join(rng.choices(TINY_WORDS, k=rng.choice([2, 5, 30, 90]))) for _ in range(n)]


def test_batch_of_mixed_lengths_runs_in_chunks_with_the_same_predictions(trained, monkeypatch):
    texts = texts_of_many_lengths()
    shapes = []

    def recording_predict(shim, inputs):
        shapes.append(tuple(inputs.kwargs["input_ids"].shape))
        return original(shim, inputs)

    original = SafeHFShim.predict
    monkeypatch.setattr(SafeHFShim, "predict", recording_predict)
    docs = list(trained.pipe(texts, batch_size=64))
    widths = {width for _, width in shapes}
    assert len(shapes) > 1 and len(widths) > 1, shapes  # chunks padded to their own widths
    monkeypatch.setattr(chunks, "CALL_COST_WORDPIECES", 10**9)
    shapes.clear()
    whole = list(trained.pipe(texts, batch_size=64))
    assert len({width for _, width in shapes}) < len(widths)
    assert_same_outputs(docs, whole)
    for doc, text in zip(docs, texts):  # and each doc alone, padded to nothing
        assert_same_outputs([doc], [trained(text)])


def test_states_at_real_positions_do_not_depend_on_the_chunks(trained, monkeypatch):
    encoder = trained.get_pipe("transformer")
    docs = [trained.make_doc(text) for text in texts_of_many_lengths(24, seed=5)]
    chunked = encoder.predict(docs)
    monkeypatch.setattr(chunks, "CALL_COST_WORDPIECES", 10**9)
    whole = encoder.predict(docs)
    lengths = numpy.asarray(whole.wordpieces.lengths)
    real = numpy.arange(whole.wordpieces.input_ids.shape[1])[None, :] < lengths[:, None]
    a = chunked.model_output.last_hidden_state.numpy()
    b = whole.model_output.last_hidden_state.numpy()
    numpy.testing.assert_allclose(a[real], b[real], rtol=1e-4, atol=1e-5)
