"""The model that continues pre-training: Hugging Face's BertForPreTraining, and its export.

BertForPreTraining is the encoder (`.bert`, with its pooler) plus BERT's two pre-training heads
(`.cls.predictions`, the masked-LM head whose decoder is tied to the input embeddings, and
`.cls.seq_relationship` for NSP). Checkpoints that ship no heads (MiniLM, sentence-transformers
models, a spaCy pipeline's encoder) get them initialised as BERT does (Hugging Face's
`_init_weights`), and the output says so. The export is a plain Hugging Face encoder folder;
the heads go beside it, so a pipeline built on the encoder never carries them.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional

from ..encoder.names import PRETRAIN_META, PRETRAINED_ENCODER_FOLDER, resolve_encoder_name

HEADS_FILE = "pretraining_heads.safetensors"
TIED_DECODER = "predictions.decoder.weight"  # the input embeddings, saved with the encoder


@dataclass
class StartingPoint:
    """What pre-training starts from.

    model (transformers.BertForPreTraining): The encoder and both heads.
    tokenizer: Its fast tokenizer.
    description (str): Where the encoder came from, for the log and the meta file.
    mlm_head (str): "loaded" or "initialized" (BERT's init, decoder tied to the input embeddings).
    nsp_head (str): "loaded" or "initialized".
    """

    model: Any
    tokenizer: Any
    description: str
    mlm_head: str
    nsp_head: str


def load_starting_point(encoder: str) -> StartingPoint:
    """The pre-training model for an encoder name.

    encoder (str): A Hugging Face name or folder, 'embedded:all-MiniLM-L6-v2', a saved spaCy
        pipeline with a `bert_transformer` (its encoder's current weights), or the output folder
        of an earlier `pretrain` (its heads are loaded too).
    RETURNS (StartingPoint): The model in training mode on CPU.
    """
    path = Path(encoder).expanduser()
    if (path / "config.cfg").is_file() and (path / "meta.json").is_file():
        return _from_pipeline(path)
    from transformers import AutoConfig, AutoTokenizer, BertForPreTraining

    resolved = resolve_encoder_name(encoder)
    config = AutoConfig.from_pretrained(resolved)
    if config.model_type != "bert":
        raise ValueError(
            f"{encoder}: expected a BERT encoder (model_type 'bert'), got '{config.model_type}'; "
            "continued pre-training here uses BERT's masked-LM and NSP heads"
        )
    model, info = BertForPreTraining.from_pretrained(resolved, output_loading_info=True)
    missing = info["missing_keys"]
    mlm = "initialized" if any(k.startswith("cls.predictions") for k in missing) else "loaded"
    nsp = "initialized" if any(k.startswith("cls.seq_relationship") for k in missing) else "loaded"
    heads_file = path / HEADS_FILE
    if (path / PRETRAIN_META).is_file() and heads_file.is_file():
        load_heads(model, heads_file)
        mlm, nsp = "loaded", "loaded"
    tokenizer = _fast_tokenizer(AutoTokenizer.from_pretrained(resolved, use_fast=True), encoder)
    return StartingPoint(model, tokenizer, encoder, mlm, nsp)


def _from_pipeline(path: Path) -> StartingPoint:
    import spacy
    from transformers import BertForPreTraining

    from ..encoder.component import BertTransformer

    nlp = spacy.load(path)
    encoders = [(name, pipe) for name, pipe in nlp.pipeline if isinstance(pipe, BertTransformer)]
    if len(encoders) != 1:
        raise ValueError(
            f"{path}: expected a pipeline with one bert_transformer component, found "
            f"{[name for name, _ in encoders] or 'none'} among {nlp.pipe_names}"
        )
    name, component = encoders[0]
    module, tokenizer = component.hf_encoder()
    if module.config.model_type != "bert":
        raise ValueError(
            f"{path}: expected a BERT encoder in '{name}', got '{module.config.model_type}'"
        )
    model = BertForPreTraining(module.config)
    # The pipeline's module is a BertModel: its state dict is the `.bert` part, pooler included.
    model.bert.load_state_dict(module.state_dict())
    model.tie_weights()
    return StartingPoint(
        model,
        _fast_tokenizer(tokenizer, str(path)),
        f"{path} (component '{name}')",
        "initialized",
        "initialized",
    )


def _fast_tokenizer(tokenizer, encoder: str):
    if not tokenizer.is_fast:
        raise ValueError(
            f"{encoder}: expected a fast tokenizer (whole-word masking reads its word ids), got {type(tokenizer).__name__}"
        )
    if tokenizer.mask_token_id is None:
        raise ValueError(
            f"{encoder}: the tokenizer has no mask token; masked-LM training needs one"
        )
    return tokenizer


def heads_state(model) -> Dict[str, Any]:
    """The heads' tensors, without the decoder weight tied to the input embeddings."""
    state = model.cls.state_dict()
    tied = model.cls.predictions.decoder.weight is model.bert.embeddings.word_embeddings.weight
    return {key: value for key, value in state.items() if not (tied and key == TIED_DECODER)}


def load_heads(model, heads_file: Path) -> None:
    """Load the heads saved by `export` into `model.cls` (the tied decoder comes with the encoder)."""
    from safetensors.torch import load_file

    missing, unexpected = model.cls.load_state_dict(load_file(str(heads_file)), strict=False)
    if unexpected or [key for key in missing if key != TIED_DECODER]:
        raise ValueError(
            f"{heads_file}: expected the pre-training heads of this encoder, got missing {missing}, unexpected {unexpected}"
        )


def export(model, tokenizer, out_dir: Path, meta: Dict[str, Any]) -> Path:
    """Write the encoder (Hugging Face folder), the heads beside it, then the meta file.

    Each is replaced in one step (write beside, then rename); the meta file, written last, marks
    the folder as complete for `init-config --encoder OUT_DIR`.
    RETURNS (Path): The encoder folder.
    """
    import srsly

    from ..atomic import write_bytes_atomically, write_folder_atomically
    from ..encoder.serialization import state_dict_to_bytes

    encoder_dir = out_dir / PRETRAINED_ENCODER_FOLDER

    def write_encoder(folder: Path) -> None:
        model.bert.save_pretrained(str(folder), safe_serialization=True)
        tokenizer.save_pretrained(str(folder))

    write_folder_atomically(encoder_dir, write_encoder)
    write_bytes_atomically(out_dir / HEADS_FILE, state_dict_to_bytes(heads_state(model)))
    write_bytes_atomically(
        out_dir / PRETRAIN_META, srsly.json_dumps(meta, indent=2).encode("utf8") + b"\n"
    )
    return encoder_dir


def read_meta(out_dir: Path) -> Optional[Dict[str, Any]]:
    """The meta file of a finished `pretrain` output, or None."""
    import srsly

    path = Path(out_dir) / PRETRAIN_META
    return srsly.read_json(path) if path.is_file() else None
