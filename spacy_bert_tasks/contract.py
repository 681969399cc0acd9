"""The one contract between the shared encoder and the heads that read it.

The encoder side, `EncoderPort`, is what a head may use of the `bert_transformer` component: its
tokenizer, its width, and its two passes. The head side, `EncoderHead`, is what a head declares:

- which pass it reads, by the link layer in its thinc model: an `EncoderListener`
  (layers/listener.py) for the doc pass that every doc-pass head shares, a `PairLink`
  (layers/pair_link.py) for a pass of its own over pre-tokenized input (QA's question-context
  pairs). Both are parameter-free and never serialised; the encoder finds them by walking the
  head's model whenever spaCy (re)links the pipeline (`find_listeners`), so nothing else wires
  them: add_pipe, rename, sourcing, loading and initialize all go through that search.
- which training examples it learns from (`learns_from`): the encoder's doc pass in training skips
  the docs no doc-pass head learns from, and a head skips a batch it learns nothing from.

`EncoderHead` also owns the one place where `doc._.trf_data` is released: after the head that
holds the encoder's last listener has annotated the docs (the encoder decides which head that
is when it links them, and keeps the data when `keep_trf_data` is set).

A head written against this contract (see tests/test_contract.py) trains jointly with the
shipped ones and needs nothing from the encoder's internals.
"""

from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Optional,
    Protocol,
    Tuple,
    runtime_checkable,
)

from spacy.pipeline import Pipe
from spacy.tokens import Doc
from spacy.training import Example, validate_examples
from spacy.util import minibatch
from spacy_transformers.data_classes import TransformerData, WordpieceBatch
from thinc.types import Floats3d

from .layers.listener import EncoderListener, release_encoder_output
from .layers.pair_link import PairLink


@runtime_checkable
class EncoderPort(Protocol):
    """What the shared encoder offers its heads (implemented by `BertTransformer`)."""

    name: str

    @property
    def tokenizer(self) -> Any:
        """The encoder's Hugging Face fast tokenizer (pad_token_id, model_max_length, ...)."""

    @property
    def width(self) -> int:
        """The width of the encoder's hidden states."""

    def encode_docs(self, docs: List[Doc]) -> List[TransformerData]:
        """The doc pass for `docs`, without gradient: one TransformerData per doc."""

    def encode_pairs(
        self, wordpieces: WordpieceBatch, *, is_train: bool
    ) -> Tuple[Floats3d, Callable[[Floats3d], None]]:
        """A pass over pre-tokenized input (e.g. question-context pairs) through the same
        weights: last hidden states (rows, length, width) and a callback taking their gradient,
        which joins the step's single backward pass."""


class EncoderHead:
    """Base for a trainable pipe that reads the shared encoder (mix in before the spaCy class).

    Subclasses override `learns_from`; the rest of their pipe is spaCy's usual predict,
    set_annotations, get_loss. They never release `doc._.trf_data` themselves.
    """

    model: Any

    @property
    def name(self) -> str:
        return Pipe.name.__get__(self)

    @name.setter
    def name(self, value: str) -> None:
        # spaCy sets every component's name first whenever it (re)links the pipeline (add_pipe,
        # remove_pipe, rename_pipe, loading), then has each encoder find its heads' links again.
        # Dropping the links here leaves none to an encoder that left the pipeline.
        Pipe.name.__set__(self, value)
        self.unlink_encoder()

    def unlink_encoder(self) -> None:
        """Drop this head's links to an encoder (until an encoder in the pipeline finds them)."""
        model = getattr(self, "model", None)
        for node in model.walk() if model is not None else ():
            if isinstance(node, PairLink):
                node.attach(None)
            elif isinstance(node, EncoderListener):
                node.upstream_component = None
                node.releases_trf_data = False

    def learns_from(self, example: Example) -> bool:
        """Whether the example carries this head's annotation (default: every example).

        example (Example): A training example.
        RETURNS (bool): False when the head's loss would mask the example out entirely.
        """
        return True

    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd=None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        """`learn` on the batch, skipped when the head learns nothing from any example of it.

        The encoder does not wait for a head that skips: it backpropagates what the others sent.
        """
        examples = list(examples)
        validate_examples(examples, f"{type(self).__name__}.update")
        if losses is None:
            losses = {}
        losses.setdefault(self.name, 0.0)
        if not any(self.learns_from(eg) for eg in examples):
            return losses
        return self.learn(examples, drop=drop, sgd=sgd, losses=losses)

    def learn(
        self, examples: List[Example], *, drop: float, sgd, losses: Dict[str, float]
    ) -> Dict[str, float]:
        """The update proper: by default the spaCy class's predict -> get_loss -> backprop.

        The whole batch goes in (a doc-pass head's listener must see the batch the encoder
        encoded); `get_loss` masks the examples the head does not learn from.
        """
        return super().update(examples, drop=drop, sgd=sgd, losses=losses)

    def __call__(self, doc: Doc) -> Doc:
        doc = super().__call__(doc)
        release_encoder_output(self.model, [doc])
        return doc

    def pipe(self, stream: Iterable[Doc], *, batch_size: int = 128) -> Iterator[Doc]:
        # spaCy's pipe, a batch at a time: the docs leave with their encoder output released.
        for batch in minibatch(stream, size=batch_size):
            docs = list(super().pipe(batch, batch_size=batch_size))
            release_encoder_output(self.model, docs)
            yield from docs
