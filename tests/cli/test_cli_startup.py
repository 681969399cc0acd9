"""The command line starts without heavy imports: `--help` imports neither spaCy, torch nor
transformers, and `convert` not transformers (see spacy_bert_tasks/cli/__init__.py)."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("spacy", "thinc", "torch", "transformers", "spacy_transformers", "ray", "pyarrow")

# Runs the CLI as `python -m spacy_bert_tasks ARGS` would, then reports what was imported.
RUN_CLI = """
import json, sys
heavy = json.loads(sys.argv[2])
sys.argv = ["spacy_bert_tasks"] + json.loads(sys.argv[1])
from spacy_bert_tasks.cli import app
try:
    app()
except SystemExit as exit:
    code = exit.code
print(json.dumps({"code": code, "imported": [name for name in heavy if name in sys.modules]}))
"""


def imported_by(args, cwd) -> list:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", RUN_CLI, json.dumps(args), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["code"] in (0, None), result.stdout[-2000:] + result.stderr[-2000:]
    return report["imported"]


def test_help_imports_nothing_heavy(tmp_path):
    assert imported_by(["--help"], tmp_path) == []
    assert imported_by(["convert", "--help"], tmp_path) == []


def test_convert_imports_no_transformers(tmp_path):
    data = tmp_path / "cats.tsv"
    data.write_text("text\tlabel\ngood film\tPOS\nbad film\tNEG\n", encoding="utf8")
    imported = imported_by(
        ["convert", "textcat", str(data), str(tmp_path / "cats.spacy")], tmp_path
    )
    assert (tmp_path / "cats.spacy").exists()
    # spaCy itself imports torch (thinc checks for it at import); transformers is the cost here.
    assert "spacy" in imported
    assert "transformers" not in imported and "spacy_transformers" not in imported
