"""Keep every window the encoder sees within its maximum length.

The span getter cuts docs into windows of spaCy tokens, but a token can be many wordpieces (URLs,
hashtags, numbers), so a window may exceed the model's limit. spacy-transformers then drops the
wordpieces past the limit without a word. Here an overlong window is cut into consecutive pieces
that fit, so no token loses its context or its vector. Only a single token longer than the whole
limit still has to be truncated, and that is reported.
"""
from typing import List, Optional, Sequence, Tuple

import numpy

from spacy.tokens import Span

NestedSpans = List[List[Span]]


def split_window(window: Span, wordpieces_per_token: Sequence[int], budget: int) -> List[Span]:
    """Cut one window into consecutive pieces of at most `budget` wordpieces.

    window (Span): The window to cut.
    wordpieces_per_token (Sequence[int]): Wordpiece count of each token in the window.
    budget (int): Wordpieces allowed per piece, special tokens excluded.
    RETURNS (List[Span]): The pieces, in order, covering every token of the window once. A token
        longer than `budget` on its own becomes a piece of one token.
    """
    pieces = []
    start = 0
    used = 0
    for i, count in enumerate(wordpieces_per_token):
        if used + count > budget and i > start:
            pieces.append(window.doc[window.start + start : window.start + i])
            start, used = i, 0
        used += count
    pieces.append(window.doc[window.start + start : window.end])
    return pieces


def fit_windows(
    nested_spans: NestedSpans, wordpiece_counts: Sequence[Optional[Sequence[int]]], budget: int
) -> Tuple[NestedSpans, List[Span]]:
    """Split every window whose wordpieces exceed the budget.

    nested_spans (List[List[Span]]): Windows per doc, as the span getter made them.
    wordpiece_counts (Sequence[Optional[Sequence[int]]]): For each window of the flattened
        windows, the wordpiece count of each of its tokens, or None for a window that fits.
    budget (int): Wordpieces allowed per window, special tokens excluded.
    RETURNS (Tuple[List[List[Span]], List[Span]]): The fitted windows per doc, and the tokens
        (as one-token spans) that alone exceed the budget and so will be truncated.
    """
    fitted: NestedSpans = []
    oversize_tokens: List[Span] = []
    flat_index = 0
    for doc_windows in nested_spans:
        fitted.append([])
        for window in doc_windows:
            counts = wordpiece_counts[flat_index]
            flat_index += 1
            if counts is None or sum(counts) <= budget:
                fitted[-1].append(window)
                continue
            fitted[-1].extend(split_window(window, counts, budget))
            oversize_tokens.extend(
                window[i : i + 1] for i, count in enumerate(counts) if count > budget
            )
    return fitted, oversize_tokens


def count_wordpieces_per_token(window: Span, offsets: numpy.ndarray) -> List[int]:
    """How many wordpieces of a window's encoding start inside each of its tokens.

    window (Span): The window that was tokenized (its text, from its first token).
    offsets (ndarray): (n_wordpieces, 2) character offsets into window.text from a fast
        tokenizer; special tokens and padding have empty (start == end) ranges.
    RETURNS (List[int]): One count per token of the window.
    """
    token_starts = numpy.asarray([token.idx - window.start_char for token in window])
    real = offsets[offsets[:, 1] > offsets[:, 0]]
    owner = numpy.searchsorted(token_starts, real[:, 0], side="right") - 1
    return numpy.bincount(owner, minlength=len(window)).tolist()
