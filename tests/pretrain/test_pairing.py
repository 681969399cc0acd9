"""Next-sentence pairs: labels, true next sentences, random ones from other docs."""

import numpy
import pytest
from transformers import AutoTokenizer

from spacy_bert_tasks.pretrain.pairing import IS_NEXT, IS_RANDOM, count_pairs, sample_pairs
from spacy_bert_tasks.pretrain.sequences import pair_sequences

DOCS = [[f"doc{d} sentence{s}" for s in range(5)] for d in range(40)] + [["lonely sentence"]]


def test_labels_say_where_the_second_sentence_comes_from():
    firsts, seconds, labels = sample_pairs(DOCS, numpy.random.default_rng(0))
    assert len(firsts) == count_pairs(DOCS) == 40 * 4
    assert abs(sum(label == IS_NEXT for label in labels) / len(labels) - 0.5) < 0.1
    for first, second, label in zip(firsts, seconds, labels):
        doc, sentence = first.split()
        if label == IS_NEXT:
            assert second == f"{doc} sentence{int(sentence[8:]) + 1}"
        else:
            assert label == IS_RANDOM and not second.startswith(doc + " ")


def test_pairs_are_drawn_anew_with_another_generator():
    assert sample_pairs(DOCS, numpy.random.default_rng(0)) == sample_pairs(
        DOCS, numpy.random.default_rng(0)
    )
    assert (
        sample_pairs(DOCS, numpy.random.default_rng(0))[2]
        != sample_pairs(DOCS, numpy.random.default_rng(1))[2]
    )


def test_one_doc_is_not_enough():
    with pytest.raises(ValueError, match="at least 2 docs"):
        sample_pairs(DOCS[:1], numpy.random.default_rng(0))


def test_pair_sequences_segments_and_words(tiny_bert):
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert, use_fast=True)
    (pair,) = pair_sequences(
        tokenizer, ["john visited london"], ["mary said hello"], [IS_NEXT], max_length=64
    )
    tokens = tokenizer.convert_ids_to_tokens(pair.input_ids.tolist())
    assert (
        tokens[0] == "[CLS]" and tokens.count("[SEP]") == 2 and pair.next_sentence_label == IS_NEXT
    )
    second = tokens.index("[SEP]") + 1
    assert set(pair.token_type_ids[:second]) == {0} and set(pair.token_type_ids[second:]) == {1}
    # Word ids run on across the segments: a word of A never merges with a word of B.
    assert len(set(pair.word_ids[pair.word_ids >= 0].tolist())) == pair.n_words == 6
    (cut,) = pair_sequences(tokenizer, ["john " * 50], ["mary"], [IS_RANDOM], max_length=16)
    assert len(cut) == 16 and "mary" in tokenizer.decode(
        cut.input_ids
    )  # the longer segment is trimmed
