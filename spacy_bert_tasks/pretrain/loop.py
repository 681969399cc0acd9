"""The pre-training loop: torch AdamW, linear warm-up and decay, held-out perplexity, checkpoints.

The masked-LM head runs on the masked positions only (about 15% of the tokens): its decoder is
a (width x vocabulary) matrix, which over every position costs about as much as the whole
MiniLM encoder. Hugging Face's BertForMaskedLM computes it everywhere and ignores 85% of it.
"""

import json
import math
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Optional

from .checkpoint import CHECKPOINT_FOLDER, Position, load_checkpoint, save_checkpoint
from .data import PretrainData
from .masking import IGNORE_INDEX

LOG_FILE = "pretrain_log.jsonl"


@dataclass(frozen=True)
class TrainSettings:
    """learn_rate: peak rate; warmup_share: share of the steps warming up linearly (then a
    linear decay to 0); max_steps / epochs: how long (max_steps wins; one epoch when neither);
    eval_every / checkpoint_every / log_every: in steps; seed: dropout and data;
    freeze_encoder: train the heads only (a probe: what the encoder as it is predicts)."""

    learn_rate: float = 1e-4
    warmup_share: float = 0.06
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    max_steps: Optional[int] = None
    epochs: Optional[int] = None
    eval_every: int = 200
    checkpoint_every: int = 500
    log_every: int = 10
    seed: int = 0
    freeze_encoder: bool = False

    def __post_init__(self):
        for name in ("max_steps", "epochs"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"expected {name} >= 1 (or not set), got {value}")
        for name in ("eval_every", "checkpoint_every", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"expected {name} >= 1, got {getattr(self, name)}")


def pretraining_loss(model, batch: Dict[str, Any]) -> Dict[str, Any]:
    """Masked-LM (and, with NSP labels in the batch, next-sentence) cross-entropy of a batch.

    RETURNS (Dict[str, Any]): "loss" (the tensor to backpropagate), "mlm" and "nsp" (floats,
        mean per masked token / per pair), "n_masked".
    """
    import torch.nn.functional as F

    use_nsp = "next_sentence_label" in batch
    device = next(model.parameters()).device
    batch = {
        key: value.to(device) if hasattr(value, "to") else value for key, value in batch.items()
    }
    outputs = model.bert(
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
        token_type_ids=batch["token_type_ids"],
    )
    labels = batch["labels"]
    predicted = labels != IGNORE_INDEX
    logits = model.cls.predictions(outputs.last_hidden_state[predicted])
    mlm = F.cross_entropy(logits, labels[predicted])
    result = {"loss": mlm, "mlm": float(mlm.detach()), "n_masked": int(predicted.sum())}
    if use_nsp:
        nsp = F.cross_entropy(
            model.cls.seq_relationship(outputs.pooler_output), batch["next_sentence_label"]
        )
        result["loss"] = mlm + nsp
        result["nsp"] = float(nsp.detach())
    return result


def heldout_perplexity(model, data: PretrainData) -> Optional[float]:
    """exp(mean masked-LM cross-entropy per masked token) on the held-out set (fixed masks)."""
    import torch

    batches = data.heldout_batches()
    if not batches:
        return None
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in batches:
            result = pretraining_loss(
                model, {k: v for k, v in batch.items() if k != "next_sentence_label"}
            )
            total += result["mlm"] * result["n_masked"]
            count += result["n_masked"]
    model.train(was_training)
    return math.exp(total / count)


def count_steps(data: PretrainData, settings: TrainSettings) -> int:
    if settings.max_steps is not None:
        return settings.max_steps
    return sum(len(data.epoch_batches(epoch)) for epoch in range(settings.epochs or 1))


def train_step(model, batch, optimizer, scheduler, max_grad_norm: float) -> Dict[str, Any]:
    """One optimizer step on one batch."""
    import torch

    model.train()
    optimizer.zero_grad(set_to_none=True)
    result = pretraining_loss(model, batch)
    result["loss"].backward()
    torch.nn.utils.clip_grad_norm_(
        [p for p in model.parameters() if p.requires_grad], max_grad_norm
    )
    optimizer.step()
    scheduler.step()
    result["loss"] = float(result["loss"].detach())
    return result


def build_optimizer(model, settings: TrainSettings, total_steps: int):
    """AdamW without weight decay on biases and LayerNorm (as BERT), and HF's linear schedule."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        (no_decay if name.endswith("bias") or "LayerNorm" in name else decay).append(parameter)
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": settings.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=settings.learn_rate,
    )
    warmup = int(round(total_steps * settings.warmup_share))
    return optimizer, get_linear_schedule_with_warmup(optimizer, warmup, total_steps)


def run_pretraining(
    model,
    data: PretrainData,
    settings: TrainSettings,
    out_dir: Path,
    *,
    run_id: Dict[str, Any],
    resume: bool = False,
    progress: Optional[Callable[[int, int, Dict[str, Any]], None]] = None,
) -> Dict[str, Any]:
    """Train `model` (a BertForPreTraining) in place; log to OUT_DIR/pretrain_log.jsonl.

    run_id (Dict[str, Any]): What a resumed run must share with the interrupted one (the
        starting encoder, the data fingerprint, all settings); the training settings are added.
    resume (bool): Continue from OUT_DIR/checkpoint.
    progress (Optional[Callable]): Called after each step with (step, total, record).
    RETURNS (Dict[str, Any]): Steps, held-out perplexity before and after, words per second.
    A Ctrl-C lets the current step finish, saves a checkpoint and stops (KeyboardInterrupt).
    """
    import torch

    run = {**run_id, "train": asdict(settings)}
    if settings.freeze_encoder:
        # The decoder is tied to the input embeddings: it stays as the encoder has it.
        model.bert.requires_grad_(False)
    total = count_steps(data, settings)
    optimizer, scheduler = build_optimizer(model, settings, total)
    log_path = out_dir / LOG_FILE
    out_dir.mkdir(parents=True, exist_ok=True)
    if resume:
        position = load_checkpoint(out_dir, model, optimizer, scheduler, run)
        records = (
            [json.loads(line) for line in log_path.read_text(encoding="utf8").splitlines()]
            if log_path.exists()
            else []
        )
        records = [
            r for r in records if r["step"] <= position.step
        ]  # what came after the checkpoint is redone
        before = next(
            (
                r["heldout_perplexity"]
                for r in records
                if r.get("heldout_perplexity") and r["step"] == 0
            ),
            None,
        )
    else:
        if (out_dir / CHECKPOINT_FOLDER).exists():
            raise ValueError(
                f"{out_dir / CHECKPOINT_FOLDER}: an interrupted run left a checkpoint here; continue it with "
                "--resume, or delete it (or choose another OUT_DIR) to start over"
            )
        torch.manual_seed(settings.seed)
        position = Position(step=0, epoch=0, batch=0)
        before = heldout_perplexity(model, data)
        records = [{"step": 0, "epoch": 0, "heldout_perplexity": before}]
    log_path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf8")
    log = log_path.open("a", encoding="utf8")
    words, seconds, window = 0, 0.0, []
    after = before
    with log, deferred_interrupt() as interrupted:
        while position.step < total:
            plan = data.epoch_batches(position.epoch)
            sequences = data.epoch_sequences(position.epoch)
            while position.batch < len(plan) and position.step < total:
                start = time.perf_counter()  # words/s counts masking and padding too
                batch = data.training_batch(
                    position.epoch, position.batch, [sequences[i] for i in plan[position.batch]]
                )
                result = train_step(model, batch, optimizer, scheduler, settings.max_grad_norm)
                seconds += time.perf_counter() - start
                words += batch["n_words"]
                position = Position(position.step + 1, position.epoch, position.batch + 1)
                window.append(result)
                record = {"step": position.step, "epoch": position.epoch}
                if position.step % settings.log_every == 0 or position.step == total:
                    record.update(_summary(window, scheduler, words, seconds))
                    window = []
                if position.step % settings.eval_every == 0 or position.step == total:
                    after = record["heldout_perplexity"] = heldout_perplexity(model, data)
                if len(record) > 2:
                    log.write(json.dumps(record) + "\n")
                    log.flush()
                if interrupted() or (
                    position.step % settings.checkpoint_every == 0 and position.step < total
                ):
                    save_checkpoint(out_dir, model, optimizer, scheduler, position, run)
                if interrupted():
                    raise KeyboardInterrupt(
                        f"stopped after step {position.step}; continue with --resume"
                    )
                if progress is not None:
                    progress(
                        position.step,
                        total,
                        {**_summary([result], scheduler, words, seconds), **record},
                    )
            if position.step < total:
                position = Position(position.step, position.epoch + 1, 0)
    return {
        "steps": total,
        "heldout_perplexity_before": before,
        "heldout_perplexity_after": after,
        "train_words_per_second": words / seconds if seconds else None,
    }


def _summary(results, scheduler, words: int, seconds: float) -> Dict[str, Any]:
    summary = {
        "loss": sum(r["loss"] for r in results) / len(results),
        "mlm_loss": sum(r["mlm"] for r in results) / len(results),
        "learn_rate": scheduler.get_last_lr()[0],
        "words_per_second": round(words / seconds, 1) if seconds else None,
    }
    summary["train_perplexity"] = math.exp(min(summary["mlm_loss"], 50.0))
    if "nsp" in results[0]:
        summary["nsp_loss"] = sum(r["nsp"] for r in results) / len(results)
    return summary


@contextmanager
def deferred_interrupt() -> Iterator[Callable[[], bool]]:
    """Turn the first Ctrl-C (SIGINT) into a flag, so a step is never cut in half.

    The loop checks the flag after each step, saves a checkpoint and stops; a second Ctrl-C
    stops at once. Outside the main thread (where signals cannot be handled) nothing changes.
    YIELDS (Callable[[], bool]): Whether a Ctrl-C arrived.
    """
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    received = []
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum, frame):
        if received:
            raise KeyboardInterrupt
        received.append(signum)

    signal.signal(signal.SIGINT, handler)
    try:
        yield lambda: bool(received)
    finally:
        signal.signal(signal.SIGINT, previous)
