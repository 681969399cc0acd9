"""bench/encoder_replay.py and bench/attention.py: smoke runs."""

import json
import sys

import attention
import encoder_replay
import pytest
from spacy.tokens import DocBin

from spacy_bert_tasks.encoder.fused_attention import BLOCKED_WINDOW, FusedSelfAttention

from .test_int8_sweep import trained_pipeline


@pytest.mark.parametrize("task,baseline", [("ner", "unfused"), ("qa", "unfused"), ("long", "sdpa")])
def test_replay_times_four_copies_on_the_recorded_calls(
    tiny_bert, tmp_path, monkeypatch, task, baseline
):
    nlp, examples = trained_pipeline(tiny_bert, task)
    nlp.to_disk(tmp_path / "model")
    DocBin(docs=[eg.reference for eg in examples], store_user_data=True).to_disk(
        tmp_path / "dev.spacy"
    )
    out = tmp_path / "replay.json"
    argv = ["encoder_replay.py", "--model", str(tmp_path / "model"), "--task", task, "--smoke"]
    argv += ["--dev", str(tmp_path / "dev.spacy"), "--threads", "1", "--json", str(out)]
    monkeypatch.setattr(sys, "argv", argv + ["--baseline", baseline])
    encoder_replay.main()
    report = json.loads(out.read_text())
    assert report["baseline"] == baseline
    assert set(report["seconds"]) == set(encoder_replay.COPIES)
    assert all(seconds > 0 for seconds in report["seconds"].values())
    assert report["calls"] >= 1 and report["wordpieces"] > 0


def test_unfused_copies_keep_hfs_attention(tiny_bert):
    nlp, _ = trained_pipeline(tiny_bert, "ner")
    module = nlp.get_pipe("transformer").model.shim._model
    copies = encoder_replay.build_copies(module, "unfused")
    for name, copy in copies.items():
        fused = any(isinstance(m, FusedSelfAttention) for m in copy.modules())
        assert fused == ("baseline" not in name), name
    # building the unfused ones left the package fusing again
    assert any(
        isinstance(m, FusedSelfAttention)
        for m in encoder_replay.build_copies(module)["int8"].modules()
    )


def test_sdpa_baseline_copies_are_fused_without_the_blocks_path(tiny_bert):
    nlp, _ = trained_pipeline(tiny_bert, "ner")
    module = nlp.get_pipe("transformer").model.shim._model
    for name, copy in encoder_replay.build_copies(module, "sdpa").items():
        windows = {m.blocked_window for m in copy.modules() if isinstance(m, FusedSelfAttention)}
        assert windows == ({0} if "baseline" in name else {BLOCKED_WINDOW}), name


def test_attention_smoke_run(tmp_path, monkeypatch, capsys):
    out = tmp_path / "attention.json"
    argv = ["attention.py", "--smoke", "--threads", "1", "--json", str(out)]
    argv += ["--hidden", "48", "--heads", "4"]
    monkeypatch.setattr(sys, "argv", argv)
    attention.main()
    report = json.loads(out.read_text())
    paths = {row["length"]: row["fused_path"] for row in report["rows"]}
    assert paths == {16: "matmul", 128: "blocks", 512: "sdpa"}
    for row in report["rows"]:
        assert set(row["ms"]) == set(attention.SYSTEMS)
        assert row["max_abs_diff"] < 1e-4
    assert "| fused path |" in capsys.readouterr().out
