"""The config of a head's own encoder copy, as `nlp.replace_listeners` writes it.

`BertEncoderModel` hands `replace_listener_cfg` to spaCy (attrs["replace_listener_cfg"]): it maps
this package's listeners to the standalone architectures of standalone.py, which build the same
structure from config, so a pipeline with replaced listeners saves and loads.
"""

from typing import Dict

from spacy_transformers.layers._util import replace_listener_cfg as stock_replace_listener_cfg

LISTENER_TO_ENCODER = {
    "spacy-bert-tasks.TokenVectorListener.v1": (
        "spacy-bert-tasks.TokenVectorEncoder.v1",
        ("pooling", "grad_factor"),
    ),
    "spacy-bert-tasks.ClsVectorListener.v1": (
        "spacy-bert-tasks.ClsVectorEncoder.v1",
        ("grad_factor", "pooling"),
    ),
}


def replace_listener_cfg(encoder_cfg: Dict, listener_cfg: Dict) -> Dict:
    """The config of a head's own encoder copy, replacing the config of its listener."""
    target = LISTENER_TO_ENCODER.get(listener_cfg.get("@architectures", ""))
    if target is None:
        return stock_replace_listener_cfg(encoder_cfg, listener_cfg)
    architecture, listener_keys = target
    result = dict(encoder_cfg)
    result["@architectures"] = architecture
    for key in listener_keys:
        if key in listener_cfg:
            result[key] = listener_cfg[key]
    return result
