"""The shared BERT encoder: a spacy-transformers Transformer that never loses a head's gradient.

The exports import their module on first use (see ..lazy): `encoder.names` stays free of torch.
"""

from ..lazy import lazy_exports

_EXPORTS = {
    "BertTransformer": ".component",
    "make_bert_transformer": ".component",
    "build_bert_encoder": ".model",
    "build_token_vector_encoder": ".standalone",
    "build_cls_vector_encoder": ".standalone",
    "EMBEDDED_ENCODER": ".names",
    "resolve_encoder_name": ".names",
}
__all__ = list(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
