"""The spaCy project's default workflow `all`, end to end, on a copy of project/ with a tiny encoder.

Every command runs, the install into a fresh virtual environment included (pip needs PyPI or its
cache for torch and spaCy: about a minute with a warm cache), so what CI checks is what a user
runs: convert, pretrain (2 steps), init-config, train (4 steps, from the pretrained encoder:
--vars.train_encoder), evaluate, package (a wheel), install, smoke-test.
The smoke test checks structure only (`--vars.smoke_checks structure`): four steps of a random
encoder learn nothing.
"""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import srsly
from conftest import write_tiny_bert

import spacy_bert_tasks

REPO = Path(__file__).resolve().parents[2]
PROJECT = REPO / "project"
ALL = (
    "convert",
    "pretrain",
    "init-config",
    "train",
    "evaluate",
    "package",
    "install",
    "smoke-test",
)
PACKAGE = "en_bert_tasks_demo"
WHEEL = f"packages/{PACKAGE}-0.1.0/dist/{PACKAGE}-0.1.0-py3-none-any.whl"
LIB_WHEEL = "packages/{PACKAGE}-0.1.0/dist/spacy_bert_tasks-{version}-py3-none-any.whl"
OUTPUTS = ("corpus", "training", "metrics", "packages", "smoke", "encoders", "project.lock")


def copy_project(target: Path) -> Path:
    """project/ without what its commands write (configs/*/ holds the generated configs)."""

    def ignore(directory: str, names):
        generated = (
            [name for name in names if Path(directory, name).is_dir()]
            if Path(directory).name == "configs"
            else []
        )
        return [name for name in names if name in OUTPUTS] + generated

    return Path(shutil.copytree(PROJECT, target, ignore=ignore))


@pytest.fixture(scope="module")
def tiny_bert_512(tmp_path_factory) -> str:
    # QA windows are 384 wordpieces by default: the tiny BERT needs the positions for them.
    return str(
        write_tiny_bert(tmp_path_factory.mktemp("tiny_bert_512"), max_position_embeddings=512)
    )


def run_project(project: Path, workflow: str, *overrides: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "spacy", "project", "run", workflow, str(project), *overrides]
    # No PATH (only `python` runs, as spaCy resolves it) and Hugging Face offline; pip keeps its
    # settings and cache, for the fresh virtual environment.
    env = {
        key: value for key, value in os.environ.items() if key.startswith("PIP_") or key == "HOME"
    }
    env.update({"HF_HUB_OFFLINE": "1", "PATH": "", "PYTHONDONTWRITEBYTECODE": "1"})
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800)


@pytest.mark.slow
def test_workflow_all_runs_offline_and_skips_when_up_to_date(tiny_bert_512, tmp_path):
    project = copy_project(tmp_path / "project")
    overrides = (
        "--vars.encoder",
        tiny_bert_512,
        "--vars.max_steps",
        "4",
        "--vars.eval_frequency",
        "2",
        "--vars.pretrain_steps",
        "2",
        "--vars.train_encoder",
        "encoders/sample",
        "--vars.source",
        str(REPO),
        "--vars.smoke_checks",
        "structure",
    )
    result = run_project(project, "all", *overrides)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]

    # train started from the pretrain output: the config names it.
    pretrained = srsly.read_json(project / "encoders/sample/pretrain_meta.json")
    assert pretrained["steps"] == 2 and pretrained["started_from"] == tiny_bert_512
    config = (project / "training/sample/joint/model-best/config.cfg").read_text()
    assert 'name = "encoders/sample"' in config

    metrics = srsly.read_json(project / "metrics/sample/joint.json")
    assert {"ents_f", "cats_accuracy", "qa_f1", "qa_exact"} <= set(metrics)
    assert metrics["qa_total"] == 112 and metrics["cats_docs_without_gold"] == 500 + 112
    assert "| QA | F1 |" in (project / "metrics/sample/joint.md").read_text()
    assert (project / "metrics/sample/joint.png").read_bytes()[:4] == b"\x89PNG"
    assert (
        len(list(srsly.read_jsonl(project / "training/sample/joint/train_log.jsonl"))) == 3
    )  # steps 0, 2, 4

    # The wheel: the pipeline, the model card, the sources' licenses, the requirements.
    with zipfile.ZipFile(project / WHEEL) as wheel:
        names = wheel.namelist()
        card = next(
            wheel.read(name).decode() for name in names if name.endswith("-0.1.0/README.md")
        )
        requires = next(wheel.read(name).decode() for name in names if name.endswith("METADATA"))
    assert any(name.endswith("transformer/model") or "/transformer/" in name for name in names)
    assert any(name.endswith("LICENSES_SOURCES") for name in names)
    assert "## Accuracy" in card and "| QA | exact match |" in card and "CC BY-SA 4.0" in card
    assert f"pip install --find-links dist/ {PACKAGE}==0.1.0" in card
    # The library's wheel beside the model's: what `pip install --find-links` needs.
    assert (
        project / LIB_WHEEL.format(PACKAGE=PACKAGE, version=spacy_bert_tasks.__version__)
    ).is_file()
    assert (
        "Requires-Dist: spacy_bert_tasks" in requires
        and "Requires-Dist: spacy-transformers" in requires
    )

    # The smoke test ran in the fresh environment, from the installed wheels only.
    venv = project / "packages/venv"
    freeze = (venv / "pip-freeze.txt").read_text()
    # Installed as a pip user would: `pip install --find-links DIST NAME` (no index has the
    # library), torch from PyPI.
    version = spacy_bert_tasks.__version__
    assert (
        f"{PACKAGE}==0.1.0" in freeze
        and f"spacy_bert_tasks=={version}" in freeze
        and "torch==2.13.0" in freeze
    )
    results = json.loads((project / "smoke/results.json").read_text())
    assert results["problems"] == []
    assert results["python"] == str(venv / "bin/python")
    assert results["modules"]["spacy_bert_tasks"].startswith(str(venv))
    assert results["modules"][PACKAGE].startswith(str(venv))
    assert [answer["question"] for answer in results["answers"]][0].startswith(
        "Where did Taylor Swift"
    )
    page = (project / "smoke/displacy.html").read_text()
    assert "<h2>Entities (ner)</h2>" in page and "Categories (textcat)" in page

    # Up to date: a second run skips every command.
    again = run_project(project, "all", *overrides)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert again.stdout.count("Skipping") == len(ALL), again.stdout


@pytest.mark.slow
def test_other_workflows_are_well_formed(tmp_path):
    project = copy_project(tmp_path / "project")
    config = srsly.read_yaml(project / "project.yml")
    commands = {command["name"]: command for command in config["commands"]}
    assert list(config["workflows"]["all"]) == list(ALL)
    for workflow in config["workflows"].values():
        assert set(workflow) <= set(commands)
    # No two commands write the same output, and every command lists its outputs.
    outputs = [output for command in commands.values() for output in command.get("outputs", [])]
    assert len(outputs) == len(set(outputs))
    assert all(command.get("outputs") for command in commands.values())
    # all-gpu: a dry run lists its commands (the GPU itself is not needed for that).
    dry = subprocess.run(
        [sys.executable, "-m", "spacy", "project", "run", "all-gpu", str(project), "--dry"],
        capture_output=True,
        text=True,
        env={"HF_HUB_OFFLINE": "1", "PATH": ""},
        timeout=600,
    )
    assert dry.returncode == 0, dry.stdout[-3000:] + dry.stderr[-3000:]
    assert "--gpu-id 0" in dry.stdout and "init-config configs/gpu/joint.cfg" in dry.stdout
