"""The span-QA output layer: a start and an end logit per wordpiece, as in BERT's SQuAD head."""
from typing import Callable, Tuple

from spacy.util import registry
from thinc.api import Dropout, Linear, Model, chain
from thinc.types import Floats3d


@registry.architectures("spacy-bert-tasks.SpanQAHead.v1")
def build_span_qa_head(dropout: float = 0.1) -> Model[Floats3d, Floats3d]:
    """One linear layer from each wordpiece's final hidden state to (start, end) logits.

    The model holds only this layer: the encoder it reads belongs to the `bert_transformer`
    component, which the QA component reaches through its link (one copy of the weights).
    dropout (float): Dropout on the hidden states during training.
    RETURNS (Model[Floats3d, Floats3d]): (windows, length, width) -> (windows, length, 2).
    """
    output_layer = Linear(nO=2)
    model = Model(
        "span_qa_head", forward, init=init, layers=[chain(Dropout(dropout), output_layer)]
    )
    model.set_ref("output_layer", output_layer)
    return model


def init(model: Model, X=None, Y=None) -> None:
    # The component sets the output layer's input width from the encoder before this runs.
    model.layers[0].initialize()


def forward(model: Model, hidden: Floats3d, is_train: bool) -> Tuple[Floats3d, Callable]:
    # thinc's with_reshape restores the gradient to the OUTPUT width; the input width is needed.
    n_windows, length, width = hidden.shape
    flat, backprop_flat = model.layers[0](model.ops.reshape2f(hidden, -1, width), is_train)

    def backprop(d_logits: Floats3d) -> Floats3d:
        d_flat = backprop_flat(model.ops.reshape2f(d_logits, -1, 2))
        return model.ops.reshape3f(d_flat, n_windows, length, width)

    return model.ops.reshape3f(flat, n_windows, length, 2), backprop
