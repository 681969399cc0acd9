"""The `bert_textcat` component: spaCy's TextCategorizer with missing cats handled."""

from typing import Callable, Dict, Iterable, List, Optional

import numpy
from spacy.language import Language
from spacy.pipeline.textcat import TextCategorizer
from spacy.tokens import Doc
from spacy.training import Example, validate_examples
from thinc.api import Config, Model
from thinc.types import Floats2d

from ..contract import EncoderHead

DEFAULT_MODEL_CONFIG = """
[model]
@architectures = "spacy-bert-tasks.ClsClassifier.v1"
exclusive_classes = true
dropout = 0.1

[model.tok2vec]
@architectures = "spacy-bert-tasks.ClsVectorListener.v1"
grad_factor = 1.0
upstream = "*"
pooling = "cls"
"""
DEFAULT_MODEL = Config().from_str(DEFAULT_MODEL_CONFIG)["model"]


@Language.factory(
    "bert_textcat",
    assigns=["doc.cats"],
    default_config={
        "model": DEFAULT_MODEL,
        "threshold": 0.5,
        "scorer": {"@scorers": "spacy-bert-tasks.textcat_scorer.v1"},
    },
    default_score_weights={
        "cats_score": 1.0,
        "cats_score_desc": None,
        "cats_micro_p": None,
        "cats_micro_r": None,
        "cats_micro_f": None,
        "cats_macro_p": None,
        "cats_macro_r": None,
        "cats_macro_f": None,
        "cats_macro_auc": None,
        "cats_f_per_type": None,
        "cats_accuracy": None,
        "cats_docs_without_gold": None,
    },
)
def make_bert_textcat(
    nlp: Language,
    name: str,
    model: Model[List[Doc], Floats2d],
    threshold: float,
    scorer: Optional[Callable],
) -> "BertTextCategorizer":
    """Doc categories from the [CLS] state of the shared encoder.

    model (Model[List[Doc], Floats2d]): Label probabilities per doc. Its `exclusive_classes`
        setting decides between one label per doc (softmax) and any number (sigmoids).
    threshold (float): Multi-label: a label counts as predicted at or above this probability.
    scorer (Optional[Callable]): Scores docs that have gold cats, ignoring the rest.
    """
    return BertTextCategorizer(nlp.vocab, model, name, threshold=threshold, scorer=scorer)


class BertTextCategorizer(EncoderHead, TextCategorizer):
    """Exclusive or multi-label text classification that trains on partly annotated corpora.

    A doc with no gold cats is skipped by the loss (the stock exclusive textcat trains it toward
    all-zero). In multi-label mode each label missing from a doc's cats is skipped alone.
    """

    def __init__(self, vocab, model, name="bert_textcat", *, threshold=0.5, scorer=None):
        super().__init__(vocab, model, name, threshold=threshold, scorer=scorer)

    @property
    def multi_label(self) -> bool:
        # The architecture decides (softmax or sigmoid); the component follows it.
        return bool(self.model.attrs.get("multi_label", False))

    @property
    def support_missing_values(self) -> bool:
        return True

    def predict(self, docs: Iterable[Doc]) -> Floats2d:
        """Label probabilities per doc. An empty doc has a zero [CLS] vector, whatever its batch."""
        docs = list(docs)
        non_empty = [doc for doc in docs if len(doc)]
        output_layer = self.model.get_ref("output_layer")
        ops = self.model.ops
        scores = ops.alloc2f(len(docs), len(self.labels))
        if len(non_empty) < len(docs):
            # The stock shortcut returns zeros for an all-empty batch, unlike the same doc
            # predicted next to others; score the zero vector instead.
            scores[...] = output_layer.predict(ops.alloc2f(1, output_layer.get_dim("nI")))
        if non_empty:
            rows = ops.xp.asarray([i for i, doc in enumerate(docs) if len(doc)])
            scores[rows] = self.model.predict(non_empty)
        return scores

    def learns_from(self, example: Example) -> bool:
        """Whether the example has gold cats: without them, its loss is masked out.

        The shared encoder asks this so that its doc pass in training skips docs no head
        learns from (e.g. the QA docs of a joint corpus).
        """
        return bool(example.reference.cats)

    def _examples_to_truth(self, examples: List[Example]):
        truths = numpy.zeros((len(examples), len(self.labels)), dtype="f")
        known = numpy.zeros((len(examples), len(self.labels)), dtype="f")
        for i, eg in enumerate(examples):
            cats = eg.reference.cats
            if not cats:
                continue
            for j, label in enumerate(self.labels):
                if label in cats:
                    truths[i, j] = cats[label]
                    known[i, j] = 1.0
                elif not self.multi_label:
                    # Exclusive: labels left out of a doc's cats are negative by definition.
                    known[i, j] = 1.0
        return self.model.ops.asarray(truths), known

    def get_loss(self, examples, scores):
        """Cross-entropy: the softmax/sigmoid output layers take (scores - truth) as gradient."""
        validate_examples(examples, f"{type(self).__name__}.get_loss")
        if not self.multi_label:
            self._validate_categories(examples)
        truths, known = self._examples_to_truth(examples)
        known = self.model.ops.asarray(known)
        d_scores = (scores - truths) * known
        xp = self.model.ops.xp
        eps = 1e-7
        if self.multi_label:
            losses = -(truths * xp.log(scores + eps) + (1 - truths) * xp.log(1 - scores + eps))
        else:
            losses = -(truths * xp.log(scores + eps))
        return float((losses * known).sum()), d_scores

    def _validate_categories(self, examples: List[Example]) -> None:
        if not self.multi_label:
            super()._validate_categories(examples)

    def score(self, examples, **kwargs) -> Dict:
        # Pipe.score passes self.cfg (threshold, positive_label) and the labels.
        kwargs.setdefault("multi_label", self.multi_label)
        return super().score(examples, **kwargs)
