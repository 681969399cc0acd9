"""Thinc layers shared by the heads, one per file."""

from .cls_vectors import cls_vectors
from .listener import (
    EncoderListener,
    build_cls_vector_listener,
    build_token_vector_listener,
    release_encoder_output,
)
from .pair_link import PairLink

__all__ = [
    "EncoderListener",
    "PairLink",
    "build_token_vector_listener",
    "build_cls_vector_listener",
    "cls_vectors",
    "release_encoder_output",
]
