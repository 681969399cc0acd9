"""The heads' connection to the shared encoder.

`EncoderListener` is spacy-transformers' TransformerListener with two fixes:
- it fails with a clear message when a doc carries no encoder output, where the stock listener
  silently feeds zeros to the head (a disabled or missing encoder then yields garbage);
- the head that owns the pipeline's last listener releases `doc._.trf_data` once it has
  annotated the docs (`release_encoder_output`, called by contract.EncoderHead alone), so
  processed docs do not keep the encoder's activations (kilobytes per token) unless the encoder
  is told to.
The encoder component sets `upstream_component` and `releases_trf_data` when it links listeners.
"""

from typing import Iterable, List, Optional

from spacy.tokens import Doc
from spacy.util import registry
from spacy_transformers.data_classes import TransformerData
from spacy_transformers.layers import TransformerListener
from thinc.api import Model, chain
from thinc.types import Floats2d, Ragged

from .cls_vectors import cls_vectors
from .token_pooling import pooled_token_vectors


class EncoderListener(TransformerListener):
    """Receives the shared encoder's output for a batch; see the module docstring."""

    def __init__(self, upstream_name: str = "*"):
        super().__init__(upstream_name)
        self._func = forward
        self.init = remember_initialization_batch
        self.upstream_component: Optional[str] = None
        self.releases_trf_data = False
        # Components infer their shapes in `initialize` by running the model on sample docs that
        # no encoder has processed; only that batch may get zeros.
        self._initialization_batch_id: Optional[int] = None


def remember_initialization_batch(model: EncoderListener, X=None, Y=None) -> None:
    model._initialization_batch_id = id(X) if X is not None else None


def forward(model: EncoderListener, docs: List[Doc], is_train: bool):
    if is_train and model._batch_id is not None:
        model.verify_inputs(docs)
        return model._outputs, model.backprop_and_clear
    # Prediction, or training with a frozen encoder that annotates the docs.
    outputs = [_stored_output(model, doc, docs) for doc in docs]
    return outputs, lambda d_outputs: []


def release_encoder_output(head_model: Model, docs: Iterable[Doc]) -> None:
    """Drop doc._.trf_data if `head_model` holds the encoder's last listener.

    EncoderHead calls this once a head has annotated docs (never in `predict`, which must not
    change docs). A head whose listener is not the last, or an encoder with keep_trf_data,
    keeps it.
    """
    if any(
        isinstance(node, EncoderListener) and node.releases_trf_data for node in head_model.walk()
    ):
        for doc in docs:
            doc._.trf_data = None


def _stored_output(model: EncoderListener, doc: Doc, batch: List[Doc]) -> TransformerData:
    data = doc._.trf_data if Doc.has_extension("trf_data") else None
    if data is not None:
        return data
    if id(batch) == model._initialization_batch_id:
        return TransformerData.zeros(len(doc), model.get_dim("nO"), xp=model.ops.xp)
    if model.upstream_component is None:
        raise ValueError(
            f"No encoder is linked to this listener (upstream '{model.upstream_name}'). Add a "
            "'bert_transformer' component before the components that listen to it."
        )
    raise ValueError(
        f"A doc reached a head without the output of encoder '{model.upstream_component}' "
        f"(doc._.trf_data is None; doc starts {doc.text[:40]!r}). The encoder must run on the "
        "doc in the same pipeline call: is it disabled? If you run components one by one, set "
        "keep_trf_data = true on the encoder so the last head does not release the output."
    )


@registry.architectures("spacy-bert-tasks.TokenVectorListener.v1")
def build_token_vector_listener(
    pooling: Model[Ragged, Floats2d], grad_factor: float = 1.0, upstream: str = "*"
) -> Model[List[Doc], List[Floats2d]]:
    """One vector per spaCy token from the shared encoder, pooled over its wordpieces.

    pooling (Model[Ragged, Floats2d]): Reduces a token's wordpiece vectors (and those of the
        overlapping windows it falls in) to one, e.g. reduce_mean.v1 or reduce_first.v1.
    grad_factor (float): Scales this head's gradient into the encoder (0 freezes it for this head).
    upstream (str): Name of the encoder component, or '*' for any.
    """
    listener = EncoderListener(upstream)
    model = chain(listener, pooled_token_vectors(pooling, grad_factor))
    model.set_ref("listener", listener)
    return model


@registry.architectures("spacy-bert-tasks.ClsVectorListener.v1")
def build_cls_vector_listener(
    grad_factor: float = 1.0, upstream: str = "*", pooling: str = "cls"
) -> Model[List[Doc], Floats2d]:
    """One vector per doc: the encoder's final [CLS] state ("cls") or the mean of its final
    wordpiece states ("mean"), averaged over the doc's windows (see layers/cls_vectors.py).

    grad_factor (float): Scales this head's gradient into the encoder.
    upstream (str): Name of the encoder component, or '*' for any.
    pooling (str): "cls" (BERT's sequence representation) or "mean" (what sentence-embedding
        encoders such as all-MiniLM-L6-v2 were trained to produce).
    """
    listener = EncoderListener(upstream)
    model = chain(listener, cls_vectors(grad_factor, pooling))
    model.set_ref("listener", listener)
    return model
