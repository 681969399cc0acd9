"""Command line: `python -m spacy_bert_tasks COMMAND ...` (`--help` lists the commands).

Each sub-command lives in its own module and registers itself on `app` (or on `convert_app`);
add a new module to the import list at the bottom.

Start-up time: every command module is imported for every command (typer needs them all to
list `--help` and to dispatch), so a module's top level imports only what typer needs to
declare the command: the standard library, `typer`, `wasabi`, and light modules of this
package. Everything else (spaCy, which imports torch through thinc; transformers; ray;
pyarrow; pipeline code) goes INSIDE the command's function, e.g.

    @app.command("annotate")
    def annotate_cli(model: Path = typer.Argument(...)) -> None:
        import spacy                      # here, not at the top of the module
        from ..annotate import annotate
        ...

Then `--help` imports none of them (about 0.5 s instead of 10-20 s) and each command pays only
for what it uses (`convert` imports spaCy but not transformers). The package's own `__init__`
files are lazy for the same reason (spacy_bert_tasks/lazy.py).
tests/cli/test_cli_startup.py fails when a command module imports spaCy, torch or transformers at
its top level.
"""

import typer

app = typer.Typer(
    name="spacy_bert_tasks",
    help="Data conversion, config generation and pipeline tools for spacy_bert_tasks.",
    no_args_is_help=True,
    add_completion=False,
)
convert_app = typer.Typer(
    help="Convert training data to spaCy's binary .spacy format.", no_args_is_help=True
)
app.add_typer(convert_app, name="convert")

# Imported for their side effect of adding commands to the apps above.
from . import (  # noqa: E402,F401
    annotate,
    convert,
    debug_data,
    evaluate,
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
