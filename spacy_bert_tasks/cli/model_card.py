"""`python -m spacy_bert_tasks model-card MODEL METRICS.json OUTPUT --spec CARD.yml --name NAME --version V`."""

from pathlib import Path

import typer
from wasabi import msg

from . import app


@app.command("model-card")
def model_card_cli(
    model: Path = typer.Argument(..., exists=True, file_okay=False, help="Trained pipeline folder"),
    metrics: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="Scores from `spacy evaluate --output`"
    ),
    output: Path = typer.Argument(
        ..., file_okay=False, help="Folder to write (replaced if it exists)"
    ),
    spec: Path = typer.Option(
        ...,
        "--spec",
        exists=True,
        dir_okay=False,
        help="Card spec: description, license, sources (YAML)",
    ),
    name: str = typer.Option(
        ..., "--name", help="Package name without the language prefix, e.g. bert_tasks_demo"
    ),
    version: str = typer.Option(..., "--version", help="Package version, e.g. 0.1.0"),
) -> None:
    """Copy MODEL to OUTPUT with meta.json, a model card (README.md) and LICENSES_SOURCES, for `spacy package`."""
    import srsly

    from ..project.card import prepare_package, read_card_spec

    try:
        card_spec = read_card_spec(spec)
        target = prepare_package(
            model, srsly.read_json(metrics), card_spec, output, name=name, version=version
        )
    except ValueError as err:
        msg.fail(str(err), exits=1)
    msg.good(f"Wrote {target}", f"spacy package {target} OUT_DIR --build wheel")
