"""Token sequences for pre-training, and batches of them by padded size.

The fast tokenizer does all the tokenizing: windows of long documents (`stride` tokens of
overlap, HF's `return_overflowing_tokens`), special tokens, sentence pairs and their segment ids.
What is kept per sequence is what masking needs: ids, word ids, segment ids.
"""

from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy

from .masking import NO_WORD


@dataclass
class TokenSequence:
    """One encoder input.

    input_ids (numpy.ndarray): Token ids, special tokens included.
    word_ids (numpy.ndarray): Word index per token (distinct across the two segments of a pair),
        NO_WORD for special tokens.
    token_type_ids (numpy.ndarray): 0 for the first segment, 1 for the second.
    next_sentence_label (Optional[int]): For pairs: 0 when the second segment follows the first
        in its doc, 1 when it comes from another doc (Hugging Face's convention).
    """

    input_ids: numpy.ndarray
    word_ids: numpy.ndarray
    token_type_ids: numpy.ndarray
    next_sentence_label: Optional[int] = None

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def n_words(self) -> int:
        return len(set(self.word_ids[self.word_ids != NO_WORD].tolist()))


def window_sequences(
    tokenizer, texts: Sequence[str], *, max_length: int, stride: int
) -> List[TokenSequence]:
    """Each text as one sequence, or as overlapping windows when longer than max_length.

    tokenizer: A Hugging Face fast tokenizer.
    texts (Sequence[str]): Non-empty texts.
    max_length (int): Tokens per sequence, special tokens included.
    stride (int): Tokens shared by consecutive windows of a text.
    RETURNS (List[TokenSequence]): In text order, windows in order.
    """
    encoding = tokenizer(
        list(texts),
        truncation=True,
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        return_token_type_ids=True,
    )
    return [
        _sequence(
            encoding["input_ids"][i], encoding.word_ids(i), encoding["token_type_ids"][i], None
        )
        for i in range(len(encoding["input_ids"]))
    ]


def pair_sequences(
    tokenizer,
    firsts: Sequence[str],
    seconds: Sequence[str],
    labels: Sequence[int],
    *,
    max_length: int,
) -> List[TokenSequence]:
    """`[CLS] A [SEP] B [SEP]` sequences for next-sentence prediction, cut to max_length by
    trimming the longer segment first (as BERT's truncate_seq_pair)."""
    encoding = tokenizer(
        list(firsts),
        list(seconds),
        truncation="longest_first",
        max_length=max_length,
        return_token_type_ids=True,
    )
    sequences = []
    for i, label in enumerate(labels):
        word_ids = encoding.word_ids(i)
        segment = encoding.sequence_ids(i)
        first_words = (
            max((w for w, s in zip(word_ids, segment) if s == 0 and w is not None), default=-1) + 1
        )
        # Words of the second segment are numbered after the first's, so they never merge.
        offset = [
            None if w is None else w + (first_words if s == 1 else 0)
            for w, s in zip(word_ids, segment)
        ]
        sequences.append(
            _sequence(encoding["input_ids"][i], offset, encoding["token_type_ids"][i], label)
        )
    return sequences


def _sequence(input_ids, word_ids, token_type_ids, label) -> TokenSequence:
    return TokenSequence(
        numpy.asarray(input_ids, dtype=numpy.int64),
        numpy.asarray([NO_WORD if w is None else w for w in word_ids], dtype=numpy.int64),
        numpy.asarray(token_type_ids, dtype=numpy.int64),
        label,
    )


def batch_by_padded_tokens(
    lengths: Sequence[int], order: Sequence[int], *, batch_tokens: int, buffer: int = 256
) -> List[List[int]]:
    """Group sequence indices into batches of at most `batch_tokens` padded tokens.

    As spaCy's batch_by_padded: take `buffer` sequences in the given (shuffled) order, sort them
    by length so that each batch pads little, and cut batches whose size times longest length
    stays within the budget. A sequence longer than the budget is a batch of its own.
    RETURNS (List[List[int]]): Indices into `lengths`, batch by batch.
    """
    batches: List[List[int]] = []
    order = list(order)
    for start in range(0, len(order), buffer):
        chunk = sorted(order[start : start + buffer], key=lambda i: lengths[i])
        batch: List[int] = []
        longest = 0
        for index in chunk:
            new_longest = max(longest, lengths[index])
            if batch and new_longest * (len(batch) + 1) > batch_tokens:
                batches.append(batch)
                batch, new_longest = [], lengths[index]
            batch.append(index)
            longest = new_longest
        if batch:
            batches.append(batch)
    return batches
