"""The converters' tokenizer, built without a Language, splits as spacy.blank(lang) does."""

import pytest
import spacy

from spacy_bert_tasks.convert.io import blank_tokenizer

TEXT = "Dr. Müller's U.S.-based start-up (est. 2019) didn't raise $5.5m, e-mail: a@b.de :-)"


@pytest.mark.parametrize("lang", ["en", "de", "fr", "xx"])
def test_same_tokens_as_spacy_blank(lang):
    assert [t.text for t in blank_tokenizer(lang)(TEXT)] == [
        t.text for t in spacy.blank(lang)(TEXT)
    ]
    assert blank_tokenizer(lang).vocab.lang == lang


def test_unknown_language_is_a_value_error():
    with pytest.raises(ValueError, match="expected a spaCy language code"):
        blank_tokenizer("zz")
