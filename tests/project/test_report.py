"""The Markdown table of evaluation scores and the training curve."""

import json

import pytest

from spacy_bert_tasks.project.curve import (
    loss_points,
    mean_losses,
    plot_training_curve,
    read_training_log,
)
from spacy_bert_tasks.project.report import headline, metrics_table

SCORES = {
    "token_acc": 1.0,
    "ents_p": 0.5,
    "ents_r": 0.25,
    "ents_f": 1 / 3,
    "ents_per_type": {"person": {"p": 0.5, "r": 0.25, "f": 1 / 3}},
    "cats_accuracy": 0.875,
    "cats_macro_f": 0.8,
    "cats_f_per_type": {"POSITIVE": {"p": 0.9, "r": 0.8, "f": 0.85}},
    "qa_exact": 0.4,
    "qa_f1": None,
    "qa_total": 112,
    "speed": 1234.5,
}


def test_metrics_table_rows_and_per_label_tables():
    table = metrics_table(SCORES)
    assert "| NER | entity F1 | 33.33 |" in table
    assert "| text classification | accuracy (top label) | 87.50 |" in table
    assert "| QA | exact match | 40.00 |" in table
    assert "| QA | F1 | n/a |" in table
    assert "| QA | questions scored | 112 |" in table
    assert "| all | speed (words/s) | 1,234 |" in table
    assert "| person | 50.00 | 25.00 | 33.33 |" in table
    assert "| POSITIVE | 90.00 | 80.00 | 85.00 |" in table
    assert table.index("entity precision") < table.index("entity F1") < table.index("accuracy")


def test_metrics_table_only_has_the_pipelines_heads():
    table = metrics_table({"cats_accuracy": 0.5, "cats_macro_f": 0.5})
    assert "NER" not in table and "QA" not in table and "entity type" not in table


def test_metrics_table_rejects_other_json():
    with pytest.raises(ValueError, match="spacy evaluate"):
        metrics_table({"accuracy": 1.0})


def test_headline_in_percent():
    assert headline(SCORES) == {
        "ents_p": 50.0,
        "ents_r": 25.0,
        "ents_f": 33.33,
        "cats_accuracy": 87.5,
        "cats_macro_f": 80.0,
        "qa_exact": 40.0,
        "qa_f1": None,
    }


def _write_log(path, records):
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf8")
    return path


RECORDS = [
    {
        "epoch": 0,
        "step": 0,
        "losses": {"ner": 10.0, "qa": 4.0},
        "scores": {"ents_f": 0.0, "speed": 900.0},
        "score": 0.0,
    },
    {
        "epoch": 0,
        "step": 10,
        "losses": {"ner": 50.0, "qa": 20.0},
        "scores": {"ents_f": 20.0, "speed": 950.0},
        "score": 0.2,
    },
    {
        "epoch": 1,
        "step": 30,
        "losses": {"ner": 40.0, "qa": 0.0},
        "scores": {"ents_f": 40.0, "speed": 940.0},
        "score": 0.4,
    },
]


def test_mean_losses_divide_by_the_steps_since_the_last_evaluation():
    # Step 0 covers one step; step 10 the ten after it; step 30 the twenty after that.
    assert mean_losses(RECORDS) == {"ner": [10.0, 5.0, 2.0], "qa": [4.0, 2.0, 0.0]}


def test_loss_panel_starts_after_the_step_0_evaluation():
    # Step 0 is one update with the heads' initial weights (the encoder's loss there is 0).
    assert loss_points(RECORDS) == ([10, 30], {"ner": [5.0, 2.0], "qa": [2.0, 0.0]})
    assert loss_points(RECORDS[:1]) == ([0], {"ner": [10.0], "qa": [4.0]})


def test_plot_training_curve_writes_a_png(tmp_path):
    log = _write_log(tmp_path / "log.jsonl", list(reversed(RECORDS)))
    records = read_training_log(log)
    assert [record["step"] for record in records] == [0, 10, 30]
    output = tmp_path / "plots" / "curve.png"
    plot_training_curve(records, output, title="test")
    assert output.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_read_training_log_errors(tmp_path):
    with pytest.raises(ValueError, match="at least one evaluation"):
        read_training_log(_write_log(tmp_path / "empty.jsonl", []))
    with pytest.raises(ValueError, match="line 1: .* without losses"):
        read_training_log(
            _write_log(tmp_path / "bad.jsonl", [{"step": 0, "scores": {}, "score": 0}])
        )
