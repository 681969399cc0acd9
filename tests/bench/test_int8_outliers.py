"""bench/int8_outliers.py: channel maxima, exact smoothing, and a smoke run."""

import json
import sys

import int8_outliers
import numpy
import torch
from spacy.tokens import DocBin
from util import qa_examples, trained_qa_nlp


def test_smoothing_is_exact_in_fp32_and_the_outlier_is_found(tiny_bert):
    torch.manual_seed(0)
    module = tiny_bert_module(tiny_bert)
    inputs = torch.randint(0, module.config.vocab_size, (2, 12))
    # channel maxima of some plausible scale, with an outlier channel
    maxima = {}
    for name, sub in module.named_modules():
        if isinstance(sub, torch.nn.Linear):
            channel_max = torch.rand(sub.in_features) + 0.5
            channel_max[3] = 20.0
            maxima[name] = channel_max
    with torch.no_grad():
        expected = module(inputs).last_hidden_state
    for alpha in (0.5, 0.8):
        for ffn_in_only in (False, True):
            smoothed = int8_outliers.smoothed_copy(module, maxima, alpha, ffn_in_only)
            with torch.no_grad():
                found = smoothed(inputs).last_hidden_state
            numpy.testing.assert_allclose(found, expected, rtol=1e-4, atol=1e-4)
    # the original is untouched, and the weights did change in the copy
    assert not torch.equal(
        smoothed.encoder.layer[0].intermediate.dense.linear.weight,
        module.encoder.layer[0].intermediate.dense.weight,
    )
    rows = int8_outliers.outlier_rows(maxima)
    assert len(rows) == len(maxima) - 2 * module.config.num_hidden_layers  # key, value folded
    assert all(row["top"][0] == 3 and row["ratio"] > 10 for row in rows)


def tiny_bert_module(tiny_bert):
    from transformers import AutoModel

    return AutoModel.from_pretrained(str(tiny_bert)).eval()


def test_smoke_run_end_to_end(tiny_bert, tmp_path, monkeypatch, capsys):
    nlp, examples = trained_qa_nlp(tiny_bert, qa_examples, 5)
    nlp.to_disk(tmp_path / "model")
    DocBin(docs=[eg.reference for eg in examples], store_user_data=True).to_disk(
        tmp_path / "qa.spacy"
    )
    out = tmp_path / "outliers.json"
    argv = ["int8_outliers.py", "--model", str(tmp_path / "model"), "--task", "qa", "--smoke"]
    argv += ["--dev", str(tmp_path / "qa.spacy"), "--calibration", str(tmp_path / "qa.spacy")]
    argv += ["--threads", "1", "--json", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    int8_outliers.main()
    report = json.loads(out.read_text())
    assert set(report["results"]) == {
        "fp32",
        "int8, 7-bit activations",
        "int8, 8-bit activations",
        "int8 8-bit, SmoothQuant alpha 0.5 (all Linear)",
        "int8 8-bit, SmoothQuant alpha 0.5 (FFN in only)",
        "fp32 smoothed, alpha 0.5",
    }
    # smoothing alone changes nothing that the score can see
    results = report["results"]
    assert abs(results["fp32 smoothed, alpha 0.5"]["score"] - results["fp32"]["score"]) < 1e-6
    assert report["outliers"] and all(row["ratio"] >= 1 for row in report["outliers"])
    assert "| int8, 8-bit activations" in capsys.readouterr().out
