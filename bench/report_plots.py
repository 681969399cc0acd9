"""The plots of docs/benchmarks.md drawn from the results (the scaling plot is scaling.py's)."""

from pathlib import Path
from typing import Dict, List, Optional, Tuple

from harness.results import Results, accuracy_rows, get

# (step, system key, label, ratio key, target ratio)
SPEED_BARS = [
    ("pipe_speed", "spacy_ner_textcat", "NER+textcat\nvs HF x2", "ratio_to_peer", 2.5),
    ("pipe_speed", "spacy_ner", "NER", "ratio_to_peer", 1.2),
    ("pipe_speed", "spacy_textcat", "textcat", "ratio_to_peer", None),
    ("pipe_speed", "spacy_encoder", "encoder\nvs forward", "ratio_to_peer", None),
    ("qa_speed", "spacy", "QA fp32", "ratio_to_hf", 1.0),
    ("qa_speed", "spacy_bf16", "QA bf16", "ratio_to_hf", 1.5),
    ("qa_speed", "spacy_int8", "QA int8", "ratio_to_hf", 1.5),
]


def figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    found = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(found)
    return found


def speed_bars(results: Results) -> List[Tuple[str, float, Optional[float]]]:
    """(label, ratio, target) of every speed ratio measured."""
    bars = []
    for step, key, label, ratio_key, target in SPEED_BARS:
        ratio = get(results.get(step), "systems", key, ratio_key)
        if ratio is not None:
            bars.append((label, ratio, target))
    return bars


def plot_speed(results: Results, path: Path) -> bool:
    bars = speed_bars(results)
    if not bars:
        return False
    fig = figure(1.2 * len(bars) + 2, 3.6)
    axes = fig.add_subplot(1, 1, 1)
    xs = range(len(bars))
    axes.bar(xs, [ratio for _, ratio, _ in bars], color="tab:blue")
    for x, (_, ratio, target) in zip(xs, bars):
        axes.text(x, ratio, f"{ratio:.2f}x", ha="center", va="bottom", fontsize="small")
        if target is not None:
            axes.hlines(target, x - 0.4, x + 0.4, colors="tab:red", linestyles="dashed")
    axes.axhline(1.0, color="grey", linewidth=0.8)
    axes.set_xticks(list(xs), [label for label, _, _ in bars], fontsize="small")
    axes.set_ylabel("speed ratio to Hugging Face")
    axes.set_title("higher is faster; dashed: target", fontsize="small")
    fig.tight_layout()
    fig.savefig(path)
    return True


def plot_accuracy(results: Results, path: Path) -> bool:
    rows = [
        row
        for row in accuracy_rows(results)
        if any(row[k] is not None for k in ("single", "joint", "hf"))
    ]
    if not rows:
        return False
    fig = figure(1.8 * len(rows) + 2, 3.6)
    axes = fig.add_subplot(1, 1, 1)
    series = [("single", "spacy_bert_tasks"), ("joint", "joint (3 heads)"), ("hf", "HF fine-tune")]
    width = 0.8 / len(series)
    for i, (key, label) in enumerate(series):
        xs = [j + (i - 1) * width for j in range(len(rows))]
        axes.bar(xs, [row[key] or 0.0 for row in rows], width, label=label)
    axes.set_xticks(
        range(len(rows)), [row["label"].replace(" dev", "\ndev") for row in rows], fontsize="small"
    )
    axes.set_ylim(0, 115)  # room for the legend above the bars
    axes.set_yticks(range(0, 101, 20))
    axes.set_ylabel("score (0-100)")
    axes.legend(fontsize="small", loc="upper center", ncol=len(series), frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    return True


def write_plots(results: Results, img: Path) -> Dict[str, Path]:
    """Write the plots there are data for; RETURNS section name -> image path."""
    img.mkdir(parents=True, exist_ok=True)
    written = {}
    if plot_speed(results, img / "speed.png"):
        written["pipe_speed"] = img / "speed.png"
    if plot_accuracy(results, img / "accuracy.png"):
        written["accuracy"] = img / "accuracy.png"
    return written
