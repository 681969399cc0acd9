"""Helpers of the int8 tests: a tiny NER pipeline that keeps the encoder output on its docs."""

from util import make_nlp, ner_examples

TEXTS = ["john visited london", "a good movie in new york", "paris"]


def int8_nlp(tiny_bert, **transformer):
    """An initialized NER pipeline on the tiny BERT; `transformer`: bert_transformer settings."""
    nlp = make_nlp(tiny_bert, ("ner",), transformer={"keep_trf_data": True, **transformer})
    nlp.initialize(lambda: ner_examples(nlp))
    return nlp


def hidden_states(nlp):
    """The encoder's last hidden states of each of TEXTS."""
    return [doc._.trf_data.model_output.last_hidden_state for doc in nlp.pipe(TEXTS)]
