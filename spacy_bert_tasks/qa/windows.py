"""BERT's pair encoding `[CLS] question [SEP] context [SEP]`, cut into windows that fit.

The fast tokenizer does the windowing (truncation of the context only, overflowing windows that
overlap by `doc_stride` wordpieces, character offsets, segment ids); this module only adds the
question cap, padding per chunk of similar lengths (less padding than one batch-wide pad), and
the gold start/end positions of each window for training.
Note: `doc_stride` is the OVERLAP between windows, as in Hugging Face's pipeline and tokenizer
(BERT's run_squad used it as the step between window starts).
"""

import re
from dataclasses import dataclass
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy
from spacy_transformers.data_classes import WordpieceBatch

from .postprocess import CONTEXT_ID

# Lone UTF-16 surrogates: a Python str may hold them (json.loads of "\ud83d", surrogateescape
# decoding), but they are not text, and the Rust tokenizer rejects the whole batch for one.
SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass
class PairWindows:
    """The windows of a batch of (question, context) pairs, unpadded.

    input_ids, token_type_ids, offsets, sequence_ids: one entry per window; offsets index the
        context; sequence_ids are 0 (question), 1 (context) or -1 (special tokens).
    pair_of_window (List[int]): Which pair each window belongs to.
    n_truncated_questions (int): Questions cut to `max_question_length` wordpieces.
    """

    input_ids: List[List[int]]
    token_type_ids: List[List[int]]
    offsets: List[numpy.ndarray]
    sequence_ids: List[numpy.ndarray]
    pair_of_window: List[int]
    n_truncated_questions: int

    def __len__(self) -> int:
        return len(self.input_ids)

    def chunks(self, max_windows: int, *, longest_first: bool = False) -> Iterator[List[int]]:
        """Window indices in chunks of at most `max_windows`, grouped by length to pad less.

        longest_first (bool): Yield the chunk of the longest windows first (the same chunks in
            reverse), as prediction does: each call's activations then fit in the blocks the
            call before freed. Shortest first, each call outgrew them while the logits kept
            between calls pinned them, and the heap grew by free fragments: QA int8 over the
            887 SQuAD dev questions took glibc's heap from 279 to 1,214 MB with about 250 MB
            in use; longest first, from 289 to 406 MB.
        """
        order = sorted(range(len(self)), key=lambda i: len(self.input_ids[i]))
        starts = range(0, len(order), max_windows)
        for start in reversed(starts) if longest_first else starts:
            yield order[start : start + max_windows]

    def wordpieces(self, indices: Sequence[int], pad_id: int) -> WordpieceBatch:
        """The windows `indices` padded into one batch for the encoder."""
        lengths = [len(self.input_ids[i]) for i in indices]
        width = max(lengths)
        input_ids = numpy.full((len(indices), width), pad_id, dtype="int64")
        token_type_ids = numpy.zeros((len(indices), width), dtype="int64")
        attention_mask = numpy.zeros((len(indices), width), dtype="int64")
        for row, (i, length) in enumerate(zip(indices, lengths)):
            input_ids[row, :length] = self.input_ids[i]
            token_type_ids[row, :length] = self.token_type_ids[i]
            attention_mask[row, :length] = 1
        return WordpieceBatch(
            strings=[[] for _ in indices],
            input_ids=input_ids,
            attention_mask=attention_mask,
            lengths=lengths,
            token_type_ids=token_type_ids,
        )


def encode_pairs(
    tokenizer,
    questions: Sequence[str],
    contexts: Sequence[str],
    *,
    max_seq_length: int,
    doc_stride: int,
    max_question_length: int,
) -> PairWindows:
    """Tokenize (question, context) pairs into windows of at most `max_seq_length` wordpieces.

    A question longer than `max_question_length` wordpieces is cut to that length (counted in
    the result, so the caller can report it), so that every window keeps room for context.
    """
    questions, n_truncated = _cap_questions(tokenizer, questions, max_question_length)
    encoding = tokenizer(
        list(questions),
        list(contexts),
        truncation="only_second",
        max_length=max_seq_length,
        stride=doc_stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        return_token_type_ids=True,
        padding=False,
    )
    n_windows = len(encoding["input_ids"])
    sequence_ids = [
        numpy.asarray([-1 if s is None else s for s in encoding.sequence_ids(i)], dtype="i")
        for i in range(n_windows)
    ]
    return PairWindows(
        input_ids=encoding["input_ids"],
        token_type_ids=encoding["token_type_ids"],
        offsets=[numpy.asarray(o, dtype="i").reshape(-1, 2) for o in encoding["offset_mapping"]],
        sequence_ids=sequence_ids,
        pair_of_window=list(encoding["overflow_to_sample_mapping"]),
        n_truncated_questions=n_truncated,
    )


def tokenizable_question(question: object) -> str:
    """The question as the tokenizer can take it: each lone surrogate becomes U+FFFD.

    spaCy refuses such characters in a doc's text, but `doc._.question` is any Python string.
    One replacement character per surrogate keeps every other character at its offset.
    question (object): The value of `doc._.question` (not None).
    RETURNS (str): The question, safe to tokenize.
    RAISES (TypeError): The question is not a string.
    """
    if not isinstance(question, str):
        raise TypeError(
            f"expected doc._.question to be a str (or None for a doc without a question), got "
            f"{type(question).__name__} {str(question)[:60]!r}; set it to the question's text"
        )
    return SURROGATE.sub("\ufffd", question)


def _cap_questions(tokenizer, questions: Sequence[str], max_length: int) -> Tuple[List[str], int]:
    encoded = tokenizer(
        list(questions), add_special_tokens=False, return_offsets_mapping=True, padding=False
    )
    capped = []
    for question, offsets in zip(questions, encoded["offset_mapping"]):
        if len(offsets) > max_length:
            question = question[: offsets[max_length - 1][1]]
        capped.append(question)
    return capped, sum(a != b for a, b in zip(capped, questions))


def answer_positions(
    offsets: numpy.ndarray, sequence_ids: numpy.ndarray, answer: Optional[Tuple[int, int]]
) -> Tuple[int, int]:
    """Gold (start, end) wordpiece positions of an answer in one window; end is INCLUSIVE.

    (0, 0), the [CLS] position, when there is no answer or the window does not hold it whole:
    as in BERT's fine-tuning, such windows learn to point at [CLS].
    answer (Optional[Tuple[int, int]]): (start_char, end_char) in the context, end exclusive.
    """
    if answer is None:
        return 0, 0
    start_char, end_char = answer
    context = numpy.flatnonzero(sequence_ids == CONTEXT_ID)
    if len(context) == 0:
        return 0, 0
    if offsets[context[0], 0] > start_char or offsets[context[-1], 1] < end_char:
        return 0, 0
    starts_before = context[offsets[context, 0] <= start_char]
    ends_after = context[offsets[context, 1] >= end_char]
    return int(starts_before[-1]), int(ends_after[0])
