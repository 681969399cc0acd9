"""Windows that fit the encoder: no wordpiece is silently truncated, no token loses its vector."""

import random
import warnings

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from spacy.tokens import Doc
from spacy.vocab import Vocab
from util import STOCK_FACTORY, initialized_nlp

from spacy_bert_tasks.encoder.windows import (
    count_wordpieces_per_token,
    fit_windows,
    split_window,
)

MAX_WORDPIECES = 128  # the tiny BERT's limit


def long_words(n, seed=0):
    """Words absent from the tiny vocabulary: each is 4 to 7 single-letter wordpieces."""
    rng = random.Random(seed)
    return [
        "".join(rng.choice("bcdfghjklmnpqrstvwxz") for _ in range(rng.randint(4, 7)))
        for _ in range(n)
    ]


def initialized(tiny_bert, factory="bert_transformer"):
    # The stock encoder always keeps doc._.trf_data.
    keep = {} if factory == STOCK_FACTORY else {"keep_trf_data": True}
    return initialized_nlp(tiny_bert, factory=factory, transformer=keep)


@pytest.fixture(scope="module")
def nlp(tiny_bert):
    return initialized(tiny_bert)


def check_every_token_fits(nlp, n_tokens):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        doc = nlp(" ".join(long_words(n_tokens)))
    assert [w for w in caught if issubclass(w.category, UserWarning)] == []
    assert len(doc) == n_tokens
    trf = doc._.trf_data
    lengths = trf.align.lengths
    assert len(lengths) == len(doc)
    unaligned = [token.i for token in doc if not token.is_space and lengths[token.i] == 0]
    assert unaligned == []
    # 4 to 7 wordpieces per token: several windows of at most 128 are needed.
    assert sum(trf.wordpieces.lengths) >= 4 * n_tokens
    assert len(trf.wordpieces.lengths) >= 4 * n_tokens // MAX_WORDPIECES
    assert max(trf.wordpieces.lengths) <= MAX_WORDPIECES
    assert trf.wordpieces.input_ids.shape[1] <= MAX_WORDPIECES
    assert set(doc.cats) == {"NEG", "POS"}


def test_doc_within_one_span_window_every_token_fits(nlp):
    # 100 tokens: one span-getter window (128 tokens) of about 550 wordpieces, cut to fit.
    check_every_token_fits(nlp, 100)


def test_long_doc_every_token_aligned_and_windows_fit(nlp):
    # 300 tokens: strided span windows [0:128], [96:224], [192:300] overlap.
    check_every_token_fits(nlp, 300)


def test_stock_encoder_drops_wordpieces_of_the_same_doc(tiny_bert):
    # The contrast that makes the test above meaningful: the stock encoder truncates silently.
    nlp = initialized(tiny_bert, STOCK_FACTORY)
    doc = nlp(" ".join(long_words(300)))
    assert (doc._.trf_data.align.lengths == 0).any()


def test_token_longer_than_limit_warns_and_still_predicts(nlp):
    # The BERT pre-tokenizer splits at punctuation: this single spaCy token is 161 wordpieces.
    giant = "x," * 80 + "x"
    doc = Doc(nlp.vocab, words=["John", "visited", giant, "London", "yesterday"])
    with pytest.warns(UserWarning, match="longer than the encoder's limit"):
        doc = nlp(doc)
    assert doc.has_annotation("ENT_IOB")
    assert "ents" in doc.spans
    assert set(doc.cats) == {"NEG", "POS"}
    assert abs(sum(doc.cats.values()) - 1.0) < 1e-5
    assert all(doc._.trf_data.align.lengths > 0)
    assert max(doc._.trf_data.wordpieces.lengths) <= MAX_WORDPIECES


# Unit tests of the window fitting ------------------------------------------------------------


def make_doc(n_tokens):
    return Doc(Vocab(), words=[f"w{i}" for i in range(n_tokens)])


def check_pieces(window, pieces, counts, budget):
    """Pieces are consecutive, cover the window, fit (unless one token), and are maximal."""
    assert pieces[0].start == window.start and pieces[-1].end == window.end
    for left, right in zip(pieces, pieces[1:]):
        assert left.end == right.start
    for k, piece in enumerate(pieces):
        piece_counts = counts[piece.start - window.start : piece.end - window.start]
        assert len(piece) >= 1
        assert sum(piece_counts) <= budget or len(piece) == 1
        if k + 1 < len(pieces):
            # Greedy: the next token would not have fitted, so no piece is cut needlessly.
            assert sum(piece_counts) + counts[piece.end - window.start] > budget


@settings(max_examples=200, deadline=None)
@given(
    counts=st.lists(st.integers(1, 12), min_size=1, max_size=40),
    budget=st.integers(1, 30),
    offset=st.integers(0, 5),
)
def test_split_window_properties(counts, budget, offset):
    doc = make_doc(offset + len(counts) + 3)
    window = doc[offset : offset + len(counts)]
    pieces = split_window(window, counts, budget)
    check_pieces(window, pieces, counts, budget)
    if sum(counts) <= budget:
        assert [(p.start, p.end) for p in pieces] == [(window.start, window.end)]


def test_split_window_examples():
    doc = make_doc(8)
    window = doc[2:8]
    pieces = split_window(window, [3, 3, 9, 1, 1, 4], 6)
    assert [(p.start, p.end) for p in pieces] == [(2, 4), (4, 5), (5, 8)]


@settings(max_examples=100, deadline=None)
@given(
    docs=st.lists(st.lists(st.integers(1, 10), min_size=1, max_size=25), min_size=1, max_size=3),
    window=st.integers(2, 10),
    budget=st.integers(3, 20),
)
def test_fit_windows_splits_only_oversize_windows(docs, window, budget):
    # Overlapping strided windows, as spacy-transformers' strided_spans makes them.
    stride = max(1, window * 3 // 4)
    nested, flat_counts, counts_of = [], [], []
    for counts in docs:
        doc = make_doc(len(counts))
        windows = [doc[s : min(s + window, len(doc))] for s in range(0, len(doc), stride)]
        nested.append(windows)
        counts_of.append(counts)
        for w in windows:
            flat_counts.append(counts[w.start : w.end])
    fitted, oversize = fit_windows(nested, flat_counts, budget)
    assert len(fitted) == len(nested)
    expected_oversize = []
    for windows, fitted_windows, counts in zip(nested, fitted, counts_of):
        position = 0
        for w in windows:
            w_counts = counts[w.start : w.end]
            if sum(w_counts) <= budget:
                kept = fitted_windows[position]
                assert (kept.start, kept.end) == (w.start, w.end)
                position += 1
                continue
            pieces = []
            while position < len(fitted_windows) and fitted_windows[position].end <= w.end:
                pieces.append(fitted_windows[position])
                position += 1
                if pieces[-1].end == w.end:
                    break
            check_pieces(w, pieces, w_counts, budget)
            expected_oversize.extend((t.i, t.doc) for t in w if counts[t.i] > budget)
        assert position == len(fitted_windows)
    assert [(span.start, span.doc) for span in oversize] == expected_oversize
    assert all(len(span) == 1 for span in oversize)


def test_fit_windows_reports_oversize_tokens():
    doc = make_doc(5)
    fitted, oversize = fit_windows([[doc[0:3], doc[3:5]]], [[1, 50, 1], None], 10)
    assert [[(s.start, s.end) for s in windows] for windows in fitted] == [
        [(0, 1), (1, 2), (2, 3), (3, 5)]
    ]
    assert [(s.start, s.end) for s in oversize] == [(1, 2)]


def test_count_wordpieces_per_token_from_offsets():
    doc = Doc(Vocab(), words=["John", "visited", "Londonderry", "!"])
    window = doc[1:4]
    # [CLS] visited london ##derry ! [SEP] [PAD]: offsets into "visited Londonderry !".
    offsets = numpy.array([[0, 0], [0, 7], [8, 14], [14, 19], [20, 21], [0, 0], [0, 0]])
    assert count_wordpieces_per_token(window, offsets) == [1, 2, 1]
