"""The equal-wall-clock bench: the HF standard recipe's steps and evaluation points
(bench/hf_finetune.py), and bench/head_to_head.py end to end on a few docs (slow)."""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import hf_finetune
import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_standard_batches_cover_every_example_once_per_epoch():
    docs = list(range(70))
    args = argparse.Namespace(epochs=2.0, batch_examples=32, seed=3)
    steps, batches = hf_finetune.standard_batches(docs, args)
    assert steps == 6  # 3 batches per epoch (32, 32, 6)
    epochs = [[next(batches) for _ in range(3)] for _ in range(2)]
    for epoch in epochs:
        assert [len(b) for b in epoch] == [32, 32, 6]
        assert sorted(x for b in epoch for x in b) == docs
    assert epochs[0] != epochs[1]
    half = argparse.Namespace(epochs=0.5, batch_examples=32, seed=0)
    assert hf_finetune.standard_batches(docs, half)[0] == 2


def test_evaluation_steps_are_spread_and_end_on_the_last_step():
    assert hf_finetune.evaluation_steps(625, 4) == [156, 312, 469, 625]
    assert hf_finetune.evaluation_steps(625, 1) == [625]
    assert hf_finetune.evaluation_steps(2, 4) == [1, 2]


@pytest.mark.slow
def test_head_to_head_smoke_runs_end_to_end(tmp_path):
    folder = write_textcat_corpus(tmp_path / "corpus")
    report = tmp_path / "h2h.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "bench/head_to_head.py", "--task", "textcat", "--smoke"]
    command += ["--threads", "1", "--output", str(tmp_path), "--json", str(report)]
    command += ["--corpus", str(folder)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ours s to reach HF" in done.stdout
    run = json.loads(report.read_text())["runs"]["0"]
    hf, ours, row = run["hf"], run["ours"], run["row"]
    assert hf["args"]["recipe"] == "standard" and hf["steps"] == 10  # 2 epochs of 40 docs by 8
    assert [p["step"] for p in hf["curve"]] == [5, 10]
    assert ours["max_steps"] % ours["eval_frequency"] == 0
    # training ran to max_steps, or the budget stopped it after the step that spent it
    assert len(ours["step_seconds"]) == ours["steps_run"] + 1 <= ours["max_steps"] + 1
    before_last = ours["step_seconds"][-2] if ours["steps_run"] else 0.0
    assert ours["steps_run"] == ours["max_steps"] or before_last < hf["train_seconds"]
    steps = [p["step"] for p in ours["curve"]]
    assert steps == list(range(0, ours["steps_run"] + 1, ours["eval_frequency"]))
    assert ours["train_seconds"] == ours["step_seconds"][-1] > 0
    assert ours["paused_seconds"] >= sum(p["eval_seconds"] for p in ours["curve"])
    assert row["hf_seconds"] == hf["train_seconds"]
    assert row["diff"] == pytest.approx(row["ours"] - row["hf"])
    assert 0 <= row["ours"] <= 100 and ours["scores"]["dev_docs"] == 30
    assert (tmp_path / "smoke" / "textcat_seed0" / "training" / "model-last").is_dir()


def write_textcat_corpus(folder: Path) -> Path:
    """SST-2-like train and dev files (60 and 40 short reviews) where corpus.py looks for them."""
    import spacy
    from harness import corpus
    from spacy.tokens import DocBin

    nlp = spacy.blank("en")
    words = {"POSITIVE": ["great", "fine", "lovely"], "NEGATIVE": ["awful", "dull", "bad"]}
    for name, count in zip(corpus.FILES["textcat"], (60, 40)):
        docs = []
        for i in range(count):
            label = ("POSITIVE", "NEGATIVE")[i % 2]
            doc = nlp.make_doc(f"a {words[label][i % 3]} film , number {i}")
            doc.cats = {
                "POSITIVE": float(label == "POSITIVE"),
                "NEGATIVE": float(label == "NEGATIVE"),
            }
            docs.append(doc)
        folder.mkdir(parents=True, exist_ok=True)
        DocBin(docs=docs, store_user_data=True).to_disk(folder / name)
    return folder
