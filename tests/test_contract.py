"""The encoder-head contract (spacy_bert_tasks/contract.py), seen from a user's own head.

`TokenSentiment` below is what a user writes: a head that tags each token POS, NEG or O from
the shared encoder's token vectors, built only from the contract (`EncoderHead`) and the
registered listener, with no reach into the encoder. It trains jointly with NER, textcat and QA.
"""

from itertools import islice
from typing import Dict, List

import numpy
import pytest
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.training import Example, validate_get_examples
from thinc.api import Config, Model, SequenceCategoricalCrossentropy, Softmax_v2, chain, with_array
from util import (
    adam,
    add_qa,
    both_examples,
    encoder_grads,
    make_nlp,
    qa_docs,
    qa_examples,
    train_steps,
)

from spacy_bert_tasks.contract import EncoderHead, EncoderPort
from spacy_bert_tasks.layers import EncoderListener, PairLink

SENTIMENT_DATA = [
    ("john loves london", ["O", "POS", "O"]),
    ("mary hates paris", ["O", "NEG", "O"]),
    ("paul likes the movie", ["O", "POS", "O", "O"]),
    ("the film was the worst", ["O", "O", "O", "O", "NEG"]),
]
SENTIMENT_LABELS = ["NEG", "O", "POS"]
SENTIMENT_MODEL = """
[model]
@architectures = "spacy-bert-tasks.TokenVectorListener.v1"
grad_factor = 1.0
upstream = "*"

[model.pooling]
@layers = "reduce_mean.v1"
"""


@Language.factory(
    "test_token_sentiment",
    default_config={"model": Config().from_str(SENTIMENT_MODEL)["model"]},
)
def make_token_sentiment(nlp: Language, name: str, model: Model) -> "TokenSentiment":
    return TokenSentiment(
        nlp.vocab, chain(model, with_array(Softmax_v2(nO=len(SENTIMENT_LABELS)))), name
    )


class TokenSentiment(EncoderHead, TrainablePipe):
    """Token-level sentiment in token.tag_; learns from docs with tags only."""

    def __init__(self, vocab, model: Model, name: str):
        self.vocab, self.model, self.name, self.cfg = vocab, model, name, {}

    def learns_from(self, example: Example) -> bool:
        return example.reference.has_annotation("TAG")

    def initialize(self, get_examples, *, nlp=None) -> None:
        validate_get_examples(get_examples, "TokenSentiment.initialize")
        self.model.initialize(X=[eg.predicted for eg in islice(get_examples(), 4)])

    def predict(self, docs):
        return self.model.predict(docs)

    def set_annotations(self, docs, scores) -> None:
        for doc, doc_scores in zip(docs, scores):
            for token, row in zip(doc, doc_scores.argmax(axis=1)):
                token.tag_ = SENTIMENT_LABELS[int(row)]

    def get_loss(self, examples: List[Example], scores):
        truths = [
            [tag or None for tag in eg.get_aligned("TAG", as_string=True)]
            if self.learns_from(eg)
            else [None] * len(eg.predicted)
            for eg in examples
        ]
        loss_func = SequenceCategoricalCrossentropy(names=SENTIMENT_LABELS, missing_value=None)
        d_scores, loss = loss_func(scores, truths)
        return float(loss), d_scores


def sentiment_examples(nlp) -> List[Example]:
    return [Example.from_dict(nlp.make_doc(text), {"tags": tags}) for text, tags in SENTIMENT_DATA]


def four_heads(tiny_bert):
    nlp = make_nlp(tiny_bert, ("ner", "textcat"))
    nlp.add_pipe("test_token_sentiment", name="sentiment")
    add_qa(nlp)
    examples = both_examples(nlp) + sentiment_examples(nlp) + qa_examples(nlp)
    nlp.initialize(lambda: examples)
    return nlp, examples


@pytest.fixture(scope="module")
def trained(tiny_bert):
    nlp, examples = four_heads(tiny_bert)
    train_steps(nlp, examples, adam(0.003), 40, batch_size=4, shuffle=True)
    return nlp, examples


def test_encoder_offers_the_port_and_links_every_head(tiny_bert):
    nlp, _ = four_heads(tiny_bert)
    encoder = nlp.get_pipe("transformer")
    assert isinstance(encoder, EncoderPort)
    assert encoder.width == 32 and encoder.tokenizer.pad_token_id == 0
    # Doc-pass heads through listeners, QA through its pair link: one search found them all.
    assert encoder.listening_components == ["ner", "textcat", "sentiment"]
    assert nlp.get_pipe("qa").encoder is encoder
    links = [node for node in nlp.get_pipe("qa").model.walk() if isinstance(node, PairLink)]
    assert [link.port for link in links] == [encoder]
    # Only the last doc-pass head releases the encoder output.
    releases = {
        name: any(getattr(n, "releases_trf_data", False) for n in nlp.get_pipe(name).model.walk())
        for name in ("ner", "textcat", "sentiment")
    }
    assert releases == {"ner": False, "textcat": False, "sentiment": True}
    assert any(isinstance(node, EncoderListener) for node in nlp.get_pipe("sentiment").model.walk())


def test_encode_docs_is_the_doc_pass(tiny_bert):
    nlp, _ = four_heads(tiny_bert)
    encoder = nlp.get_pipe("transformer")
    docs = [nlp.make_doc("john visited london"), nlp.make_doc("")]
    data = encoder.encode_docs(docs)
    assert data[0].tensors[0].shape[-1] == encoder.width
    assert len(data) == 2 and not data[1].tensors
    # The same output the encoder component gives the listeners in the pipeline.
    piped = encoder(nlp.make_doc("john visited london"))._.trf_data
    assert numpy.allclose(data[0].tensors[0], piped.tensors[0], atol=1e-6)


def test_user_head_gradient_reaches_the_encoder(trained):
    nlp, _ = trained  # trained: a softmax at its initial zeros passes no gradient back
    grads = encoder_grads(nlp, sentiment_examples(nlp))
    assert sum(bool(grad.abs().sum() > 0) for grad in grads.values()) >= 0.9 * len(grads)


def test_user_head_trains_jointly_with_the_others(trained):
    nlp, examples = trained
    scores = nlp.evaluate(examples)
    assert scores["ents_f"] == 1.0
    assert scores["cats_score"] == 1.0
    assert scores["qa_exact"] == 1.0
    for text, tags in SENTIMENT_DATA:
        doc = nlp(text)
        assert [t.tag_ for t in doc] == tags
        # The user's head holds the last listener: it released the encoder output.
        assert doc._.trf_data is None
    for doc in nlp.pipe(qa_docs(nlp)):
        assert doc.spans["answers"] and doc._.trf_data is None


def test_user_head_skips_batches_it_cannot_learn_from(trained):
    nlp, examples = trained
    losses: Dict[str, float] = {}
    nlp.update(both_examples(nlp), sgd=False, losses=losses)
    assert losses["sentiment"] == 0.0 and losses["ner"] > 0.0
    nlp.get_pipe("transformer").backward_pending()
