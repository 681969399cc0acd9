"""`python -m spacy_bert_tasks smoke-test PACKAGE [--python PY] --html OUT.html --json OUT.json [--checks answers|structure]`."""

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer
from wasabi import msg

from ..project.smoke import (
    EXPECTED,
    QUESTION,
    SECOND_QUESTION,
    TEXT,
    SmokeTestError,
    check_results,
    run_isolated,
)
from . import app

CHECKS = ("answers", "structure")


@app.command("smoke-test")
def smoke_test_cli(
    package: str = typer.Argument(..., help="Installed package name (or a pipeline folder)"),
    python: str = typer.Option(
        sys.executable, "--python", help="Interpreter of the environment to test"
    ),
    html: Path = typer.Option(..., "--html", dir_okay=False, help="The displaCy page to write"),
    json_path: Path = typer.Option(..., "--json", dir_okay=False, help="The results to write"),
    checks: str = typer.Option(
        "answers",
        "--checks",
        help="answers: also a useful model's answers; structure: the output's shape only",
    ),
    text: str = typer.Option(
        TEXT, "--text", help="Text to analyse (--checks answers expects the default)"
    ),
    questions: Optional[List[str]] = typer.Option(
        None, "--question", help="Question(s) about the text"
    ),
) -> None:
    """Load PACKAGE in a fresh, isolated, offline process; run NER, textcat and QA; write a displaCy page."""
    if checks not in CHECKS:
        msg.fail(f"expected --checks {' or '.join(CHECKS)}, got {checks!r}", exits=1)
    try:
        results = run_isolated(
            package, python=python, text=text, questions=questions or [QUESTION, SECOND_QUESTION]
        )
    except SmokeTestError as err:
        msg.fail(str(err), exits=1)
    page = results.pop("html")
    problems = check_results(results, expected=EXPECTED if checks == "answers" else None)
    results["problems"] = problems
    for path, content in ((html, page), (json_path, json.dumps(results, indent=2))):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf8")
    msg.info(
        f"{results['package']} in {results['python']} (spacy_bert_tasks: {results['modules']['spacy_bert_tasks']})"
    )
    msg.text(
        "entities: "
        + (", ".join(f"{e['text']} ({e['label']})" for e in results["entities"]) or "none")
    )
    msg.text(
        "categories: "
        + ", ".join(f"{label} {score:.3f}" for label, score in results["cats"].items())
    )
    for answer in results["answers"]:
        msg.text(f"Q: {answer['question']}  A: {answer['text']}")
    if problems:
        msg.fail("Smoke test failed", "\n".join(problems), exits=1)
    msg.good(f"Smoke test passed; wrote {html} and {json_path}")
