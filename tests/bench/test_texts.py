"""Texts of chosen counts and lengths (bench/texts.py), on the shared datasets when present."""

import pytest
from harness import common, texts
from util import require_shared_data


@pytest.fixture
def needs_data():
    require_shared_data(common.SQUAD_DEV, texts.CONLL_TRAIN)


@pytest.mark.usefixtures("needs_data")
def test_long_texts_have_exact_word_counts_and_differ():
    found = texts.long_texts(3, 250)
    assert [len(text.split()) for text in found] == [250, 250, 250]
    assert len(set(found)) == 3


@pytest.mark.usefixtures("needs_data")
def test_conll_sentences_cycle_past_the_files():
    first = texts.conll_sentences(5)
    assert len(texts.conll_sentences(20000)) == 20000
    assert texts.conll_sentences(17291 + 5)[-5:] == first
