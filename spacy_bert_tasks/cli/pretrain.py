"""`python -m spacy_bert_tasks pretrain RAW OUT_DIR [--encoder ...]`: continued pre-training."""

from pathlib import Path
from typing import Optional

import typer
from wasabi import msg

from ..encoder.names import EMBEDDED_ENCODER
from . import app


@app.command("pretrain")
def pretrain_cli(
    raw: Path = typer.Argument(
        ..., help='Raw text: .txt, .jsonl (a "text" per line), .spacy, or a folder of them'
    ),
    out_dir: Path = typer.Argument(
        ..., help="Output folder: encoder/ (Hugging Face format), heads, log, checkpoint"
    ),
    encoder: str = typer.Option(
        EMBEDDED_ENCODER,
        "--encoder",
        help="HF name or folder, the embedded MiniLM, a trained spaCy pipeline, or an earlier OUT_DIR",
    ),
    max_steps: Optional[int] = typer.Option(
        None, "--max-steps", help="Optimizer steps (default: --epochs)"
    ),
    epochs: Optional[int] = typer.Option(
        None, "--epochs", help="Passes over the text when --max-steps is not given (default 1)"
    ),
    learn_rate: float = typer.Option(1e-4, "--learn-rate", help="Peak learning rate (AdamW)"),
    warmup_share: float = typer.Option(
        0.06,
        "--warmup-share",
        help="Share of the steps warming up linearly; then linear decay to 0",
    ),
    weight_decay: float = typer.Option(
        0.01, "--weight-decay", help="AdamW weight decay (not on biases and LayerNorm)"
    ),
    batch_tokens: int = typer.Option(4096, "--batch-tokens", help="Padded tokens per batch"),
    max_length: int = typer.Option(
        128, "--max-length", help="Tokens per sequence, special tokens included"
    ),
    stride: int = typer.Option(
        32, "--stride", help="Tokens shared by consecutive windows of a long doc"
    ),
    mlm_probability: float = typer.Option(
        0.15, "--mlm-probability", help="Share of tokens to predict"
    ),
    whole_word: bool = typer.Option(
        True,
        "--whole-word/--no-whole-word",
        help="Mask whole words (all their tokens) or single tokens",
    ),
    nsp: bool = typer.Option(
        False, "--nsp/--no-nsp", help="Also train next-sentence prediction on sentence pairs"
    ),
    heldout: float = typer.Option(
        0.05, "--heldout", help="Share of the docs held out for perplexity (0: none)"
    ),
    txt_layout: str = typer.Option(
        "auto",
        "--txt-layout",
        help="auto, lines (a doc per line) or paragraphs (blank lines between docs, a sentence per line)",
    ),
    dedupe: bool = typer.Option(
        True, "--dedupe/--no-dedupe", help="Drop repeated docs (counted in the output)"
    ),
    seed: int = typer.Option(0, "--seed", help="Seeds the split, order, masks, pairs and dropout"),
    eval_every: int = typer.Option(200, "--eval-every", help="Steps between held-out perplexities"),
    checkpoint_every: int = typer.Option(
        500, "--checkpoint-every", help="Steps between checkpoints"
    ),
    log_every: int = typer.Option(10, "--log-every", help="Steps between lines of the log"),
    freeze_encoder: bool = typer.Option(
        False,
        "--freeze-encoder",
        help="Train the heads only: a baseline for the perplexity the encoder as it is reaches",
    ),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="CUDA device, or -1 for CPU"),
    resume: bool = typer.Option(
        False, "--resume", help="Continue the interrupted run in OUT_DIR from its checkpoint"
    ),
) -> None:
    """Continue pre-training an encoder on your text: whole-word masked-LM (and optional NSP).

    Writes OUT_DIR/encoder (safetensors, config, tokenizer), which `init-config --encoder
    OUT_DIR` and the transformer's model.name setting accept offline; the pre-training heads,
    pretrain_log.jsonl (JSON Lines) and pretrain_meta.json beside it. Ctrl-C finishes the step,
    saves a checkpoint and stops: run again with --resume for the same weights as an
    uninterrupted run.
    """
    from tqdm import tqdm

    from ..pretrain.data import DataSettings, TooLittleTextError
    from ..pretrain.loop import TrainSettings
    from ..pretrain.masking import MaskingSettings
    from ..pretrain.reading import RawTextError
    from ..pretrain.run import pretrain

    bar = None

    def progress(step: int, total: int, record: dict) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(
                total=total, initial=step - 1, desc="pretrain", unit="step", dynamic_ncols=True
            )
        postfix = {
            "loss": f"{record['loss']:.3f}",
            "ppl": f"{record['train_perplexity']:.1f}",
            "words/s": f"{record['words_per_second'] or 0:,.0f}",
        }
        if record.get("heldout_perplexity") is not None:
            postfix["heldout ppl"] = f"{record['heldout_perplexity']:.1f}"
        bar.set_postfix(postfix, refresh=False)
        bar.update(1)
        if step == total:
            bar.close()

    try:
        data_settings = DataSettings(
            max_length=max_length,
            stride=stride,
            batch_tokens=batch_tokens,
            heldout_share=heldout,
            nsp=nsp,
            masking=MaskingSettings(probability=mlm_probability, whole_word=whole_word),
        )
        train_settings = TrainSettings(
            learn_rate=learn_rate,
            warmup_share=warmup_share,
            weight_decay=weight_decay,
            max_steps=max_steps,
            epochs=epochs,
            eval_every=eval_every,
            checkpoint_every=checkpoint_every,
            log_every=log_every,
            seed=seed,
            freeze_encoder=freeze_encoder,
        )
        meta = pretrain(
            raw,
            out_dir,
            encoder=encoder,
            data_settings=data_settings,
            train_settings=train_settings,
            txt_layout=txt_layout,
            dedupe=dedupe,
            resume=resume,
            gpu_id=gpu_id,
            echo=msg.info,
            progress=progress,
        )
    except (RawTextError, TooLittleTextError, ValueError, OSError) as err:
        msg.fail(str(err), exits=1)
    except KeyboardInterrupt as err:
        msg.warn(f"Interrupted: {err or 'stopped'}", exits=130)
    finally:
        if bar is not None:
            bar.close()
    before, after = meta["heldout_perplexity_before"], meta["heldout_perplexity_after"]
    if before is not None:
        msg.good(f"Held-out perplexity {before:.2f} -> {after:.2f} after {meta['steps']} steps")
    msg.good(
        f"Wrote {out_dir}", f"python -m spacy_bert_tasks init-config config.cfg --encoder {out_dir}"
    )
