"""The span-QA model: the encoder's pair pass, then a start and an end logit per wordpiece."""

from typing import Callable, Tuple

from spacy.util import registry
from spacy_transformers.data_classes import WordpieceBatch
from thinc.api import Dropout, Linear, Model, chain
from thinc.types import Floats3d

from ..layers.pair_link import PairLink

InT = WordpieceBatch
OutT = Floats3d


@registry.architectures("spacy-bert-tasks.SpanQAHead.v1")
def build_span_qa_head(dropout: float = 0.1, upstream: str = "*") -> Model[InT, OutT]:
    """BERT's SQuAD head: one linear layer from each wordpiece's final hidden state to (start,
    end) logits, over the shared encoder's pass on the question-context windows.

    The pass goes through a `PairLink`, which the `bert_transformer` component links when spaCy
    links the pipeline, as it links the other heads' listeners: the model holds no copy of the
    encoder, and its gradient lands in the encoder's weights.
    dropout (float): Dropout on the hidden states during training.
    upstream (str): Name of the encoder component, or '*' for any.
    RETURNS (Model[WordpieceBatch, Floats3d]): Padded windows -> (windows, length, 2).
    """
    link = PairLink(upstream)
    output_layer = Linear(nO=2)
    model = Model(
        "span_qa_head", forward, init=init, layers=[link, chain(Dropout(dropout), output_layer)]
    )
    model.set_ref("encoder_link", link)
    model.set_ref("output_layer", output_layer)
    return model


def init(model: Model, X=None, Y=None) -> None:
    # The component sets the output layer's input width from the encoder before this runs
    # (no sample batch: the encoder is not asked for a pass at initialization).
    model.layers[1].initialize()


def forward(model: Model, wordpieces: InT, is_train: bool) -> Tuple[OutT, Callable]:
    link, output = model.layers
    hidden, backprop_encoder = link(wordpieces, is_train)
    # thinc's with_reshape restores the gradient to the OUTPUT width; the input width is needed.
    n_windows, length, width = hidden.shape
    flat, backprop_flat = output(model.ops.reshape2f(hidden, -1, width), is_train)

    def backprop(d_logits: OutT) -> None:
        d_flat = backprop_flat(model.ops.reshape2f(d_logits, -1, 2))
        backprop_encoder(model.ops.reshape3f(d_flat, n_windows, length, width))

    return model.ops.reshape3f(flat, n_windows, length, 2), backprop
