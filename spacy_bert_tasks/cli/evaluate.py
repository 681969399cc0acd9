"""`python -m spacy_bert_tasks evaluate MODEL DATA [--output OUT.json] [--gpu-id N]`."""

from pathlib import Path
from typing import Optional

import typer
from wasabi import msg

from . import app

# Scores spaCy's table shows already, or that are not one number per pipeline.
SHOWN_BY_SPACY = {
    "token_acc",
    "tag_acc",
    "pos_acc",
    "morph_acc",
    "lemma_acc",
    "dep_uas",
    "dep_las",
    "ents_p",
    "ents_r",
    "ents_f",
    "cats_score",
    "sents_p",
    "sents_r",
    "sents_f",
    "speed",
}


@app.command("evaluate")
def evaluate_cli(
    model: str = typer.Argument(..., help="Pipeline folder or installed package"),
    data_path: Path = typer.Argument(..., exists=True, help=".spacy file or folder of them"),
    output: Optional[Path] = typer.Option(
        None, "--output", "-o", dir_okay=False, help="Write every score as JSON"
    ),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU id, or -1 for CPU"),
) -> None:
    """`spacy evaluate`, plus the scores its table leaves out (QA exact match and F1, ...).

    spaCy's evaluate prints a fixed list of score names (NER, TEXTCAT, ...): a component with
    scores of its own, such as bert_qa's qa_exact and qa_f1, reaches only its JSON output.
    """
    from spacy.cli.evaluate import evaluate

    scores = evaluate(model, data_path, output=output, use_gpu=gpu_id, silent=False)
    others = other_scores(scores)
    if others:
        msg.table(others, title="Other scores")


def other_scores(scores: dict) -> dict:
    """{name: shown value} for the top-level numeric scores spaCy's table does not print.

    Scores (floats, 0-1) are shown in percent as spaCy shows its own; counts (ints, e.g.
    qa_total) as they are.
    """
    shown = {}
    for key, value in scores.items():
        if key in SHOWN_BY_SPACY or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        shown[key] = f"{value:,}" if isinstance(value, int) else f"{100 * value:.2f}"
    return shown
