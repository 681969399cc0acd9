"""`python -m spacy_bert_tasks fresh-venv VENV [--first REQ ...] [--find-links DIR] REQ...`."""

from pathlib import Path
from typing import List, Optional

import typer
from wasabi import msg

from . import app


@app.command("fresh-venv")
def fresh_venv_cli(
    venv: Path = typer.Argument(
        ..., file_okay=False, help="Folder of the virtual environment (replaced)"
    ),
    requirements: List[str] = typer.Argument(..., help="What to install: wheels, requirements"),
    first: Optional[List[str]] = typer.Option(
        None, "--first", help="Install these before the rest, e.g. torch==2.13.0"
    ),
    find_links: Optional[Path] = typer.Option(
        None,
        "--find-links",
        file_okay=False,
        help="Folder of wheels pip may take requirements from (pip's --find-links)",
    ),
) -> None:
    """Make a new virtual environment, pip-install --first then the rest, and record `pip freeze`."""
    from ..project.environment import FREEZE_NAME, make_fresh_venv

    try:
        freeze = make_fresh_venv(
            venv, [list(first or []), list(requirements)], find_links=find_links
        )
    except RuntimeError as err:
        msg.fail(str(err), exits=1)
    msg.good(f"Installed {len(freeze)} distributions into {venv}; list in {venv / FREEZE_NAME}")
