"""Targets and tables of docs/benchmarks.md (bench/report_md.py), from made-up results."""

import report_md


def pipe(joint=3.0, ner=1.1):
    return {
        "systems": {
            "spacy_ner_textcat": {"ratio_to_peer": joint},
            "spacy_ner": {"ratio_to_peer": ner},
        }
    }


def qa(fp32=1.2, bf16=(1.6, 60.0), int8=(1.4, 60.5), base_f1=60.5):
    systems = {"spacy": {"ratio_to_hf": fp32, "squad": {"f1": base_f1}}}
    for name, (ratio, f1) in (("bf16", bf16), ("int8", int8)):
        systems[f"spacy_{name}"] = {"ratio_to_hf": ratio, "squad": {"f1": f1}}
    return {"systems": systems}


def by_id(targets):
    return {target.id: target for target in targets}


def test_speed_targets_met_missed_and_missing():
    targets = by_id(report_md.speed_targets({"pipe_speed": pipe(), "qa_speed": qa()}))
    assert targets["ner_textcat_speed"].met is True
    assert targets["ner_textcat_speed"].measured == "3.00x"
    assert targets["ner_speed"].met is False
    assert targets["qa_fp32_speed"].met is True
    assert (
        targets["encoder_flops"].met is None and targets["encoder_flops"].measured == "not measured"
    )
    assert targets["peak_rss"].met is None


def test_reduced_precision_needs_speed_and_accuracy_together():
    # bf16 fast enough and 0.5 F1 lost: met; int8 too slow does not matter.
    assert report_md.reduced_precision_target(qa()).met is True
    # Fast enough but 1.5 points lost.
    assert report_md.reduced_precision_target(qa(bf16=(1.6, 59.0))).met is False
    # Without a trained model there is no F1: not decidable.
    no_f1 = {"systems": {"spacy": {"ratio_to_hf": 1.0}, "spacy_int8": {"ratio_to_hf": 2.0}}}
    target = report_md.reduced_precision_target(no_f1)
    assert target.met is None and "F1 not measured" in target.measured
    assert report_md.reduced_precision_target(None).measured == "not measured"


def scores(ner, textcat, qa_f1):
    return {
        "ner": {"ents_f": ner},
        "textcat": {"cats_accuracy": textcat},
        "qa": {"qa_exact": 0.4, "qa_f1": qa_f1},
    }


def test_accuracy_rows_and_targets():
    results = {
        "spacy_ner": {"scores": {"ner": {"ents_f": 0.88}}},
        "spacy_textcat": {"scores": {"textcat": {"cats_accuracy": 0.87}}},
        "spacy_qa": {"scores": {"qa": {"qa_exact": 0.45, "qa_f1": 0.60}}},
        "spacy_joint": {"scores": scores(0.875, 0.85, 0.605)},
        "hf_ner": {"scores": {"ents_f": 0.86}},
        "hf_textcat": {"scores": {"cats_accuracy": 0.88}},
        "hf_qa": {"scores": {"qa_exact": 0.44, "qa_f1": 0.59}},
    }
    rows = {row["key"]: row for row in report_md.accuracy_rows(results)}
    assert round(rows["ents_f"]["single"], 6) == 88.0 and round(rows["ents_f"]["hf"], 6) == 86.0
    assert round(rows["qa_exact"]["joint"], 6) == 40.0
    targets = by_id(report_md.accuracy_targets(results))
    assert targets["accuracy_ner"].met is True
    assert targets["accuracy_textcat"].met is False
    assert targets["accuracy_qa"].met is True
    # textcat joint is 2 points below single-task: missed.
    assert targets["joint_vs_single"].met is False
    assert "SST-2 -2.00" in targets["joint_vs_single"].measured


def test_targets_table_leaves_a_slot_for_missed_targets():
    targets = [
        report_md.Target("a", "A fast", "1.00x", False),
        report_md.Target("b", "B fast", "3.00x", True),
        report_md.Target("c", "C small", "not measured", None),
    ]
    table = report_md.targets_section(targets, {"b": "fixed the batching"})
    lines = table.splitlines()
    assert "**missed**" in lines[2] and "benchmarks_notes.json, key `a`" in lines[2]
    assert "met" in lines[3] and "fixed the batching" in lines[3]
    assert "| -" in lines[4]


def test_get_walks_missing_levels():
    assert report_md.get({"a": {"b": 1}}, "a", "b") == 1
    assert report_md.get({"a": {"b": None}}, "a", "b", "c") is None
    assert report_md.get(None, "a") is None


def test_render_without_results(tmp_path):
    page = report_md.render(
        results={},
        metas={"flops": {"returncode": 2}},
        commands={
            name: f"python bench/{name}.py"
            for name in tuple(part[0] for part in report_md.PARTS) + report_md.ACCURACY_STEPS
        },
        notes={},
        img=tmp_path / "img",
        page=tmp_path / "benchmarks.md",
        smoke=True,
        threads=2,
    )
    assert "Smoke run" in page
    assert "_failed (exit 2)" in page and "_not run_" in page
    assert "Command: `python bench/flops.py`" in page
    assert not list((tmp_path / "img").iterdir())  # nothing to plot


ANNOTATE = {
    "rows": 100,
    "qa_rows": 5,
    "words": 1500,
    "threads": 2,
    "ray_start_s": 4.0,
    "model_load_s": 1.0,
    "driver_io_rows_per_s": 9000.0,
    "same_output": {"ray_1x": True, "ray_nx1": False},
    "systems": {
        "nlp_pipe": {"seconds": 1.0, "rows_per_s": 100.0},
        "local": {"seconds": 1.0, "rows_per_s": 90.0},
        "ray_1x": {"seconds": 1.0, "rows_per_s": 85.5},
        "ray_nx1": {"seconds": 1.0, "rows_per_s": 72.0},
    },
}


def test_ray_overhead_target_takes_the_better_layout():
    target = report_md.ray_overhead_target(ANNOTATE)
    assert target.met is True  # 1 - 85.5 / 90 = 5% <= 10%
    assert "+5.0%" in target.measured and "+20.0%" in target.measured
    slow = {
        **ANNOTATE,
        "systems": {**ANNOTATE["systems"], "ray_1x": {"seconds": 1.0, "rows_per_s": 80.0}},
    }
    assert report_md.ray_overhead_target(slow).met is False
    assert report_md.ray_overhead_target(None).met is None


def test_annotate_section_names_unequal_outputs():
    text = report_md.SECTIONS["annotate_speed"](ANNOTATE)
    assert "ray_nx1 NO" in text and "| annotate --engine local, 2 threads" in text


def test_pretrain_sections_and_target():
    speed = {
        "spacy_bert_tasks": {"words_per_s": 1500.0},
        "hf": {"words_per_s": 1000.0},
        "ratio": 1.5,
        "timed_steps": 35,
        "words": 40000,
    }
    target = by_id(report_md.speed_targets({"pretrain_speed": speed}))["pretrain_speed"]
    assert target.met is True and target.measured == "1.50x"
    cells = [
        cell.strip() for cell in report_md.pretrain_speed_section(speed).splitlines()[2].split("|")
    ]
    assert cells[1:4] == ["1,500", "1,000", "1.50x"]
    effect = {
        "sizes": {
            "pretrain_steps": 200,
            "max_length": 64,
            "batch_tokens": 2048,
            "pretrain_learn_rate": 1e-4,
            "head_learn_rate": 1e-3,
            "ner_steps": 150,
            "textcat_steps": 100,
            "learn_rate": 1e-4,
            "sst2_dev": 1000,
            "sst2_train": 2000,
            "sst2_raw": 20000,
            "seeds": [0, 1],
        },
        "pretrain": {
            "wnut-mlm": {
                "heldout_perplexity_before": 50000.0,
                "heldout_perplexity_after": 40.5,
                "steps": 200,
                "train_words_per_second": 900.0,
                "wall_seconds": 300.0,
            }
        },
        "finetune": [
            {
                "task": "ner",
                "start": "minilm",
                "seed": s,
                "score": 0.4 + s / 100,
                "steps": 150,
                "train_seconds": 100.0,
            }
            for s in (1, 0)
        ],
    }
    section = report_md.pretrain_effect_section(effect)
    row = next(line for line in section.splitlines() if "wnut-mlm" in line)
    assert [cell.strip() for cell in row.split("|")][1:4] == ["wnut-mlm", "50,000", "40.50"]
    assert "40.00, 41.00" in section and "40.50" in section  # seeds in order, then their mean
