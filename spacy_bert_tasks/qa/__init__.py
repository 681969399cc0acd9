"""The `bert_qa` head: extractive span QA on the shared encoder, with SQuAD data and metrics.

The exports import their module on first use (see ..lazy): `qa.extensions` stays free of torch.
"""

from ..lazy import lazy_exports

_EXPORTS = {
    "SpanQuestionAnswerer": ".component",
    "make_bert_qa": ".component",
    "build_span_qa_head": ".model",
    "install_qa_extensions": ".extensions",
}
__all__ = list(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
