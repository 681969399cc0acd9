"""Whole-word masking: share of tokens, 80/10/10, whole words, special tokens, dynamic masks."""

import numpy
import pytest
from transformers import AutoTokenizer

from spacy_bert_tasks.pretrain.masking import IGNORE_INDEX, NO_WORD, MaskingSettings, mask_sequence
from spacy_bert_tasks.pretrain.sequences import window_sequences

TEXT = (
    "john visited london yesterday and said the city was great ; mary works at google in new york"
)


@pytest.fixture(scope="module")
def tokenizer(tiny_bert):
    return AutoTokenizer.from_pretrained(tiny_bert, use_fast=True)


def _masked(tokenizer, sequences, seed=0, settings=MaskingSettings()):
    rng = numpy.random.default_rng(seed)
    special = set(tokenizer.all_special_ids)
    random_ids = numpy.asarray([i for i in range(len(tokenizer)) if i not in special])
    return [
        mask_sequence(
            s.input_ids,
            s.word_ids,
            rng=rng,
            mask_id=tokenizer.mask_token_id,
            random_ids=random_ids,
            settings=settings,
        )
        for s in sequences
    ]


def test_share_and_replacement_statistics(tokenizer):
    # Words the tiny vocabulary splits into several wordpieces, so whole words matter.
    sequences = window_sequences(
        tokenizer, [TEXT + " ox zap cub elk yak"] * 2000, max_length=128, stride=0
    )
    results = _masked(tokenizer, sequences)
    n_tokens = sum(int((s.word_ids != NO_WORD).sum()) for s in sequences)
    chosen = [(s, ids, labels) for s, (ids, labels) in zip(sequences, results)]
    n_chosen = sum(int((labels != IGNORE_INDEX).sum()) for _, _, labels in chosen)
    assert 0.13 < n_chosen / n_tokens < 0.17
    masked = random = kept = 0
    for sequence, ids, labels in chosen:
        positions = labels != IGNORE_INDEX
        assert (
            labels[positions] == sequence.input_ids[positions]
        ).all()  # labels are the originals
        masked += int((ids[positions] == tokenizer.mask_token_id).sum())
        kept += int((ids[positions] == sequence.input_ids[positions]).sum())
        random += int(
            (
                (ids[positions] != tokenizer.mask_token_id)
                & (ids[positions] != sequence.input_ids[positions])
            ).sum()
        )
        assert (ids[~positions] == sequence.input_ids[~positions]).all()  # nothing else changes
    assert abs(masked / n_chosen - 0.8) < 0.02
    # A random draw can hit the original token (it then counts as kept), as in BERT.
    assert abs(random / n_chosen - 0.1) < 0.02 and abs(kept / n_chosen - 0.1) < 0.02


def test_whole_words_together_and_special_tokens_never(tokenizer):
    sequences = window_sequences(
        tokenizer, [TEXT + " ox zap cub elk yak"] * 300, max_length=128, stride=0
    )
    multi_piece_words_chosen = 0
    for sequence, (_, labels) in zip(sequences, _masked(tokenizer, sequences, seed=1)):
        chosen = labels != IGNORE_INDEX
        assert not chosen[sequence.word_ids == NO_WORD].any()
        for word in set(sequence.word_ids[sequence.word_ids != NO_WORD].tolist()):
            in_word = chosen[sequence.word_ids == word]
            assert in_word.all() or not in_word.any()
            multi_piece_words_chosen += in_word.all() and in_word.size > 1
    assert multi_piece_words_chosen > 50


def test_token_level_masking_splits_words(tokenizer):
    sequences = window_sequences(
        tokenizer, ["zebrafish quokka platypus"] * 300, max_length=64, stride=0
    )
    split = 0
    for sequence, (_, labels) in zip(
        sequences, _masked(tokenizer, sequences, settings=MaskingSettings(whole_word=False))
    ):
        chosen = labels != IGNORE_INDEX
        split += any(
            0 < chosen[sequence.word_ids == w].sum() < (sequence.word_ids == w).sum()
            for w in range(3)
        )
    assert split > 50


def test_masks_depend_only_on_the_generator(tokenizer):
    sequences = window_sequences(tokenizer, [TEXT] * 20, max_length=64, stride=0)
    first, again, other = (_masked(tokenizer, sequences, seed=s) for s in (3, 3, 4))
    assert all((a[1] == b[1]).all() for a, b in zip(first, again))
    assert any((a[1] != b[1]).any() for a, b in zip(first, other))


def test_a_short_sequence_still_predicts_one_word(tokenizer):
    (sequence,) = window_sequences(tokenizer, ["zebrafish"], max_length=16, stride=0)
    ((_, labels),) = _masked(tokenizer, [sequence])
    assert (labels != IGNORE_INDEX).sum() == (sequence.word_ids != NO_WORD).sum()


def test_bad_settings():
    with pytest.raises(ValueError, match="masking probability"):
        MaskingSettings(probability=0.0)
    with pytest.raises(ValueError, match="sum to at most 1"):
        MaskingSettings(mask_share=0.8, random_share=0.3)
