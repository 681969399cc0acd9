"""`python -m spacy_bert_tasks report METRICS.json --markdown OUT.md [--log LOG.jsonl --plot OUT.png]`."""

from pathlib import Path
from typing import Optional

import typer
from wasabi import msg

from . import app


@app.command("report")
def report_cli(
    metrics: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="Scores from `spacy evaluate --output`"
    ),
    markdown: Path = typer.Option(
        ..., "--markdown", dir_okay=False, help="The Markdown table to write"
    ),
    log: Optional[Path] = typer.Option(
        None, "--log", exists=True, dir_okay=False, help="Training log (JSON Lines)"
    ),
    plot: Optional[Path] = typer.Option(
        None, "--plot", dir_okay=False, help="The training curve to write (PNG)"
    ),
    title: str = typer.Option("Training", "--title", help="Title of the plot"),
) -> None:
    """Write the scores as a Markdown table and, given the training log, plot the training curve."""
    import srsly

    from ..project.curve import plot_training_curve, read_training_log
    from ..project.report import metrics_table

    if (log is None) != (plot is None):
        msg.fail("--log and --plot go together: the plot is drawn from the log", exits=1)
    try:
        table = metrics_table(srsly.read_json(metrics))
        records = read_training_log(log) if log is not None else None
    except ValueError as err:
        msg.fail(str(err), exits=1)
    markdown.parent.mkdir(parents=True, exist_ok=True)
    markdown.write_text(table, encoding="utf8")
    print(table)
    msg.good(f"Wrote {markdown}")
    if records is not None:
        plot_training_curve(records, plot, title=title)
        msg.good(f"Wrote {plot} ({len(records)} evaluations, last at step {records[-1]['step']})")
