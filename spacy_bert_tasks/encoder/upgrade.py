"""Convert a saved pipeline's encoder weights from torch.save's pickle to safetensors.

Pipelines saved before spacy_bert_tasks used safetensors hold their encoder weights as
torch.save output, which `spacy.load` now refuses (see serialization.py). This rewrites each
component's `model` file in place, weights only: every other byte of the message is kept.
Reading the old weights unpickles them, with torch's `weights_only` loader (it builds tensors and
plain containers only, and refuses other objects), but run it only on pipelines you trust.
"""

from io import BytesIO
from pathlib import Path
from typing import List, Union

import srsly
import torch
from spacy.util import load_config

from ..atomic import write_bytes_atomically
from .serialization import TORCH_SAVE_MAGIC, WEIGHTS_FORMAT, state_dict_to_bytes


def upgrade_pipeline_weights(path: Union[str, Path]) -> List[Path]:
    """Rewrite the pickled encoder weights of a pipeline folder as safetensors.

    Each model file is replaced atomically; a pipeline already converted is left as it is.
    path (Union[str, Path]): A folder written by nlp.to_disk (e.g. training/model-best).
    RETURNS (List[Path]): The model files rewritten.
    """
    path = Path(path)
    config_path = path / "config.cfg"
    if not config_path.is_file():
        raise ValueError(f"{config_path}: expected a saved pipeline's config.cfg, found none")
    upgraded = []
    for name in load_config(config_path, interpolate=False)["nlp"]["pipeline"]:
        model_path = path / name / "model"
        if not model_path.is_file():
            continue
        data = model_path.read_bytes()
        new_data = upgrade_model_bytes(data)
        if new_data != data:
            write_bytes_atomically(model_path, new_data)
            upgraded.append(model_path)
    return upgraded


def upgrade_model_bytes(data: bytes) -> bytes:
    """A thinc model's bytes with every pickled Hugging Face shim state as safetensors."""
    msg = srsly.msgpack_loads(data)
    if not isinstance(msg, dict) or "shims" not in msg:
        return data
    changed = False
    for node_shims in msg["shims"]:
        for i, shim_bytes in enumerate(node_shims):
            shim_msg = srsly.msgpack_loads(shim_bytes)
            if _is_pickled_hf_shim(shim_msg):
                state = BytesIO(shim_msg["state"])
                tensors = torch.load(state, map_location="cpu", weights_only=True)
                shim_msg["state"] = state_dict_to_bytes(tensors)
                shim_msg["weights_format"] = WEIGHTS_FORMAT
                node_shims[i] = srsly.msgpack_dumps(shim_msg)
                changed = True
    return srsly.msgpack_dumps(msg) if changed else data


def _is_pickled_hf_shim(shim_msg) -> bool:
    # HFShim messages carry the tokenizer files; other torch shims are not ours to convert.
    return (
        isinstance(shim_msg, dict)
        and "tokenizer" in shim_msg
        and "weights_format" not in shim_msg
        and bytes(shim_msg.get("state") or b"").startswith(TORCH_SAVE_MAGIC)
    )
