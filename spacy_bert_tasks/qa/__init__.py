"""The `bert_qa` head: extractive span QA on the shared encoder, with SQuAD data and metrics."""
from .component import SpanQuestionAnswerer, make_bert_qa
from .extensions import install_qa_extensions
from .model import build_span_qa_head

__all__ = ["SpanQuestionAnswerer", "make_bert_qa", "build_span_qa_head", "install_qa_extensions"]
