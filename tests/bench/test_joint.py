"""bench/joint.py: its per-task option, and a smoke run end to end on the project's samples (slow)."""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import joint
import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "project" / "assets"
SOURCES = {  # corpus file name (harness/corpus.FILES) -> converter and shipped sample
    "conll_train.spacy": ("conll", "wnut17_sample/train.conll"),
    "conll_dev.spacy": ("conll", "wnut17_sample/dev.conll"),
    "sst2_train.spacy": ("textcat", "sentiment_sample/train.tsv"),
    "sst2_dev.spacy": ("textcat", "sentiment_sample/dev.tsv"),
    "squad_train.spacy": ("squad", "squad_sample/train.json"),
    "squad_dev.spacy": ("squad", "squad_sample/dev.json"),
}


def test_train_docs_needs_a_count_per_task():
    assert joint.train_docs("ner=2,textcat=3,qa=4") == {"ner": 2, "textcat": 3, "qa": 4}
    for bad in ("ner=2,textcat=3", "ner=2,textcat=3,qa=0", "ner=2,textcat=3,qa", "pos=1"):
        with pytest.raises((argparse.ArgumentTypeError, ValueError)):
            joint.train_docs(bad)


@pytest.mark.slow
def test_joint_smoke_runs_end_to_end(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    folder = tmp_path / "corpus"
    for name, (kind, sample) in SOURCES.items():
        command = [sys.executable, "-m", "spacy_bert_tasks", "convert", kind]
        done = subprocess.run(
            command + [str(SAMPLES / sample), str(folder / name)], env=env, capture_output=True
        )
        assert done.returncode == 0, done.stderr[-2000:]
    report = tmp_path / "joint.json"
    command = [sys.executable, "bench/joint.py", "--smoke", "--threads", "1"]
    command += ["--corpus", str(folder), "--output", str(tmp_path), "--json", str(report)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "joint - single" in done.stdout
    runs = json.loads(report.read_text())["seeds"]["0"]
    assert set(runs) == {"ner", "textcat", "qa", "joint"}
    for task, key in joint.KEYS.items():
        assert 0 <= runs[task]["scores"][task][key] <= 1
        assert 0 <= runs["joint"]["scores"][task][key] <= 1
        assert set(runs[task]["scores"]) == {task}
    # One epoch each: the joint run takes about as many steps as the three single runs together.
    singles = sum(runs[task]["steps"] for task in joint.TASKS)
    assert singles - 3 <= runs["joint"]["steps"] <= singles + 8
    train_files = sorted(
        p.name for p in (tmp_path / "smoke" / "seed0" / "corpus" / "train").iterdir()
    )
    assert train_files == ["conll_train.spacy", "squad_train.spacy", "sst2_train.spacy"]
