"""The `bert_textcat` head: [CLS] classification, exclusive or multi-label, with missing cats."""

from .component import BertTextCategorizer, make_bert_textcat
from .model import build_cls_classifier
from .scorer import make_bert_textcat_scorer, score_known_cats

__all__ = [
    "BertTextCategorizer",
    "make_bert_textcat",
    "build_cls_classifier",
    "make_bert_textcat_scorer",
    "score_known_cats",
]
