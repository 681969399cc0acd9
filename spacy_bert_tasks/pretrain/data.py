"""From raw docs to masked batches: held-out split, epochs, batches, dynamic masks.

Everything random is drawn from numpy generators seeded by (seed, epoch, batch, stream), never
from a running state: batch k of epoch e is the same whether the run was interrupted or not,
and masks differ between epochs (dynamic masking, as RoBERTa). The held-out sequences get one
fixed set of masks, so perplexities of different steps and runs compare.
"""

import hashlib
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy

from .masking import MaskingSettings, mask_sequence
from .pairing import count_pairs, sample_pairs
from .reading import RawDoc, split_sentences
from .sequences import TokenSequence, batch_by_padded_tokens, pair_sequences, window_sequences

# Streams of randomness, so that no two uses of a seed draw the same numbers.
SPLIT, ORDER, MASKS, PAIRS, HELDOUT = range(5)


class TooLittleTextError(ValueError):
    """The raw text cannot give a training set (and a held-out set, when asked)."""


@dataclass(frozen=True)
class DataSettings:
    """max_length (int): tokens per sequence; stride (int): overlap of a long doc's windows;
    batch_tokens (int): padded tokens per batch; heldout_share (float): share of the docs kept
    for perplexity; nsp (bool): sentence pairs for next-sentence prediction; masking."""

    max_length: int = 128
    stride: int = 32
    batch_tokens: int = 4096
    heldout_share: float = 0.05
    nsp: bool = False
    masking: MaskingSettings = MaskingSettings()

    def __post_init__(self):
        if self.max_length < 8:
            raise ValueError(f"expected max_length >= 8 tokens, got {self.max_length}")
        if not 0 <= self.stride <= self.max_length // 2:
            raise ValueError(
                f"expected 0 <= stride <= max_length / 2 ({self.max_length // 2}), got {self.stride}"
            )
        if self.batch_tokens < self.max_length:
            raise ValueError(
                f"expected batch_tokens >= max_length ({self.max_length}), got {self.batch_tokens}"
            )
        if not 0 <= self.heldout_share < 1:
            raise ValueError(f"expected a held-out share in [0, 1), got {self.heldout_share}")


class PretrainData:
    """The training docs and the held-out set of one run.

    docs (List[RawDoc]): All docs read (non-empty).
    tokenizer: The encoder's fast tokenizer.
    settings (DataSettings): Lengths, batch size, held-out share, NSP, masking.
    seed (int): Seeds the split, the order, the masks and the pairs.
    """

    def __init__(self, docs: List[RawDoc], tokenizer, settings: DataSettings, seed: int):
        if not docs:
            raise TooLittleTextError("expected raw text, found no non-empty document")
        self.tokenizer = tokenizer
        self.settings = settings
        self.seed = seed
        order = numpy.random.default_rng([seed, SPLIT]).permutation(len(docs))
        n_heldout = int(round(len(docs) * settings.heldout_share))
        if settings.heldout_share > 0:
            n_heldout = max(1, n_heldout)
        if len(docs) - n_heldout < 1:
            raise TooLittleTextError(
                f"expected more docs: {len(docs)} doc(s) with a held-out share of {settings.heldout_share} leave "
                "none to train on; give more text or a lower --heldout"
            )
        self.heldout_docs = [docs[i] for i in sorted(order[:n_heldout])]
        self.train_docs = [docs[i] for i in sorted(order[n_heldout:])]
        self.fingerprint = _fingerprint(docs)
        special = set(tokenizer.all_special_ids)
        self.random_ids = numpy.asarray(
            [i for i in range(len(tokenizer)) if i not in special], dtype=numpy.int64
        )
        self._windows: Optional[List[TokenSequence]] = None
        self._pairs: List[TokenSequence] = []
        self._pairs_epoch: Optional[int] = None
        if settings.nsp:
            split_sentences(self.train_docs)
            self._sentences = [doc.sentences for doc in self.train_docs if doc.sentences]
            if count_pairs(self._sentences) == 0 or len(self._sentences) < 2:
                raise TooLittleTextError(
                    "expected docs of two or more sentences for next-sentence prediction, found none among "
                    f"{len(self.train_docs)} training doc(s); give multi-sentence docs (e.g. a .txt with one "
                    "sentence per line and blank lines between docs) or leave out --nsp"
                )
        else:
            self._windows = self._tokenize([doc.text for doc in self.train_docs])
        self.heldout = self._tokenize([doc.text for doc in self.heldout_docs])
        self._heldout_batches: Optional[List[Dict]] = None

    def _tokenize(self, texts: Sequence[str]) -> List[TokenSequence]:
        if not texts:
            return []
        return window_sequences(
            self.tokenizer, texts, max_length=self.settings.max_length, stride=self.settings.stride
        )

    def epoch_sequences(self, epoch: int) -> List[TokenSequence]:
        """The training sequences of an epoch: fixed windows, or NSP pairs drawn for it."""
        if self._windows is not None:
            return self._windows
        if self._pairs_epoch != epoch:  # the loop asks for the same epoch's pairs many times
            firsts, seconds, labels = sample_pairs(
                self._sentences, numpy.random.default_rng([self.seed, PAIRS, epoch])
            )
            self._pairs = pair_sequences(
                self.tokenizer, firsts, seconds, labels, max_length=self.settings.max_length
            )
            self._pairs_epoch = epoch
        return self._pairs

    def epoch_batches(self, epoch: int) -> List[List[int]]:
        """Indices into `epoch_sequences(epoch)`, batch by batch, in training order."""
        sequences = self.epoch_sequences(epoch)
        rng = numpy.random.default_rng([self.seed, ORDER, epoch])
        batches = batch_by_padded_tokens(
            [len(s) for s in sequences],
            rng.permutation(len(sequences)),
            batch_tokens=self.settings.batch_tokens,
        )
        return [batches[i] for i in rng.permutation(len(batches))]

    def collate(self, sequences: Sequence[TokenSequence], rng: numpy.random.Generator) -> Dict:
        """Pad and mask sequences into torch tensors (and count their words)."""
        import torch

        width = max(len(s) for s in sequences)
        shape = (len(sequences), width)
        input_ids = numpy.full(shape, self.tokenizer.pad_token_id, dtype=numpy.int64)
        labels = numpy.full(shape, -100, dtype=numpy.int64)
        attention = numpy.zeros(shape, dtype=numpy.int64)
        types = numpy.zeros(shape, dtype=numpy.int64)
        for row, sequence in enumerate(sequences):
            corrupted, row_labels = mask_sequence(
                sequence.input_ids,
                sequence.word_ids,
                rng=rng,
                mask_id=self.tokenizer.mask_token_id,
                random_ids=self.random_ids,
                settings=self.settings.masking,
            )
            n = len(sequence)
            input_ids[row, :n], labels[row, :n], attention[row, :n] = corrupted, row_labels, 1
            types[row, :n] = sequence.token_type_ids
        batch = {
            "input_ids": torch.from_numpy(input_ids),
            "attention_mask": torch.from_numpy(attention),
            "token_type_ids": torch.from_numpy(types),
            "labels": torch.from_numpy(labels),
            "n_words": sum(s.n_words for s in sequences),
        }
        if self.settings.nsp and sequences[0].next_sentence_label is not None:
            batch["next_sentence_label"] = torch.tensor([s.next_sentence_label for s in sequences])
        return batch

    def training_batch(self, epoch: int, index: int, sequences: Sequence[TokenSequence]) -> Dict:
        """Batch `index` of `epoch`, with the masks drawn for it."""
        return self.collate(sequences, numpy.random.default_rng([self.seed, MASKS, epoch, index]))

    def heldout_batches(self) -> List[Dict]:
        """The held-out set, masked once for all evaluations (empty without a held-out share)."""
        if self._heldout_batches is None:
            rng = numpy.random.default_rng([self.seed, HELDOUT])
            lengths = [len(s) for s in self.heldout]
            plan = batch_by_padded_tokens(
                lengths, range(len(lengths)), batch_tokens=self.settings.batch_tokens
            )
            self._heldout_batches = [
                self.collate([self.heldout[i] for i in batch], rng) for batch in plan
            ]
        return self._heldout_batches


def _fingerprint(docs: Sequence[RawDoc]) -> str:
    digest = hashlib.sha256()
    for doc in docs:
        digest.update(doc.text.encode("utf8"))
        digest.update(b"\x00")
    return digest.hexdigest()
