"""Windows sized in wordpieces (spacy-bert-tasks.wordpiece_windows.v1): every token encoded, each
window within the encoder's limit, and the encoder's output for a window is what the Hugging Face
model gives for that window's text."""

import warnings

import numpy
import pytest
import spacy
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from spacy.tokens import Doc
from spacy.vocab import Vocab
from transformers import AutoTokenizer, BertModel
from util import initialized_nlp

from spacy_bert_tasks.encoder.windows import WordpieceWindows, cut_by_wordpieces

MAX_WORDPIECES = 128  # the tiny BERT's limit
WORDPIECE_WINDOWS = {
    "@span_getters": "spacy-bert-tasks.wordpiece_windows.v1",
    "window": 128,
    "overlap": 16,
}


def long_text(n_words):
    # Known words are one wordpiece, unknown ones several (single letters): a mix of both.
    words = ["john", "visited", "london", "xqzt", "and", "paris", "blorfing", "the", "company"]
    return " ".join(words[(i * 7) % len(words)] for i in range(n_words))


@given(
    counts=st.lists(st.integers(min_value=0, max_value=12), min_size=1, max_size=300),
    budget=st.integers(min_value=4, max_value=60),
    overlap=st.integers(min_value=0, max_value=20),
)
@settings(max_examples=200, deadline=None)
def test_windows_cover_every_token_within_budget(counts, budget, overlap):
    doc = Doc(Vocab(), words=[f"w{i}" for i in range(len(counts))])
    windows = cut_by_wordpieces(doc, counts, budget, overlap)
    assert windows[0].start == 0 and windows[-1].end == len(doc)
    covered = set()
    for previous, window in zip(windows, windows[1:]):
        assert previous.start < window.start <= previous.end  # forward, no gap
        assert sum(counts[window.start : previous.end]) <= overlap
    for window in windows:
        covered.update(range(window.start, window.end))
        assert len(window) == 1 or sum(counts[window.start : window.end]) <= budget
    assert covered == set(range(len(doc)))


@pytest.fixture(scope="module")
def nlp(tiny_bert):
    return initialized_nlp(
        tiny_bert, transformer={"keep_trf_data": True, "model": {"get_spans": WORDPIECE_WINDOWS}}
    )


def test_every_token_of_a_long_doc_is_encoded_once_or_twice(nlp):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # nothing truncated
        doc = nlp(long_text(1500))
    lengths = doc._.trf_data.align.lengths
    assert len(lengths) == len(doc) and min(lengths) >= 1
    wordpieces = doc._.trf_data.wordpieces
    assert max(wordpieces.lengths) <= MAX_WORDPIECES
    # Full windows: barely more rows than the wordpieces need (strided 128-token windows of
    # these multi-piece words would need several times more).
    budget = MAX_WORDPIECES - 2
    needed = sum(wordpieces.lengths) / MAX_WORDPIECES
    assert len(wordpieces.lengths) <= int(needed * budget / (budget - 16)) + 2


def test_window_outputs_match_the_hf_model_on_the_window_text(nlp, tiny_bert):
    encoder = nlp.get_pipe("transformer")
    doc = nlp.make_doc(long_text(400))
    batch = encoder.model.predict([doc])
    windows = batch.spans[0]
    assert len(windows) > 2
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    reference = BertModel.from_pretrained(tiny_bert).eval()
    reference.load_state_dict(encoder.hf_encoder()[0].state_dict())
    hidden = batch.model_output.last_hidden_state
    for row, window in enumerate(windows):
        inputs = tokenizer(window.text, return_tensors="pt")
        with torch.no_grad():
            expected = reference(**inputs).last_hidden_state[0].numpy()
        got = numpy.asarray(hidden[row, : expected.shape[0]])
        assert numpy.allclose(got, expected, atol=1e-5), row


def test_a_doc_that_fits_is_one_window_and_predicts_as_strided_windows(nlp, tiny_bert):
    strided = initialized_nlp(tiny_bert)
    text = long_text(30)
    doc = nlp(text)
    assert len(doc._.trf_data.wordpieces.lengths) == 1
    reference = strided(text)
    assert [e.text for e in doc.ents] == [e.text for e in reference.ents]
    assert doc.cats == pytest.approx(reference.cats, abs=1e-6)


def test_without_the_tokenizer_it_falls_back_to_windows_that_fit():
    doc = Doc(Vocab(), words=["w"] * 1000)
    windows = WordpieceWindows(512, 32)([doc])[0]
    assert max(len(w) for w in windows) == 128
    assert windows[0].start == 0 and windows[-1].end == 1000


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="window > overlap"):
        WordpieceWindows(32, 32)


def test_a_saved_pipeline_can_switch_to_wordpiece_windows_at_load(tiny_bert, tmp_path):
    strided = initialized_nlp(tiny_bert)
    strided.to_disk(tmp_path / "pipeline")
    text = long_text(30)
    override = {"components": {"transformer": {"model": {"get_spans": WORDPIECE_WINDOWS}}}}
    loaded = spacy.load(tmp_path / "pipeline", config=override)
    assert isinstance(loaded.get_pipe("transformer").model.attrs["get_spans"], WordpieceWindows)
    assert loaded(text).cats == pytest.approx(strided(text).cats, abs=1e-6)  # one window: same
