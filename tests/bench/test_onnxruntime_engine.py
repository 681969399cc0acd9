"""bench/onnxruntime_engine.py: a smoke run on a tiny trained pipeline."""

import json
import sys

import onnxruntime_engine
import pytest
from spacy.tokens import DocBin

from .test_int8_sweep import trained_pipeline


@pytest.mark.parametrize("task", ["ner", "qa"])
def test_four_engines_time_the_recorded_calls(tiny_bert, tmp_path, monkeypatch, capsys, task):
    nlp, examples = trained_pipeline(tiny_bert, task)
    nlp.to_disk(tmp_path / "model")
    DocBin(docs=[eg.reference for eg in examples], store_user_data=True).to_disk(
        tmp_path / "dev.spacy"
    )
    out = tmp_path / "engines.json"
    argv = ["onnxruntime_engine.py", "--model", str(tmp_path / "model"), "--task", task]
    argv += ["--smoke", "--dev", str(tmp_path / "dev.spacy"), "--threads", "1"]
    monkeypatch.setattr(sys, "argv", argv + ["--json", str(out)])
    onnxruntime_engine.main()
    report = json.loads(out.read_text())
    assert set(report["seconds"]) == set(onnxruntime_engine.ENGINES)
    assert all(seconds > 0 for seconds in report["seconds"].values())
    diffs = report["max_abs_diff"]
    # fp32 graphs give the module's values; int8 ones only near them
    assert diffs["torch fp32"] < 1e-4 and diffs["ORT fp32"] < 1e-4
    assert 0 < diffs["ORT int8"] < 1.0
    # ONNX Runtime fused the graph's attention (one node per layer of the tiny model)
    layers = nlp.get_pipe("transformer").model.shim._model.config.num_hidden_layers
    assert report["fusions"].get("Attention") == layers
    assert "| ORT int8 |" in capsys.readouterr().out
