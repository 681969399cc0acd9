"""bench/int8_sweep.py: its choice of setting, its candidate groups, and a smoke run."""

import json
import sys

import int8_sweep
import pytest
from spacy.tokens import DocBin
from util import ner_examples, qa_examples, trained_qa_nlp


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
    # the eager fp32 row is a reference, never the pick (timing noise can make it fastest)
    found = rows(**{"fp32": (90.0, 100.0), int8_sweep.FP32_EAGER: (90.0, 110.0)})
    assert int8_sweep.recommend(found, 1.0) == "fp32"


def test_recommend_prefers_fewer_fp32_layers_among_tied_speeds():
    found = {
        "fp32": {"score": 90.0, "speed": 100.0, "fp32_layers": []},
        "int8": {"score": 89.5, "speed": 200.0, "fp32_layers": []},
        "one": {"score": 89.6, "speed": 204.0, "fp32_layers": ["encoder.layer.0"]},
        "two": {"score": 89.7, "speed": 230.0, "fp32_layers": ["a", "b"]},
    }
    # "two" is clearly fastest (>5% over the rest): speed wins
    assert int8_sweep.recommend(found, 1.0) == "two"
    # within 5% of each other, "int8" and "one" tie: fewer fp32 layers wins over +2% speed
    del found["two"]
    assert int8_sweep.recommend(found, 1.0) == "int8"
    assert int8_sweep.recommend(found, 1.0, tie=0.0) == "one"


def test_best_single_layers_combines_the_best_ffn_outputs():
    results = {
        name: {"score": score, "fp32_layers": layers}
        for name, _, layers, _, score in [
            (*int8_sweep.per_layer_groups(3, "full")[0], 80.0),
            (*int8_sweep.per_layer_groups(3, "full")[1], 85.0),
            (*int8_sweep.per_layer_groups(3, "full")[2], 82.0),
            (*int8_sweep.per_layer_groups(3, "full")[3], 99.0),  # an FFN input: not a candidate
        ]
    }
    combos = int8_sweep.best_single_layers(results, 3, "full")
    assert {activation_range for *_, activation_range in combos} == {"full"}
    assert [layers for _, _, layers, _ in combos] == [
        ("encoder.layer.1.output.dense", "encoder.layer.2.output.dense"),
        (
            "encoder.layer.0.output.dense",
            "encoder.layer.1.output.dense",
            "encoder.layer.2.output.dense",
        ),
    ]
    assert combos[0][0] == "int8, L1+2 FFN out fp32"


def trained_pipeline(tiny_bert, task):
    """A pipeline with the encoder, an NER head and a QA head, a few steps trained, and the
    examples of `task`."""
    nlp, examples = trained_qa_nlp(
        tiny_bert, lambda nlp: ner_examples(nlp) + qa_examples(nlp), 5, heads=("ner",)
    )
    wanted = [eg for eg in examples if (eg.reference._.question is not None) == (task == "qa")]
    return nlp, wanted


@pytest.mark.parametrize("task", ["ner", "qa"])
def test_smoke_run_end_to_end(tiny_bert, tmp_path, monkeypatch, capsys, task):
    nlp, examples = trained_pipeline(tiny_bert, task)
    nlp.to_disk(tmp_path / "model")
    refs = [eg.reference for eg in examples]
    DocBin(docs=refs, store_user_data=True).to_disk(tmp_path / "dev.spacy")
    out = tmp_path / "sweep.json"
    argv = ["int8_sweep.py", "--model", str(tmp_path / "model"), "--task", task, "--smoke"]
    argv += ["--dev", str(tmp_path / "dev.spacy"), "--threads", "1", "--json", str(out)]
    argv += ["--fp32-layers", "encoder.layer.1.output.dense"]  # one more row
    monkeypatch.setattr(sys, "argv", argv)
    int8_sweep.main()
    report = json.loads(out.read_text())
    assert report["activation_range"] in ("full", "reduced")
    expected = {name for name, *_ in int8_sweep.whole_model_groups(2, report["activation_range"])}
    assert set(report["results"]) == expected | {"int8, given layers fp32", int8_sweep.FP32_EAGER}
    assert report["inference_graph"] == "packed"  # the package default; the extra row: eager
    # one int8 row quantizes activations with the other range: what the extra bit is worth
    other = "reduced" if report["activation_range"] == "full" else "full"
    ranges = {name: row["activation_range"] for name, row in report["results"].items()}
    assert [name for name, found in ranges.items() if found != report["activation_range"]] == [
        "fp32",
        int8_sweep.FP32_EAGER,
        f"int8, {int8_sweep.BITS[other]} activations",
    ]
    assert ranges["fp32"] is None and ranges[f"int8, {int8_sweep.BITS[other]} activations"] == other
    assert report["results"]["int8, given layers fp32"]["fp32_layers"] == [
        "encoder.layer.1.output.dense"
    ]
    assert report["dev_docs"] == min(8, len(refs))
    assert report["recommendation"] in report["results"]
    assert all(row["speed"] > 0 for row in report["results"].values())
    assert all(row["page_faults"] >= 0 for row in report["results"].values())
    printed = capsys.readouterr().out
    assert "(recommended)" in printed and "| int8, FFN out fp32" in printed
    assert ("questions/s" in printed) == (task == "qa")


def test_speed_only_runs_fp32_and_int8_alone(tiny_bert, tmp_path, monkeypatch, capsys):
    nlp, examples = trained_pipeline(tiny_bert, "ner")
    nlp.to_disk(tmp_path / "model")
    DocBin(docs=[eg.reference for eg in examples]).to_disk(tmp_path / "dev.spacy")
    out = tmp_path / "speed.json"
    argv = ["int8_sweep.py", "--model", str(tmp_path / "model"), "--task", "ner", "--smoke"]
    argv += ["--dev", str(tmp_path / "dev.spacy"), "--threads", "1", "--json", str(out)]
    monkeypatch.setattr(sys, "argv", argv + ["--speed-only"])
    int8_sweep.main()
    assert list(json.loads(out.read_text())["results"]) == ["fp32", "int8"]
    header = next(line for line in capsys.readouterr().out.splitlines() if "| setting" in line)
    assert [cell.strip() for cell in header.strip("|").split("|")][-2:] == ["rounds", "faults"]


def test_table_shows_the_spread_of_each_rounds_ratio():
    def row(speeds, score=50.0):
        return {"score": score, "speed": sorted(speeds)[1], "speeds": speeds, "page_faults": 1500}

    report = {
        "task": "qa",
        "recommendation": "int8",
        "results": {"fp32": row([10.0, 20.0, 10.0]), "int8": row([19.0, 30.0, 21.0], 49.5)},
    }
    int8_line = int8_sweep.table(report).splitlines()[-1]
    # medians 21 / 10 = 2.10x; the rounds: 1.90x, 1.50x, 2.10x
    cells = [cell.strip() for cell in int8_line.strip("|").split("|")]
    assert cells == ["int8 (recommended)", "49.50", "-0.50", "21.0", "2.10x", "1.50-2.10x", "2k"]
