"""The shared BERT encoder: a spacy-transformers Transformer that never loses a head's gradient."""
from .component import BertTransformer, make_bert_transformer
from .model import build_bert_encoder
from .names import EMBEDDED_ENCODER, resolve_encoder_name
from .standalone import build_cls_vector_encoder, build_token_vector_encoder

__all__ = [
    "BertTransformer",
    "make_bert_transformer",
    "build_bert_encoder",
    "build_token_vector_encoder",
    "build_cls_vector_encoder",
    "EMBEDDED_ENCODER",
    "resolve_encoder_name",
]
