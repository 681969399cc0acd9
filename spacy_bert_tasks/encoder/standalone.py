"""A head with its own copy of the encoder, as `nlp.replace_listeners` makes it.

`replace_listeners("transformer", "ner", ["model.tok2vec"])` swaps a head's listener for a copy
of the encoder followed by `split_trf_batch`, in memory. These architectures build exactly that
structure from the head's config, so the pipeline saves and loads; `replace_listener_cfg`
(listener_cfg.py) writes their config from the encoder's and the listener's.
"""

from typing import Callable, List

from spacy.tokens import Doc
from spacy.util import registry
from spacy_transformers.layers import split_trf_batch
from thinc.api import Model, chain
from thinc.types import Floats2d, Ragged

from ..layers.cls_vectors import cls_vectors
from ..layers.token_pooling import pooled_token_vectors
from .model import build_bert_encoder


def _own_encoder(
    name,
    get_spans,
    tokenizer_config,
    transformer_config,
    mixed_precision,
    grad_scaler_config,
    train_precision,
    reader: Model,
) -> Model:
    encoder = chain(
        build_bert_encoder(
            name,
            get_spans,
            tokenizer_config,
            transformer_config,
            mixed_precision=mixed_precision,
            grad_scaler_config=grad_scaler_config,
            train_precision=train_precision,
        ),
        split_trf_batch(),
    )
    # Same node structure as a listener replaced in memory: chain(chain(encoder, split), reader).
    model = chain(encoder, reader)
    model.set_ref("listener", encoder)
    return model


@registry.architectures("spacy-bert-tasks.TokenVectorEncoder.v1")
def build_token_vector_encoder(
    name: str,
    get_spans: Callable,
    tokenizer_config: dict,
    transformer_config: dict,
    pooling: Model[Ragged, Floats2d],
    grad_factor: float = 1.0,
    mixed_precision: bool = False,
    grad_scaler_config: dict = {},
    train_precision: str = "auto",
) -> Model[List[Doc], List[Floats2d]]:
    """Token vectors from a head's own encoder (arguments as BertEncoder.v1 and the listener)."""
    return _own_encoder(
        name,
        get_spans,
        tokenizer_config,
        transformer_config,
        mixed_precision,
        grad_scaler_config,
        train_precision,
        pooled_token_vectors(pooling, grad_factor),
    )


@registry.architectures("spacy-bert-tasks.ClsVectorEncoder.v1")
def build_cls_vector_encoder(
    name: str,
    get_spans: Callable,
    tokenizer_config: dict,
    transformer_config: dict,
    grad_factor: float = 1.0,
    mixed_precision: bool = False,
    grad_scaler_config: dict = {},
    train_precision: str = "auto",
    pooling: str = "cls",
) -> Model[List[Doc], Floats2d]:
    """Doc vectors from a head's own encoder (arguments as BertEncoder.v1 and the listener)."""
    return _own_encoder(
        name,
        get_spans,
        tokenizer_config,
        transformer_config,
        mixed_precision,
        grad_scaler_config,
        train_precision,
        cls_vectors(grad_factor, pooling),
    )
