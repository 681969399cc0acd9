"""The training curve: spaCy's JSON Lines training log, read and plotted as a PNG.

spaCy's console logger (`spacy.ConsoleLogger.v3` with `output_file`) writes one record per
evaluation: {"epoch", "step", "losses": {component: loss}, "scores": {key: percent}, "score"}.
Each record's losses are summed over the steps since the previous evaluation (spaCy resets them
after each one), so the plot shows their mean per step, which stays comparable when evaluations
are not evenly spaced.
"""

from pathlib import Path
from typing import Any, Dict, List, Tuple, Union

import srsly

PathLike = Union[str, Path]
LogRecord = Dict[str, Any]

# Scores in the log that are not percentages.
NOT_PERCENT = ("speed",)


def read_training_log(path: PathLike) -> List[LogRecord]:
    """Read spaCy's JSON Lines training log.

    path (PathLike): The file the console logger's `output_file` names.
    RETURNS (List[LogRecord]): One record per evaluation, in step order.
    RAISES (ValueError): The file has no record, or a record lacks a field.
    """
    records = []
    for line, record in enumerate(srsly.read_jsonl(path), start=1):
        missing = [key for key in ("step", "losses", "scores", "score") if key not in record]
        if missing:
            raise ValueError(
                f"{path}, line {line}: expected a record of spaCy's console logger with step, "
                f"losses, scores and score, got one without {', '.join(missing)}"
            )
        records.append(record)
    if not records:
        raise ValueError(
            f"{path}: expected at least one evaluation in the training log, got none; train for "
            "at least one step with [training.logger] output_file set"
        )
    return sorted(records, key=lambda record: record["step"])


def mean_losses(records: List[LogRecord]) -> Dict[str, List[float]]:
    """Each component's loss per step, averaged over the steps between evaluations.

    records (List[LogRecord]): The log, in step order (`read_training_log`).
    RETURNS (Dict[str, List[float]]): Component name to one value per record.
    """
    curves: Dict[str, List[float]] = {}
    previous = -1  # the first evaluation comes after step 0, i.e. one step
    for record in records:
        n_steps = max(1, record["step"] - previous)
        previous = record["step"]
        for name, loss in record["losses"].items():
            curves.setdefault(name, []).append(float(loss) / n_steps)
    return curves


def loss_points(records: List[LogRecord]) -> Tuple[List[int], Dict[str, List[float]]]:
    """The loss panel's points: `mean_losses` without spaCy's evaluation at step 0.

    spaCy evaluates after the very first update, when the heads still have their initial
    weights: the encoder's loss there is 0 (a head whose output layer starts at zero sends it no
    gradient), and a head's is one batch's, or 0 when that batch held none of its docs (the
    sample project's first batch: QA docs only, so NER and textcat log 0). Drawn, the lines
    would start at those points before the losses of real training. The score panel keeps step 0: it is the
    untrained baseline. A log with step 0 only keeps it.

    records (List[LogRecord]): The log, in step order (`read_training_log`).
    RETURNS (Tuple[List[int], Dict[str, List[float]]]): The steps, and per component its mean
        loss per step at each of them.
    """
    steps = [record["step"] for record in records]
    curves = mean_losses(records)
    first = 1 if len(steps) > 1 and steps[0] == 0 else 0
    return steps[first:], {name: values[first:] for name, values in curves.items()}


def plot_training_curve(
    records: List[LogRecord], output_path: PathLike, *, title: str = "Training"
) -> None:
    """Plot the losses and the dev scores against the training step, as a PNG.

    records (List[LogRecord]): The log, in step order (`read_training_log`).
    output_path (PathLike): The PNG to write; its folder is made if need be.
    title (str): The figure's title.
    RAISES (ImportError): matplotlib is not installed (pip install spacy_bert_tasks[project]).
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            "Plotting the training curve needs matplotlib: pip install 'spacy_bert_tasks[project]'"
        ) from None
    steps = [record["step"] for record in records]
    # A Figure with its own canvas: no pyplot, so no global backend or window is involved.
    figure = Figure(figsize=(8, 7), layout="constrained")
    FigureCanvasAgg(figure)
    loss_axes, score_axes = figure.subplots(2, 1, sharex=True)
    loss_steps, curves = loss_points(records)
    for name, values in curves.items():
        loss_axes.plot(loss_steps, values, marker="o", markersize=3, label=name)
    loss_axes.set_ylabel("training loss per step")
    # Losses fall by orders of magnitude; symlog also takes a loss of exactly 0.
    loss_axes.set_yscale("symlog", linthresh=0.01)
    keys = [key for key in records[0]["scores"] if key not in NOT_PERCENT]
    for key in keys:
        values = [record["scores"].get(key) for record in records]
        score_axes.plot(steps, values, marker="o", markersize=3, label=key)
    score_axes.plot(
        steps, [100 * record["score"] for record in records], "k--", label="score (weighted)"
    )
    score_axes.set_ylabel("dev score (%)")
    score_axes.set_xlabel("training step")
    score_axes.set_ylim(0, 100)
    for axes in (loss_axes, score_axes):
        axes.grid(alpha=0.3)
        axes.legend(loc="best", fontsize="small")
    figure.suptitle(title)
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output_path, dpi=100)
