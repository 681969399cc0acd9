"""Continued pre-training from raw text to an exported encoder, in one call."""

from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Dict, Optional

from ..encoder.names import EMBEDDED_ENCODER
from .data import DataSettings, PretrainData
from .loop import LOG_FILE, TrainSettings, run_pretraining
from .model import HEADS_FILE, export, load_starting_point
from .reading import read_raw

HEAD_INIT_NOTE = (
    "initialized as BERT does (normal(0, 0.02) weights, zero biases; the decoder tied to the input "
    "embeddings): {encoder} ships no {head} head"
)


def pretrain(
    raw: Path,
    out_dir: Path,
    *,
    encoder: str = EMBEDDED_ENCODER,
    data_settings: DataSettings = DataSettings(),
    train_settings: TrainSettings = TrainSettings(),
    txt_layout: str = "auto",
    dedupe: bool = True,
    resume: bool = False,
    gpu_id: int = -1,
    echo: Callable[[str], None] = print,
    progress: Optional[Callable[[int, int, Dict[str, Any]], None]] = None,
) -> Dict[str, Any]:
    """Continue pre-training an encoder on raw text; write OUT_DIR.

    raw (Path): A .txt, .jsonl, .spacy file or a folder of them (see reading.py).
    out_dir (Path): Gets `encoder/` (a Hugging Face folder for init-config --encoder and
        [components.transformer.model.name]), the pre-training heads beside it, the JSON Lines
        log, `pretrain_meta.json`, and while training a `checkpoint/`.
    encoder (str): Where to start: HF name or folder, the embedded MiniLM, a spaCy pipeline, or
        an earlier OUT_DIR.
    gpu_id (int): Train on this CUDA device; -1: CPU.
    echo (Callable[[str], None]): Where to report what was read and initialized.
    RETURNS (Dict[str, Any]): The meta data written to OUT_DIR/pretrain_meta.json.
    """
    out_dir = Path(out_dir)
    corpus = read_raw(Path(raw), txt_layout=txt_layout, dedupe=dedupe)
    echo(
        f"Read {len(corpus.docs)} doc(s) from {len(corpus.files)} file(s); left out {corpus.empty_docs} empty and "
        f"{corpus.duplicate_docs} duplicate doc(s)"
        + (
            f", and {len(corpus.skipped_files)} file(s) of other types: {corpus.skipped_files[:3]}"
            if corpus.skipped_files
            else ""
        )
    )
    import torch

    torch.manual_seed(train_settings.seed)  # the heads' initialisation is random too
    start = load_starting_point(encoder)
    if gpu_id >= 0:
        start.model.to(f"cuda:{gpu_id}")
    for head, state in (("masked-LM", start.mlm_head), ("next-sentence", start.nsp_head)):
        if state == "initialized" and (head == "masked-LM" or data_settings.nsp):
            echo(f"The {head} head is " + HEAD_INIT_NOTE.format(encoder=encoder, head=head))
    data = PretrainData(corpus.docs, start.tokenizer, data_settings, train_settings.seed)
    n_train = len(data.epoch_sequences(0))
    echo(
        f"{len(data.train_docs)} training doc(s) -> {n_train} sequence(s) of at most {data_settings.max_length} "
        f"tokens; {len(data.heldout_docs)} held-out doc(s) -> {len(data.heldout)} sequence(s)"
    )
    run_id = {
        "encoder": encoder,
        "text": data.fingerprint,
        "data": asdict(data_settings),
        "txt_layout": txt_layout,
        "dedupe": dedupe,
    }
    result = run_pretraining(
        start.model, data, train_settings, out_dir, run_id=run_id, resume=resume, progress=progress
    )
    meta = {
        "started_from": start.description,
        "mlm_head": start.mlm_head,
        "nsp_head": start.nsp_head if data_settings.nsp else "not trained",
        "raw": str(raw),
        "docs": {
            "train": len(data.train_docs),
            "heldout": len(data.heldout_docs),
            "empty": corpus.empty_docs,
            "duplicates": corpus.duplicate_docs,
        },
        **result,
        "settings": {
            "data": asdict(data_settings),
            "train": asdict(train_settings),
            "txt_layout": txt_layout,
        },
        "heads_file": HEADS_FILE,
        "log_file": LOG_FILE,
    }
    encoder_dir = export(start.model, start.tokenizer, out_dir, meta)
    # The run is complete: its checkpoint (weights, optimizer moments) is no longer needed.
    import shutil

    from .checkpoint import CHECKPOINT_FOLDER

    shutil.rmtree(out_dir / CHECKPOINT_FOLDER, ignore_errors=True)
    echo(
        f"Wrote the encoder to {encoder_dir} (use --encoder {out_dir} or {encoder_dir}) and its heads to {out_dir / HEADS_FILE}"
    )
    return meta
