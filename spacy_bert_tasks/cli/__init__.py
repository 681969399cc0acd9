"""Command line: `python -m spacy_bert_tasks COMMAND ...` (`--help` lists the commands).

Each sub-command lives in its own module and registers itself on `app` (or on `convert_app`).
"""
import typer

app = typer.Typer(
    name="spacy_bert_tasks",
    help="Data conversion, config generation and pipeline tools for spacy_bert_tasks.",
    no_args_is_help=True,
    add_completion=False,
)
convert_app = typer.Typer(help="Convert training data to spaCy's binary .spacy format.", no_args_is_help=True)
app.add_typer(convert_app, name="convert")

# Imported for their side effect of adding commands to the apps above.
from . import (  # noqa: E402,F401
    convert,
    fresh_venv,
    init_config,
    model_card,
    pretrain,
    report,
    smoke_test,
    train,
    tune_qa,
    upgrade_weights,
)
