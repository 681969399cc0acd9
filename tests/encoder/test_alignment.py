"""The encoder's faster prediction path gives what spacy-transformers' functions give.

`align_windows` replaces `get_alignment_via_offset_mapping`, `span_texts` replaces `span.text`,
`tokenize_texts` replaces `huggingface_tokenize`, and the stock truncation is skipped when no
window exceeds the limit. Each must leave every
prediction unchanged: compared here table for table, and end to end (entities, cats, encoder
output) against a pipeline running the stock functions.
"""

import numpy
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from spacy.lang.en import English
from spacy_transformers.align import get_alignment_via_offset_mapping
from spacy_transformers.data_classes import WordpieceBatch
from spacy_transformers.layers.transformer_model import huggingface_tokenize
from spacy_transformers.span_getters import get_strided_spans
from spacy_transformers.truncate import truncate_oversize_splits
from transformers import AutoTokenizer
from util import initialized_nlp

import spacy_bert_tasks.encoder.model as encoder_model
from spacy_bert_tasks.encoder.alignment import align_windows
from spacy_bert_tasks.encoder.model import tokenize_texts
from spacy_bert_tasks.encoder.windows import WordpieceWindows, span_texts, text_length

# Contractions, punctuation, runs of spaces (whitespace tokens), newlines, characters the tiny
# vocabulary lacks ([UNK] over a whole word), accents, a URL: the cases where tokens and
# wordpieces do not line up one to one.
TEXTS = [
    "John visited London yesterday .",
    "I can't  believe it's   not\nbutter!! http://x.y/z?a=1 naïve café 😀 e-mail U.S.A. 3.14",
    "  leading spaces",
    "trailing  ",
    "a",
    "don't won't y'all 10km 1,000.5",
    "\t\ttabs\tand\nnewlines\n\n",
    "Ünïcödé straße ﬁ ligature " + "x" * 60 + " yy",
]
PIECES = ["the", "cat", "don't", "naïve", "😀", "e-mail", "U.S.", "10km", "(hi)", "", "\n"]


@pytest.fixture(scope="module")
def tokenizer(tiny_bert):
    return AutoTokenizer.from_pretrained(tiny_bert)


@pytest.fixture(scope="module")
def english():
    return English()


def same_alignment(spans, tokenizer):
    encoding = huggingface_tokenize(tokenizer, [span.text for span in spans])
    expected = get_alignment_via_offset_mapping(spans, encoding["offset_mapping"])
    got = align_windows(spans, encoding["offset_mapping"])
    assert got.data.dtype == expected.data.dtype and got.lengths.dtype == expected.lengths.dtype
    assert got.lengths.tolist() == expected.lengths.tolist()
    assert got.data.tolist() == expected.data.tolist()


@pytest.mark.parametrize("window,stride", [(128, 96), (5, 3), (3, 3), (1, 1), (7, 4)])
def test_alignment_matches_spacy_transformers(english, tokenizer, window, stride):
    docs = [english.make_doc(text) for text in TEXTS]
    spans = [span for doc_spans in get_strided_spans(docs, window, stride) for span in doc_spans]
    same_alignment(spans, tokenizer)


def test_alignment_of_wordpiece_windows_matches(english, tokenizer):
    docs = [english.make_doc(" ".join(TEXTS * 6)), english.make_doc(TEXTS[1])]
    spans = [
        span for doc_spans in WordpieceWindows(40, 8).windows(docs, tokenizer) for span in doc_spans
    ]
    assert len(spans) > 4
    same_alignment(spans, tokenizer)


@given(
    words=st.lists(
        st.tuples(st.sampled_from(PIECES), st.sampled_from(["", " ", "  ", "\n"])), max_size=40
    ),
    window=st.integers(min_value=1, max_value=12),
)
@settings(max_examples=60, deadline=None)
def test_alignment_matches_on_random_texts(english, tokenizer, words, window):
    doc = english.make_doc("".join(word + space for word, space in words))
    spans = [span for doc_spans in get_strided_spans([doc], window, window) for span in doc_spans]
    assume(spans)  # an empty doc has no window (the tokenizer refuses an empty batch)
    same_alignment(spans, tokenizer)
    assert span_texts(spans) == [span.text for span in spans]
    assert text_length(doc) == len(doc.text)


@pytest.mark.parametrize("texts", [TEXTS[:1], TEXTS[1:2], TEXTS, [TEXTS[3], "", TEXTS[0]]])
def test_tokenization_matches_spacy_transformers(tokenizer, texts):
    expected = huggingface_tokenize(tokenizer, texts)
    got = tokenize_texts(tokenizer, texts)
    assert sorted(got.keys()) == sorted(expected.keys())
    for key in ("input_ids", "attention_mask", "token_type_ids", "offset_mapping"):
        assert got[key].dtype == expected[key].dtype, key
        assert got[key].tolist() == expected[key].tolist(), key
    assert got["input_texts"] == expected["input_texts"]
    assert got["pad_token"] == expected["pad_token"]


def test_the_stock_truncation_drops_nothing_at_the_limit(english, tokenizer):
    # Windows exactly at the limit went through truncate_oversize_splits, which copied them
    # unchanged (except `lengths`, which it then counted with the padding): now skipped.
    docs = [english.make_doc(text) for text in TEXTS]
    spans = [span for doc_spans in get_strided_spans(docs, 128, 96) for span in doc_spans]
    encoding = huggingface_tokenize(tokenizer, [span.text for span in spans])
    wordpieces = WordpieceBatch.from_batch_encoding(encoding)
    align = get_alignment_via_offset_mapping(spans, encoding["offset_mapping"])
    width = wordpieces.input_ids.shape[1]
    truncated, truncated_align = truncate_oversize_splits(wordpieces, align, width)
    assert numpy.array_equal(truncated.input_ids, wordpieces.input_ids)
    assert numpy.array_equal(truncated.attention_mask, wordpieces.attention_mask)
    assert truncated.strings == wordpieces.strings
    assert numpy.array_equal(truncated_align.data, align.data)
    assert numpy.array_equal(truncated_align.lengths, align.lengths)


def stock_functions(monkeypatch):
    """Make the encoder run spacy-transformers' functions, as before the faster path."""
    monkeypatch.setattr(encoder_model, "align_windows", get_alignment_via_offset_mapping)
    monkeypatch.setattr(encoder_model, "span_texts", lambda spans: [s.text for s in spans])
    monkeypatch.setattr(encoder_model, "tokenize_texts", huggingface_tokenize)


@pytest.mark.parametrize(
    "get_spans",
    [
        None,  # strided windows, as generated configs
        {"@span_getters": "spacy-bert-tasks.wordpiece_windows.v1", "window": 128, "overlap": 16},
    ],
)
def test_predictions_are_those_of_the_stock_functions(tiny_bert, monkeypatch, get_spans):
    model = {"get_spans": get_spans} if get_spans else {}
    nlp = initialized_nlp(tiny_bert, transformer={"keep_trf_data": True, "model": model})
    texts = [" ".join(TEXTS * 12), *TEXTS, "John visited London", ""]
    fast = list(nlp.pipe(texts, batch_size=4))
    assert max(len(d._.trf_data.wordpieces.lengths) for d in fast) > 2  # several windows
    with monkeypatch.context() as patched:
        stock_functions(patched)
        stock = list(nlp.pipe(texts, batch_size=4))
    for got, expected in zip(fast, stock):
        assert [(e.start, e.end, e.label_) for e in got.ents] == [
            (e.start, e.end, e.label_) for e in expected.ents
        ]
        assert got.cats == expected.cats
        if len(got):
            got_data, expected_data = got._.trf_data, expected._.trf_data
            assert numpy.array_equal(got_data.align.data, expected_data.align.data)
            assert numpy.array_equal(got_data.align.lengths, expected_data.align.lengths)
            assert numpy.array_equal(
                got_data.model_output.last_hidden_state,
                expected_data.model_output.last_hidden_state,
            )
