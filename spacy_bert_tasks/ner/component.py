"""The `bert_ner` component."""

from itertools import islice
from typing import Callable, Dict, Iterable, List, Optional, Sequence

import numpy
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc, Span, SpanGroup
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.vocab import Vocab
from thinc.api import Config, Model, SequenceCategoricalCrossentropy, to_numpy
from thinc.types import Floats2d

from ..contract import EncoderHead
from .decoding import decode_valid_tags, entity_spans
from .tags import gold_tag, tag_names, transition_masks

DEFAULT_MODEL_CONFIG = """
[model]
@architectures = "spacy-bert-tasks.TokenClassifier.v1"
dropout = 0.1

[model.tok2vec]
@architectures = "spacy-bert-tasks.TokenVectorListener.v1"
grad_factor = 1.0
upstream = "*"

[model.tok2vec.pooling]
@layers = "reduce_mean.v1"
"""
DEFAULT_MODEL = Config().from_str(DEFAULT_MODEL_CONFIG)["model"]


@Language.factory(
    "bert_ner",
    assigns=["doc.ents", "token.ent_iob", "token.ent_type", "doc.spans"],
    default_config={
        "model": DEFAULT_MODEL,
        "tag_scheme": "BILUO",
        "spans_key": "ents",
        "scorer": {"@scorers": "spacy.ner_scorer.v1"},
    },
    default_score_weights={"ents_f": 1.0, "ents_p": 0.0, "ents_r": 0.0, "ents_per_type": None},
)
def make_bert_ner(
    nlp: Language,
    name: str,
    model: Model[List[Doc], List[Floats2d]],
    tag_scheme: str,
    spans_key: Optional[str],
    scorer: Optional[Callable],
) -> "BertEntityRecognizer":
    """Named entities from a token classifier on the shared encoder.

    model (Model[List[Doc], List[Floats2d]]): Tag probabilities per token.
    tag_scheme (str): "BILUO" or "BIO" (IOB2, as in the BERT paper).
    spans_key (Optional[str]): Also store the entities in doc.spans[spans_key], with their
        confidence scores in the group's attrs["scores"]; None to skip.
    scorer (Optional[Callable]): Entity P/R/F, overall and per type.
    """
    return BertEntityRecognizer(
        nlp.vocab, model, name, tag_scheme=tag_scheme, spans_key=spans_key, scorer=scorer
    )


class BertEntityRecognizer(EncoderHead, TrainablePipe):
    """Predicts one tag per token and decodes the best valid tag sequence into entities.

    Each entity gets a confidence score: the geometric mean of the probabilities of its tokens'
    decoded tags (see `decoding.entity_spans`), found in doc.spans[spans_key].attrs["scores"].
    Docs without entity annotation (all tokens missing) are masked in the loss, so a corpus may
    mix NER docs with docs annotated for other tasks only.
    """

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str = "bert_ner",
        *,
        tag_scheme: str = "BILUO",
        spans_key: Optional[str] = "ents",
        scorer: Optional[Callable] = None,
    ):
        self.vocab = vocab
        self.model = model
        self.name = name
        self.scorer = scorer
        tag_names([], tag_scheme)  # validates the scheme
        self.cfg: Dict = {"labels": [], "tag_scheme": tag_scheme, "spans_key": spans_key}

    @property
    def labels(self) -> tuple:
        return tuple(self.cfg["labels"])

    @property
    def label_data(self) -> List[str]:
        return list(self.labels)

    @property
    def tags(self) -> List[str]:
        """All tag names, in the order of the model's output columns."""
        return tag_names(self.labels, self.cfg["tag_scheme"])

    def add_label(self, label: str) -> int:
        if not isinstance(label, str):
            raise ValueError(f"Entity labels are strings, got {label!r}.")
        if label in self.labels:
            return 0
        if self.model.get_ref("output_layer").has_dim("nO"):
            raise ValueError(
                f"Cannot add label '{label}' to '{self.name}' after it was initialized: its "
                "output layer is sized for its labels. Pass all labels to initialize."
            )
        self.cfg["labels"].append(label)
        return 1

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        labels: Optional[Sequence[str]] = None,
    ) -> None:
        """Set the labels (from `labels` or the examples' entities) and size the model."""
        validate_get_examples(get_examples, f"{type(self).__name__}.initialize")
        if labels is None:
            found = {ent.label_ for eg in get_examples() for ent in eg.reference.ents}
            labels = sorted(set(self.labels) | found)
        if not labels:
            raise ValueError(
                f"'{self.name}' found no entity labels in its training examples. Give "
                "annotated docs (doc.ents) or `labels` in [initialize.components]."
            )
        self.cfg["labels"] = list(labels)
        self.model.get_ref("output_layer").set_dim("nO", len(self.tags))
        doc_sample = [eg.predicted for eg in islice(get_examples(), 10)]
        self.model.initialize(X=doc_sample)

    def predict(self, docs: Iterable[Doc]) -> List[Floats2d]:
        """Tag probabilities per token, one (n_tokens, n_tags) array per doc."""
        docs = list(docs)
        self._require_initialized()
        if not any(len(doc) for doc in docs):
            return [self.model.ops.alloc2f(len(doc), len(self.tags)) for doc in docs]
        return self.model.predict(docs)

    def set_annotations(self, docs: Iterable[Doc], tag_probs: List[Floats2d]) -> None:
        """Decode each doc's best valid tag sequence; set doc.ents and the scored span group."""
        start, allowed, end = self._transition_masks()
        tags, scheme, key = self.tags, self.cfg["tag_scheme"], self.cfg["spans_key"]
        for doc, probs in zip(docs, tag_probs):
            probs = to_numpy(probs)
            path = decode_valid_tags(probs, start, allowed, end)
            found = entity_spans(
                [tags[i] for i in path], probs[numpy.arange(len(path)), path], scheme
            )
            spans = [Span(doc, first, last, label=label) for first, last, label, _ in found]
            doc.set_ents(spans, default="outside")
            if key is not None:
                scores = [score for *_, score in found]
                doc.spans[key] = SpanGroup(doc, name=key, spans=spans, attrs={"scores": scores})

    def learns_from(self, example: Example) -> bool:
        """Whether the example has entity annotation: without it, its loss is masked out.

        The shared encoder asks this so that its doc pass in training skips docs no head
        learns from (e.g. the QA docs of a joint corpus).
        """
        return example.reference.has_annotation("ENT_IOB")

    def get_loss(self, examples: Iterable[Example], tag_probs: List[Floats2d]):
        """Cross-entropy per token; tokens with unknown gold (missing, misaligned) are masked."""
        validate_examples(examples, f"{type(self).__name__}.get_loss")
        known = set(self.tags)
        truths = []
        for eg in examples:
            gold = [gold_tag(tag, self.cfg["tag_scheme"]) for tag in eg.get_aligned_ner()]
            truths.append([tag if tag in known else None for tag in gold])
        loss_func = SequenceCategoricalCrossentropy(
            names=self.tags, normalize=False, missing_value=None
        )
        d_probs = loss_func.get_grad(tag_probs, truths)
        column = {tag: i for i, tag in enumerate(self.tags)}
        loss = 0.0
        for probs, doc_truths in zip(tag_probs, truths):
            rows = [i for i, tag in enumerate(doc_truths) if tag is not None]
            cols = [column[doc_truths[i]] for i in rows]
            loss -= float(self.model.ops.xp.log(probs[rows, cols] + 1e-12).sum())
        return loss, d_probs

    def _transition_masks(self):
        # Cached per tag set: labels change only in initialize or when loading.
        key = (tuple(self.tags), self.cfg["tag_scheme"])
        if getattr(self, "_masks_key", None) != key:
            self._masks = transition_masks(*key)
            self._masks_key = key
        return self._masks

    def _require_initialized(self) -> None:
        if not self.model.get_ref("output_layer").has_dim("nO"):
            raise ValueError(
                f"'{self.name}' is not initialized: call nlp.initialize() (or train it) first."
            )
