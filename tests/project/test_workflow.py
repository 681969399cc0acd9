"""The spaCy project's default workflow, end to end, on a copy of project/ with a tiny encoder."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2] / "project"


@pytest.mark.slow
def test_workflow_all_runs_offline(tiny_bert, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(PROJECT, project, ignore=shutil.ignore_patterns("corpus", "training", "metrics", "*.lock"))
    command = [
        sys.executable, "-m", "spacy", "project", "run", "all", str(project),
        "--vars.encoder", tiny_bert, "--vars.max_steps", "4",
    ]
    result = subprocess.run(command, capture_output=True, text=True, env={"HF_HUB_OFFLINE": "1", "PATH": ""})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    metrics = json.loads((project / "metrics" / "ner,textcat.json").read_text())
    assert "ents_per_type" in metrics and "cats_accuracy" in metrics
    assert metrics["cats_docs_without_gold"] == 500  # the NER dev docs, skipped by the textcat scorer
    # Up to date: a second run skips every command.
    again = subprocess.run(command, capture_output=True, text=True, env={"HF_HUB_OFFLINE": "1", "PATH": ""})
    assert again.returncode == 0
    assert again.stdout.count("Skipping") == 4, again.stdout
