"""The `bert_ner` head: token classification with valid-sequence decoding and entity scores."""

from .component import BertEntityRecognizer, make_bert_ner
from .model import build_token_classifier

__all__ = ["BertEntityRecognizer", "make_bert_ner", "build_token_classifier"]
