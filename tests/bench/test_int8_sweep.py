"""bench/int8_sweep.py: its choice of setting, its candidate groups, and a smoke run."""

import json
import sys

import int8_sweep
from spacy.tokens import DocBin
from util import adam, make_nlp, ner_examples, train_steps


def rows(**scores_and_speeds):
    return {name: {"score": s, "speed": v} for name, (s, v) in scores_and_speeds.items()}


def test_recommend_picks_the_fastest_within_the_budget():
    found = rows(fp32=(90.0, 100.0), int8=(88.5, 200.0), a=(89.0, 180.0), b=(89.5, 150.0))
    assert int8_sweep.recommend(found, 1.0) == "a"  # int8 is faster but loses 1.5
    assert int8_sweep.recommend(found, 2.0) == "int8"
    assert int8_sweep.recommend(found, 0.4) == "fp32"  # nothing else within 0.4 point
    # exactly at the budget counts; a setting scoring above fp32 is fine too
    assert int8_sweep.recommend(rows(fp32=(90.0, 100.0), c=(89.0, 120.0)), 1.0) == "c"
    assert int8_sweep.recommend(rows(fp32=(90.0, 100.0), d=(91.0, 90.0)), 1.0) == "fp32"


def test_best_single_layers_combines_the_best_ffn_outputs():
    results = {
        name: {"score": score, "fp32_layers": layers}
        for name, _, layers, score in [
            (*int8_sweep.per_layer_groups(3)[0], 80.0),
            (*int8_sweep.per_layer_groups(3)[1], 85.0),
            (*int8_sweep.per_layer_groups(3)[2], 82.0),
            (*int8_sweep.per_layer_groups(3)[3], 99.0),  # an FFN input row: not a candidate
        ]
    }
    combos = int8_sweep.best_single_layers(results, 3)
    assert [layers for _, _, layers in combos] == [
        ("encoder.layer.1.output.dense", "encoder.layer.2.output.dense"),
        (
            "encoder.layer.0.output.dense",
            "encoder.layer.1.output.dense",
            "encoder.layer.2.output.dense",
        ),
    ]
    assert combos[0][0] == "int8, L1+2 FFN out fp32"


def test_smoke_run_end_to_end(tiny_bert, tmp_path, monkeypatch, capsys):
    nlp = make_nlp(tiny_bert, ("ner",))
    examples = ner_examples(nlp)
    nlp.initialize(lambda: examples)
    train_steps(nlp, examples, adam(), 5)
    nlp.to_disk(tmp_path / "model")
    DocBin(docs=[eg.reference for eg in examples]).to_disk(tmp_path / "dev.spacy")
    out = tmp_path / "sweep.json"
    argv = ["int8_sweep.py", "--model", str(tmp_path / "model"), "--task", "ner", "--smoke"]
    argv += ["--dev", str(tmp_path / "dev.spacy"), "--threads", "1", "--json", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    int8_sweep.main()
    report = json.loads(out.read_text())
    assert set(report["results"]) == {name for name, _, _ in int8_sweep.whole_model_groups(2)}
    assert report["recommendation"] in report["results"]
    assert all(row["speed"] > 0 for row in report["results"].values())
    printed = capsys.readouterr().out
    assert "(recommended)" in printed and "| int8, FFN out fp32" in printed
