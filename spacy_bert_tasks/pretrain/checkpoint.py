"""Checkpoints that resume a run exactly: same weights as a run never interrupted.

A checkpoint holds the model (safetensors), the optimizer's and the scheduler's states and
torch's RNG states (dropout), and where the data stood (epoch, batch). The batches and masks are
derived from (seed, epoch, batch) (see data.py), so nothing else about the data needs saving.
The settings and a fingerprint of the text are kept too: resuming with others is refused.
Exact on CPU; on a GPU, kernels may sum in another order, so a resumed run is close, not equal.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict

CHECKPOINT_FOLDER = "checkpoint"
MODEL_FILE = "model.safetensors"
TRAINING_STATE_FILE = "training_state.pt"
POSITION_FILE = "position.json"


@dataclass
class Position:
    """Where training stands: `step` optimizer steps done; the next batch is `batch` of `epoch`."""

    step: int
    epoch: int
    batch: int


def save_checkpoint(
    out_dir: Path, model, optimizer, scheduler, position: Position, run: Dict[str, Any]
) -> None:
    """Write OUT_DIR/checkpoint, replacing the previous one in one step."""
    import srsly
    import torch

    from ..atomic import write_folder_atomically
    from ..encoder.serialization import state_dict_to_bytes

    def write(folder: Path) -> None:
        folder.mkdir(parents=True)
        (folder / MODEL_FILE).write_bytes(state_dict_to_bytes(model.state_dict()))
        torch.save(
            {
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            },
            folder / TRAINING_STATE_FILE,
        )
        srsly.write_json(folder / POSITION_FILE, {"position": vars(position), "run": run})

    write_folder_atomically(out_dir / CHECKPOINT_FOLDER, write)


def load_checkpoint(out_dir: Path, model, optimizer, scheduler, run: Dict[str, Any]) -> Position:
    """Restore a checkpoint into the model, optimizer, scheduler and torch's RNG.

    run (Dict[str, Any]): This run's settings and data fingerprint; they must equal the saved ones.
    RETURNS (Position): Where to continue.
    """
    import srsly
    import torch
    from safetensors.torch import load_file

    folder = out_dir / CHECKPOINT_FOLDER
    if not (folder / POSITION_FILE).is_file():
        raise ValueError(
            f"{folder}: expected a checkpoint to resume from, found none; start without --resume"
        )
    saved = srsly.read_json(folder / POSITION_FILE)
    differences = {
        key: (saved["run"].get(key), value)
        for key, value in run.items()
        if saved["run"].get(key) != value
    }
    if differences:
        listed = "; ".join(
            f"{key}: saved {old!r}, now {new!r}" for key, (old, new) in differences.items()
        )
        raise ValueError(
            f"{folder}: expected the settings and text of the interrupted run, got changes ({listed}); "
            "resume with the same RAW and options, or start a new OUT_DIR"
        )
    model.load_state_dict(load_file(str(folder / MODEL_FILE)))
    # weights_only: tensors and plain containers only, nothing in the file is executed.
    state = torch.load(folder / TRAINING_STATE_FILE, weights_only=True)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    if state.get("cuda_rng") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return Position(**saved["position"])
