"""The shared BERT encoder: a spacy-transformers Transformer that never loses a head's gradient."""
from .component import BertTransformer, make_bert_transformer
from .model import build_bert_encoder
from .names import EMBEDDED_ENCODER, resolve_encoder_name

__all__ = [
    "BertTransformer",
    "make_bert_transformer",
    "build_bert_encoder",
    "EMBEDDED_ENCODER",
    "resolve_encoder_name",
]
