"""Keep every window the encoder sees within its maximum length, and long docs cheap to encode.

The span getter cuts docs into windows of spaCy tokens, but a token can be many wordpieces (URLs,
hashtags, numbers), so a window may exceed the model's limit. spacy-transformers then drops the
wordpieces past the limit without a word. Here an overlong window is cut into consecutive pieces
that fit, so no token loses its context or its vector. Only a single token longer than the whole
limit still has to be truncated, and that is reported.

`spacy-bert-tasks.wordpiece_windows.v1` cuts windows in wordpieces instead of tokens: as long as
the encoder allows (512 for BERT), overlapping by a few wordpieces (32), as Hugging Face's
token-classification pipeline reads long texts. Strided windows of 128 tokens with stride 96
encode every token of a long doc about 1.33 times and pad to the longest window; these encode
it about 1.07 times. A doc short enough to fit whole is one window, without counting.
"""

from typing import Dict, List, Optional, Sequence, Tuple

import numpy
from spacy.attrs import IDX
from spacy.tokens import Doc, Span
from spacy_transformers.span_getters import get_strided_spans
from spacy_transformers.util import registry

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
    token_starts = window.doc.to_array(IDX)[window.start : window.end].astype("i8")
    token_starts -= window.start_char
    real = offsets[offsets[:, 1] > offsets[:, 0]]
    owner = numpy.searchsorted(token_starts, real[:, 0], side="right") - 1
    return numpy.bincount(owner, minlength=len(window)).tolist()


class WordpieceWindows:
    """Span getter cutting each doc into windows of at most `window` wordpieces (specials
    included), consecutive windows sharing tokens worth at most `overlap` wordpieces.

    It needs the encoder's tokenizer, so the encoder model calls `windows(docs, tokenizer)`;
    called on docs alone (by code that knows only spacy-transformers' span getters), it falls
    back to strided windows of `window // 4` tokens, which fit but encode more.
    """

    def __init__(self, window: int = 512, overlap: int = 32) -> None:
        if overlap < 0 or window <= overlap + 2:
            raise ValueError(
                f"wordpiece windows need window > overlap + 2 >= 2, got {window}, {overlap}"
            )
        self.window = window
        self.overlap = overlap

    def __call__(self, docs: Sequence[Doc]) -> NestedSpans:
        size = max(1, self.window // 4)
        stride = max(1, size - max(1, self.overlap // 4))
        return get_strided_spans(docs, size, stride)

    def windows(self, docs: Sequence[Doc], tokenizer) -> NestedSpans:
        """The windows of each doc, counted with `tokenizer` (a fast one: it needs offsets)."""
        budget = min(self.window, tokenizer.model_max_length) - tokenizer.num_special_tokens_to_add(
            pair=False
        )
        # Wordpieces never outnumber the characters: short docs need no tokenizing here.
        long_docs = [doc for doc in docs if text_length(doc) > budget]
        counts = {}
        if long_docs:
            encoding = tokenizer(
                span_texts([doc[:] for doc in long_docs]),
                add_special_tokens=False,
                return_offsets_mapping=True,
                return_attention_mask=False,
                verbose=False,
            )  # longer than the limit on purpose
            for doc, offsets in zip(long_docs, encoding["offset_mapping"]):
                counts[id(doc)] = count_wordpieces_per_token(
                    doc[:], numpy.asarray(offsets).reshape(-1, 2)
                )
        return [
            cut_by_wordpieces(doc, counts[id(doc)], budget, self.overlap)
            if id(doc) in counts
            else [doc[:]]
            if len(doc)
            else []  # as strided_spans: no window for an empty doc
            for doc in docs
        ]


def text_length(doc: Doc) -> int:
    """len(doc.text), without building the text (Doc.text joins a new Token per token)."""
    if not len(doc):
        return 0
    last = doc[-1]
    return last.idx + len(last.text_with_ws)


def span_texts(spans: Sequence[Span]) -> List[str]:
    """[span.text for span in spans], building each doc's text once.

    Span.text joins a new Token object per token; for the windows of a long doc that costs more
    than tokenizing them. A span's text is its doc's text from its first character to the end of
    its last token.
    """
    doc_texts: Dict[int, str] = {}
    texts = []
    for span in spans:
        text = doc_texts.get(id(span.doc))
        if text is None:
            text = doc_texts[id(span.doc)] = span.doc.text
        texts.append(text[span.start_char : span.end_char])
    return texts


def cut_by_wordpieces(doc: Doc, counts: Sequence[int], budget: int, overlap: int) -> List[Span]:
    """Windows of at most `budget` wordpieces covering every token of `doc`, in order.

    Each window after the first starts on the earliest token such that the tokens it shares with
    the previous window hold at most `overlap` wordpieces (and it always moves forward). A token
    longer than `budget` is a window of its own (truncated later, and reported, by the model).
    """
    windows = []
    start = 0
    n_tokens = len(counts)
    while True:
        end, used = start, 0
        while end < n_tokens and (used + counts[end] <= budget or end == start):
            used += counts[end]
            end += 1
        windows.append(doc[start:end])
        if end >= n_tokens:
            return windows
        shared, next_start = 0, end
        while next_start - 1 > start and shared + counts[next_start - 1] <= overlap:
            next_start -= 1
            shared += counts[next_start]
        start = next_start


@registry.span_getters("spacy-bert-tasks.wordpiece_windows.v1")
def configure_wordpiece_windows(window: int = 512, overlap: int = 32) -> WordpieceWindows:
    """Windows sized in wordpieces: see WordpieceWindows. For long docs at prediction."""
    return WordpieceWindows(window, overlap)
