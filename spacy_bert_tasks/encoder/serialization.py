"""Encoder weights in safetensors, so that loading a pipeline never unpickles.

spacy-transformers' HFShim saves the torch state dict with `torch.save` (a pickle) and reads it
back with `torch.load`: a tampered pipeline or model package could run code when loaded.
`SafeHFShim` writes the same msgpack message (the HF config as a dict, the tokenizer's files, the
init settings) but the weights as safetensors (a JSON header and raw tensor bytes: nothing in it
is executed), and refuses any other weights format. The HF config and tokenizer may only name
classes that ship with transformers (remote code is refused), and tokenizer file names may not
point outside the temporary folder they are written to.
"""

import warnings
from pathlib import Path
from typing import Any, Dict, Tuple

import srsly
import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from spacy.util import SimpleFrozenDict
from spacy_transformers.data_classes import HFObjects
from spacy_transformers.layers.hf_shim import HFShim
from spacy_transformers.util import make_tempdir
from thinc.api import get_torch_default_device

from .precision import ReducedPrecisionShim
from .train_precision import TrainPrecisionShim

WEIGHTS_FORMAT = "safetensors"
# What torch.save writes starts with a zip header (torch >= 1.6) or a pickle protocol opcode.
TORCH_SAVE_MAGIC = (b"PK\x03\x04", b"\x80")
UPGRADE_COMMAND = "python -m spacy_bert_tasks upgrade-weights PIPELINE_DIR"


class WeightsFormatError(ValueError):
    """Saved encoder weights that are not safetensors, or not readable."""


class SafeHFShim(TrainPrecisionShim, ReducedPrecisionShim, HFShim):
    """HFShim whose weights travel as safetensors, in `to_bytes` and `from_bytes` alike, whose
    `predict` runs in the component's inference precision (precision.py) and whose training
    forward runs in the model's train precision (train_precision.py)."""

    def to_bytes(self) -> bytes:
        hf_model = self._hfmodel
        if hf_model.transformer is None:
            # Not initialized: the message holds only settings (HFShim writes no weights).
            return super().to_bytes()
        msg = {
            "config": hf_model.transformer.config.to_dict(),
            "state": weights_to_bytes(self._model),
            "weights_format": WEIGHTS_FORMAT,
            "tokenizer": tokenizer_files(hf_model),
            "_init_tokenizer_config": {},
            "_init_transformer_config": {},
        }
        return srsly.msgpack_dumps(msg)

    def from_bytes(self, bytes_data: bytes) -> "SafeHFShim":
        msg = read_message(bytes_data)
        if not msg["config"]:
            self._hfmodel = HFObjects(
                None, None, None, msg["_init_tokenizer_config"], msg["_init_transformer_config"]
            )
            return self
        check_weights_format(msg)
        # Peak memory: the caller holds `bytes_data` and msgpack copied the weights out of it.
        # Popped and read before the module exists, that copy is freed as soon as the tensors
        # are built from it, so at most two copies besides `bytes_data` live at once (the
        # tensors and the module's own weights) rather than three.
        state = read_weights(msg.pop("state"))
        config, tokenizer, vocab_file_contents = self._load_config_and_tokenizer(msg)
        transformer = self.model_cls.from_config(config, trust_remote_code=False)
        load_state(transformer, state)
        del state
        transformer.to(get_torch_default_device())
        self._hfmodel = HFObjects(
            tokenizer, transformer, vocab_file_contents, SimpleFrozenDict(), SimpleFrozenDict()
        )
        self._model = transformer
        return self

    def _load_config_and_tokenizer(self, msg: Dict) -> Tuple[Any, Any, Any]:
        files = dict(msg["tokenizer"])
        # Only use_fast is taken from the file: other keyword arguments (trust_remote_code...)
        # would be the file's to choose.
        use_fast = bool(files.pop("kwargs", {}).get("use_fast", True))
        with make_tempdir() as temp_dir:
            config_file = temp_dir / "config.json"
            srsly.write_json(config_file, msg["config"])
            config = self.config_cls.from_pretrained(config_file, trust_remote_code=False)
            for name, data in files.items():
                _plain_file(temp_dir, name).write_bytes(data)
            tokenizer = self.tokenizer_cls.from_pretrained(
                str(temp_dir.absolute()), use_fast=use_fast, trust_remote_code=False
            )
            vocab_file_contents = None
            if hasattr(tokenizer, "vocab_file"):
                vocab_file = temp_dir / tokenizer.vocab_files_names["vocab_file"]
                vocab_file_contents = vocab_file.read_bytes()
        return config, tokenizer, vocab_file_contents


def read_message(bytes_data: bytes) -> Dict:
    """The shim's msgpack message, checked for the fields HFShim writes."""
    try:
        msg = srsly.msgpack_loads(bytes_data)
    except Exception as err:  # msgpack raises several types for damaged data
        raise WeightsFormatError(
            f"expected a msgpack message from a saved encoder, could not read it ({err}): the "
            "file is damaged or truncated; save the pipeline again"
        ) from None
    expected = (
        "config",
        "state",
        "tokenizer",
        "_init_tokenizer_config",
        "_init_transformer_config",
    )
    if not isinstance(msg, dict) or any(key not in msg for key in expected):
        found = sorted(msg) if isinstance(msg, dict) else type(msg).__name__
        raise WeightsFormatError(
            f"expected a saved encoder with the fields {list(expected)}, got {found}"
        )
    return msg


def check_weights_format(msg: Dict) -> None:
    """Refuse weights in any format but safetensors, torch.save's pickle above all."""
    found = msg.get("weights_format")
    if found == WEIGHTS_FORMAT:
        return
    state = bytes(msg.get("state") or b"")
    if found is None and state.startswith(TORCH_SAVE_MAGIC):
        raise WeightsFormatError(
            "expected the encoder weights in safetensors format, got torch.save's pickle format "
            "(pipelines saved by spacy-transformers, or by spacy_bert_tasks before it used "
            "safetensors). "
            "Not loaded: unpickling a file can run any code in it. If you trust where this "
            f"pipeline comes from, convert it once with `{UPGRADE_COMMAND}`"
        )
    raise WeightsFormatError(
        f"expected the encoder weights in '{WEIGHTS_FORMAT}' format, got "
        f"{found!r} (weights starting with {state[:8]!r}); save the pipeline again"
    )


def weights_to_bytes(module: torch.nn.Module) -> bytes:
    """The module's state dict as safetensors bytes."""
    return state_dict_to_bytes(module.state_dict())


def state_dict_to_bytes(state_dict: Dict[str, torch.Tensor]) -> bytes:
    """safetensors bytes of a state dict (tied tensors stored once per name)."""
    tensors = {}
    seen_storages = set()
    for name, tensor in state_dict.items():
        tensor = tensor.detach().contiguous()
        # safetensors refuses tensors that share memory (tied weights): give each name its own
        # copy; load_state_dict writes both copies into the one tied parameter.
        if tensor.untyped_storage().data_ptr() in seen_storages:
            tensor = tensor.clone()
        seen_storages.add(tensor.untyped_storage().data_ptr())
        tensors[name] = tensor
    return save_safetensors(tensors, metadata={"format": "pt"})


def read_weights(data: bytes) -> Dict[str, torch.Tensor]:
    """The tensors in safetensors bytes (a copy: `data` can be freed once this returns)."""
    try:
        return load_safetensors(bytes(data))
    except (SafetensorError, ValueError) as err:
        raise WeightsFormatError(
            f"the encoder weights are not valid safetensors data ({err}): the file is damaged "
            "or truncated; save the pipeline again"
        ) from None


def load_state(module: torch.nn.Module, state: Dict[str, torch.Tensor]) -> None:
    """Copy a state dict into the module; every parameter must be present."""
    try:
        missing, unexpected = module.load_state_dict(state, strict=False)
    except RuntimeError as err:  # shapes that do not match the config
        raise WeightsFormatError(f"the encoder weights do not fit its config: {err}") from None
    if missing:
        raise WeightsFormatError(
            f"the encoder weights lack {len(missing)} tensor(s) of the model, e.g. "
            f"{missing[:3]}: the file is damaged, or was saved for another architecture"
        )
    if unexpected:
        # e.g. a buffer that a newer transformers version no longer saves.
        warnings.warn(
            f"Ignored {len(unexpected)} saved encoder tensor(s) the model does not use, e.g. "
            f"{unexpected[:3]} (saved with another transformers version?)",
            UserWarning,
        )


def tokenizer_files(hf_model: HFObjects) -> Dict[str, Any]:
    """The tokenizer's files by name, plus the `kwargs` to load it, as HFShim stores them."""
    tokenizer = hf_model.tokenizer
    files: Dict[str, Any] = {}
    with make_tempdir() as temp_dir:
        if hasattr(tokenizer, "vocab_file"):
            # The file the tokenizer was loaded from may be gone (a temporary folder of an
            # earlier load): write the copy kept in memory, as HFShim does.
            vocab_file = temp_dir / tokenizer.vocab_files_names["vocab_file"]
            vocab_file.write_bytes(hf_model.vocab_file_contents)
            tokenizer.vocab_file = str(vocab_file.absolute())
        files["kwargs"] = {"use_fast": tokenizer.is_fast}
        tokenizer.save_pretrained(str(temp_dir.absolute()))
        for path in temp_dir.glob("**/*"):
            if path.is_file():
                files[path.name] = path.read_bytes()
    return files


def _plain_file(folder: Path, name: Any) -> Path:
    # The names come from the saved file: "../x" or "/x" would write outside the folder.
    if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\\" in name:
        raise WeightsFormatError(f"expected plain tokenizer file names, got {name!r}")
    return folder / name
