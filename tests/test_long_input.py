"""Long input on the tiny BERT: nothing cut silently, memory bounded by encoding in chunks.

bench/long_input.py runs the same checks on a 1,000,000-character doc and a 100,000-word QA
context with the real encoder, and reports time and peak memory.
"""

import numpy
import pytest
from conftest import TINY_WORDS
from hardening import doc_problems, encoder_coverage, prose, qa_coverage, three_head_nlp
from util import QA_SETTINGS

from spacy_bert_tasks.encoder import chunks as encoder_chunks
from spacy_bert_tasks.encoder import model as encoder_model
from spacy_bert_tasks.encoder.serialization import SafeHFShim

# The tiny BERT knows few words: prose is mostly one wordpiece per letter, so 100,000 characters
# are some 800 windows, many of them cut further to fit 128 wordpieces.
LONG_CHARS = 100_000


@pytest.fixture(scope="module")
def nlp(tiny_bert):
    return three_head_nlp(tiny_bert)


def test_a_long_doc_is_seen_whole(nlp):
    text = prose(LONG_CHARS, seed=0)
    doc = nlp.make_doc(text)
    coverage = encoder_coverage(nlp, doc)
    # Every token in a window, every visible token with wordpieces, no window over the limit.
    assert coverage["uncovered"] == coverage["unencoded"] == 0, coverage
    assert coverage["max_window"] <= coverage["limit"]
    doc = nlp(doc)
    assert doc_problems(doc, text) == []
    # The heads read to the end: entities (random heads find many) in the last 1% of the text.
    assert doc.ents[-1].end_char > 0.99 * len(text)


def test_a_long_doc_is_encoded_in_chunks_with_the_same_output(nlp, monkeypatch):
    text = prose(20_000, seed=1)
    calls = []

    def counting_predict(shim, inputs):
        calls.append(inputs.kwargs["input_ids"].shape)
        return original(shim, inputs)

    original = SafeHFShim.predict
    monkeypatch.setattr(SafeHFShim, "predict", counting_predict)
    encoder = nlp.get_pipe("transformer")
    chunked = encoder.predict([nlp.make_doc(text)])
    assert (
        len(calls) > 1 and max(n * width for n, width in calls) <= encoder_model.WORDPIECES_PER_CALL
    ), calls
    # One call for all windows, padded to the longest: the batch as spaCy-transformers runs it.
    monkeypatch.setattr(encoder_model, "WORDPIECES_PER_CALL", 10**9)
    monkeypatch.setattr(encoder_chunks, "CALL_COST_WORDPIECES", 10**9)
    calls.clear()
    whole = encoder.predict([nlp.make_doc(text)])
    assert len(calls) == 1
    lengths = numpy.asarray(whole.wordpieces.lengths)
    real = numpy.arange(whole.wordpieces.input_ids.shape[1])[None, :] < lengths[:, None]
    chunked_states = chunked.model_output.last_hidden_state.numpy()
    whole_states = whole.model_output.last_hidden_state.numpy()
    assert chunked_states.shape == whole_states.shape
    numpy.testing.assert_allclose(chunked_states[real], whole_states[real], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("n_words", [2_000, 8_000])
def test_a_long_qa_context_is_windowed_whole(nlp, n_words):
    # One wordpiece per word: 8,000 words are some 600 windows of 32 wordpieces.
    context = " ".join(TINY_WORDS[i % len(TINY_WORDS)] for i in range(n_words))
    doc = nlp.make_doc(context)
    doc._.question = "who visited london ?"
    coverage = qa_coverage(nlp, doc)
    assert coverage["uncovered"] == 0 and coverage["chars"] > 0, coverage
    assert coverage["max_window"] <= QA_SETTINGS["max_seq_length"]
    assert coverage["windows"] > n_words / QA_SETTINGS["max_seq_length"]
    (groups,) = nlp.get_pipe("qa").ask([doc], [["who visited london ?", "where ?"]])
    assert all(len(group) > 0 for group in groups)
    doc = nlp(doc)
    assert doc_problems(doc, context) == []
