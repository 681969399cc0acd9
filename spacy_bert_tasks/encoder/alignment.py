"""Which wordpieces belong to which spaCy token, from a fast tokenizer's character offsets.

spacy-transformers' `get_alignment_via_offset_mapping` builds the same table, but it loops over
every character of every window and keys a dict on every Token of the batch's docs. On long docs
that cost as much as tokenizing them: about 45 ms per 5,000-word doc in 512-wordpiece windows, and
300 ms if the doc was one window. `align_windows` does the same with a few numpy operations per
window and returns an identical table (tests/encoder/test_alignment.py compares them).

The rules it reproduces: a token owns its characters and the one after it (the whitespace, or
the first character of the next token, which that token then claims); a wordpiece belongs to
every token owning one of its characters; each token gets the sorted indices of its wordpieces
in the flattened padded batch (window * width + position), over all windows it falls in.
"""

from typing import Dict, Sequence

import numpy
from spacy.attrs import IDX, LENGTH
from spacy.tokens import Doc, Span
from thinc.types import Ragged


def align_windows(spans: Sequence[Span], offset_mapping: numpy.ndarray) -> Ragged:
    """The alignment of every token of the windows' docs to the batch's wordpieces.

    spans (Sequence[Span]): The windows, in batch order.
    offset_mapping (ndarray): (n_windows, width, 2) character offsets of each wordpiece into its
        window's text; special tokens and padding have empty ranges.
    RETURNS (Ragged): One row per token of each doc (docs in order of first appearance, all their
        tokens), holding the token's wordpiece indices in the flattened batch, ascending.
    """
    if len(spans) != len(offset_mapping):
        raise ValueError("Cannot align batches of different sizes.")
    doc_offsets: Dict[int, int] = {}
    doc_tokens: Dict[int, numpy.ndarray] = {}
    n_tokens = 0
    for span in spans:
        if id(span.doc) not in doc_offsets:
            doc_offsets[id(span.doc)] = n_tokens
            doc_tokens[id(span.doc)] = _starts_and_lengths(span.doc)
            n_tokens += len(span.doc)
    if not len(spans):
        return Ragged(numpy.zeros((0,), dtype="i"), numpy.zeros((n_tokens,), dtype="i"))
    offsets = numpy.asarray(offset_mapping).astype("i8")
    n_windows, width = offsets.shape[:2]
    # All windows at once: window r's characters are moved to r * stride, past the previous
    # window's text, so one sorted array of token starts serves every window.
    text_lengths = numpy.asarray([span.end_char - span.start_char for span in spans], dtype="i8")
    stride = int(text_lengths.max(initial=0)) + 2
    starts, lengths, positions = [], [], []
    for row, span in enumerate(spans):
        tokens = doc_tokens[id(span.doc)][span.start : span.end]
        starts.append(tokens[:, 0] + (row * stride - span.start_char))
        lengths.append(tokens[:, 1])
        positions.append(numpy.arange(span.start, span.end) + doc_offsets[id(span.doc)])
    token_starts = numpy.concatenate(starts)
    token_position = numpy.concatenate(positions)
    # Last character each token owns: the one after it, unless the next token starts there.
    # (Across windows the next start is a stride away, so this never cuts a window's last token.)
    token_ends = token_starts + numpy.concatenate(lengths)
    token_ends[:-1] = numpy.minimum(token_ends[:-1], token_starts[1:] - 1)
    # Each wordpiece's characters, cut to its window's text and the character after it.
    base = (numpy.arange(n_windows, dtype="i8") * stride)[:, None]
    first = (numpy.maximum(offsets[:, :, 0], 0) + base).ravel()
    last = (numpy.minimum(offsets[:, :, 1], (text_lengths + 1)[:, None]) - 1 + base).ravel()
    # Tokens meeting [first, last]: from the first owning a character >= first to the last
    # starting <= last (both ascending, so every token between them meets it too). A wordpiece
    # meeting no token of its window gets a first token past its last one: no pair.
    first_token = numpy.searchsorted(token_ends, first, side="left")
    last_token = numpy.searchsorted(token_starts, last, side="right") - 1
    counts = numpy.where(first <= last, last_token - first_token + 1, 0).clip(min=0)
    wordpieces = numpy.repeat(numpy.arange(n_windows * width, dtype="i8"), counts)
    within = numpy.arange(len(wordpieces)) - numpy.repeat(numpy.cumsum(counts) - counts, counts)
    tokens = token_position[numpy.repeat(first_token, counts) + within]
    order = numpy.lexsort((wordpieces, tokens))
    token_lengths = numpy.bincount(tokens, minlength=n_tokens)
    return Ragged(wordpieces[order].astype("i"), token_lengths.astype("i"))


def _starts_and_lengths(doc: Doc) -> numpy.ndarray:
    # (n_tokens, 2): each token's first character and length, read in C.
    return doc.to_array([IDX, LENGTH]).astype("i8").reshape(-1, 2)
