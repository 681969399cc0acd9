"""Keep every window the encoder sees within its maximum length.

The span getter cuts docs into windows of spaCy tokens, but a token can be many wordpieces (URLs,
hashtags, numbers), so a window may exceed the model's limit. spacy-transformers then drops the
wordpieces past the limit without a word. Here an overlong window is cut into consecutive pieces
that fit, so no token loses its context or its vector. Only a single token longer than the whole
limit still has to be truncated, and that is reported.
"""
from typing import List, Sequence, Tuple

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
    nested_spans: NestedSpans, wordpiece_lengths: Sequence[int], budget: int
) -> Tuple[NestedSpans, List[Span]]:
    """Split every window whose wordpieces exceed the budget.

    nested_spans (List[List[Span]]): Windows per doc, as the span getter made them.
    wordpiece_lengths (Sequence[int]): Wordpiece count of each token of each window, in the order
        of the flattened windows (the `lengths` of spacy-transformers' alignment).
    budget (int): Wordpieces allowed per window, special tokens excluded.
    RETURNS (Tuple[List[List[Span]], List[Span]]): The fitted windows per doc, and the tokens
        (as one-token spans) that alone exceed the budget and so will be truncated.
    """
    fitted: NestedSpans = []
    oversize_tokens: List[Span] = []
    offset = 0
    for doc_windows in nested_spans:
        fitted.append([])
        for window in doc_windows:
            counts = wordpiece_lengths[offset : offset + len(window)]
            offset += len(window)
            if sum(counts) <= budget:
                fitted[-1].append(window)
                continue
            fitted[-1].extend(split_window(window, counts, budget))
            oversize_tokens.extend(
                window[i : i + 1] for i, count in enumerate(counts) if count > budget
            )
    return fitted, oversize_tokens
