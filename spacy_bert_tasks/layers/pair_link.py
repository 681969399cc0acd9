"""A head's link to a pass of its own through the shared encoder (QA's question-context pairs).

`PairLink` is the pair-pass counterpart of `EncoderListener`: a parameter-free layer in the
head's model that the encoder finds when spaCy links the pipeline (`find_listeners`) and
attaches itself to. It holds the encoder component only as a plain attribute: never in the
model tree (the weights would be saved, and stepped by the optimizer, twice), never serialised,
and replaced at every relink (loading builds a new encoder). Its forward is the encoder's
`encode_pairs`: the gradient joins the encoder's single backward pass of the step.
"""

from typing import Callable, Optional, Tuple

from spacy_transformers.data_classes import WordpieceBatch
from thinc.api import Model
from thinc.types import Floats3d

InT = WordpieceBatch
OutT = Floats3d


class PairLink(Model):
    """WordpieceBatch -> last hidden states, through the linked encoder's pair pass."""

    name = "encoder-pair-link"

    def __init__(self, upstream_name: str = "*"):
        Model.__init__(self, name=self.name, forward=forward)
        self.upstream_name = upstream_name
        self.port = None  # the linked EncoderPort, set by the encoder's listener search

    def attach(self, port) -> None:
        """Called by the encoder when it links the component holding this layer."""
        self.port = port

    def linked_port(self, head_name: str):
        """The linked encoder; a clear error naming `head_name` when there is none.

        RETURNS (EncoderPort): The encoder component.
        """
        if self.port is None:
            raise ValueError(
                f"'{head_name}' is not linked to an encoder: add a 'bert_transformer' component "
                f"before it in the pipeline (upstream setting: '{self.upstream_name}')."
            )
        return self.port


def forward(model: PairLink, wordpieces: InT, is_train: bool) -> Tuple[OutT, Callable]:
    return model.linked_port(model.name).encode_pairs(wordpieces, is_train=is_train)


def find_pair_links(model: Model, encoder_name: str):
    """The PairLink nodes of `model` whose upstream is `encoder_name` or '*'."""
    names = ("*", encoder_name)
    return [
        node for node in model.walk() if isinstance(node, PairLink) and node.upstream_name in names
    ]


def pair_link_of(model: Model) -> Optional[PairLink]:
    """The model's PairLink, if it has one."""
    return next((node for node in model.walk() if isinstance(node, PairLink)), None)
