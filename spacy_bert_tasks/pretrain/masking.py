"""BERT's masked-LM corruption, by whole words.

As in Google's `create_pretraining_data.py` (whole word masking) and Hugging Face's
DataCollatorForWholeWordMask: about 15% of a sequence's tokens are chosen, a whole word at a
time; of the chosen tokens 80% become [MASK], 10% a random token, 10% stay as they are, and all
of them are predicted. Words come from the fast tokenizer's `word_ids` (None for special tokens,
which are never chosen), not from the "##" prefix, so any fast tokenizer works.
"""

from dataclasses import dataclass
from typing import Sequence, Tuple

import numpy

IGNORE_INDEX = -100  # torch's cross-entropy skips these labels
NO_WORD = -1  # word id of special tokens and padding


@dataclass(frozen=True)
class MaskingSettings:
    """How to corrupt sequences.

    probability (float): Share of the (non-special) tokens to predict.
    mask_share (float): Of those, the share replaced by the mask token.
    random_share (float): The share replaced by a random token (the rest stay unchanged).
    whole_word (bool): Choose whole words (all their tokens or none) instead of single tokens.
    """

    probability: float = 0.15
    mask_share: float = 0.8
    random_share: float = 0.1
    whole_word: bool = True

    def __post_init__(self):
        if not 0.0 < self.probability < 1.0:
            raise ValueError(f"expected a masking probability in (0, 1), got {self.probability}")
        if (
            self.mask_share < 0
            or self.random_share < 0
            or self.mask_share + self.random_share > 1.0
        ):
            raise ValueError(
                f"expected mask and random shares >= 0 that sum to at most 1, got {self.mask_share} "
                f"and {self.random_share}"
            )


def mask_sequence(
    input_ids: Sequence[int],
    word_ids: Sequence[int],
    *,
    rng: numpy.random.Generator,
    mask_id: int,
    random_ids: numpy.ndarray,
    settings: MaskingSettings = MaskingSettings(),
) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """Corrupt one sequence for masked-LM training.

    input_ids (Sequence[int]): Token ids, special tokens included.
    word_ids (Sequence[int]): Word index of each token, NO_WORD for special tokens (never chosen).
        Words of the second segment of a pair must have indices distinct from the first's.
    rng (numpy.random.Generator): The only source of randomness (resuming depends on it).
    mask_id (int): The mask token's id.
    random_ids (numpy.ndarray): Ids a random replacement is drawn from (no special tokens).
    settings (MaskingSettings): Probability and replacement shares.
    RETURNS (Tuple[numpy.ndarray, numpy.ndarray]): The corrupted ids, and the labels: the
        original id where a token is to be predicted, IGNORE_INDEX elsewhere.
    """
    ids = numpy.asarray(input_ids, dtype=numpy.int64)
    words = numpy.asarray(word_ids, dtype=numpy.int64)
    candidates = numpy.flatnonzero(words != NO_WORD)
    labels = numpy.full(ids.shape, IGNORE_INDEX, dtype=numpy.int64)
    if candidates.size == 0:
        return ids.copy(), labels
    chosen = _choose_positions(words, candidates, rng, settings)
    labels[chosen] = ids[chosen]
    corrupted = ids.copy()
    # One draw per chosen token, as BERT: [MASK] below mask_share, random below the sum.
    draws = rng.random(chosen.size)
    to_mask = chosen[draws < settings.mask_share]
    to_random = chosen[
        (draws >= settings.mask_share) & (draws < settings.mask_share + settings.random_share)
    ]
    corrupted[to_mask] = mask_id
    corrupted[to_random] = rng.choice(random_ids, size=to_random.size)
    return corrupted, labels


def _choose_positions(
    words: numpy.ndarray,
    candidates: numpy.ndarray,
    rng: numpy.random.Generator,
    settings: MaskingSettings,
) -> numpy.ndarray:
    """Positions to predict: whole words in random order, up to round(probability * tokens).

    A word that would overshoot the budget is passed over for a shorter one (as Google's
    script does); at least one word is always chosen, so every sequence teaches something.
    """
    budget = max(1, int(round(candidates.size * settings.probability)))
    if settings.whole_word:
        word_of_candidate = words[candidates]
        # Tokens of one word are contiguous: split where the word id changes.
        starts = numpy.flatnonzero(numpy.diff(word_of_candidate, prepend=word_of_candidate[0] - 1))
        groups = numpy.split(candidates, starts[1:])
    else:
        groups = [candidates[i : i + 1] for i in range(candidates.size)]
    chosen = []
    n_chosen = 0
    for index in rng.permutation(len(groups)):
        group = groups[index]
        if n_chosen + group.size > budget:
            continue
        chosen.append(group)
        n_chosen += group.size
        if n_chosen == budget:
            break
    if not chosen:  # every word is longer than the budget (a short sequence of long words)
        chosen.append(groups[int(rng.integers(len(groups)))])
    return numpy.sort(numpy.concatenate(chosen))
