"""`python -m spacy_bert_tasks train`: spacy train with a fresh JSON Lines log of every evaluation."""

import srsly
from typer.testing import CliRunner

from spacy_bert_tasks.cli import app
from spacy_bert_tasks.config import generate_config

runner = CliRunner()


def test_generated_configs_log_to_a_file_when_asked():
    logger = generate_config(["ner"])["training"]["logger"]
    assert logger["@loggers"] == "spacy.ConsoleLogger.v3"
    assert logger["output_file"] is None


def test_a_logger_without_output_file_is_a_clear_error(tmp_path):
    config = generate_config(["ner"])
    config["training"]["logger"] = {"@loggers": "spacy.ConsoleLogger.v1", "progress_bar": False}
    path = tmp_path / "config.cfg"
    config.to_disk(path)
    result = runner.invoke(app, ["train", str(path), "--output", str(tmp_path / "out")])
    assert result.exit_code == 1
    output = " ".join(result.output.split())  # wasabi wraps long lines
    assert (
        "expected [training.logger] to be one of spacy.ConsoleLogger.v2, spacy.ConsoleLogger.v3"
        in output
    )


def test_generated_configs_show_spacy_progress_bar():
    assert generate_config(["ner"])["training"]["logger"]["progress_bar"] == "train"


def test_log_records_are_readable_at_each_evaluation(tmp_path):
    # Read while training still runs (no finalize): spaCy's v3 logger leaves the file empty here.
    import io

    import spacy

    from spacy_bert_tasks.training.logger import make_console_logger

    nlp = spacy.blank("en")
    nlp.add_pipe("textcat")
    nlp.config["training"]["score_weights"] = {"cats_score": 1.0, "speed": 0.0, "cats_f": None}
    nlp.config["training"]["max_steps"] = 100
    nlp.config["training"]["eval_frequency"] = 10
    log_path = tmp_path / "log" / "train_log.jsonl"
    stdout = io.StringIO()
    log_step, finalize = make_console_logger(progress_bar="train", output_file=log_path)(
        nlp, stdout, io.StringIO()
    )
    for step, score in ((10, 0.5), (20, 0.75)):
        log_step(None)  # a step without evaluation
        info = {
            "epoch": 0,
            "step": step,
            "losses": {"textcat": 1.5},
            "score": score,
            "other_scores": {"cats_score": score, "speed": 1234.0},
        }
        log_step(info)
        records = [srsly.json_loads(line) for line in log_path.read_text().splitlines()]
        assert records[-1] == {
            "epoch": 0,
            "step": step,
            "losses": {"textcat": 1.5},
            "scores": {"cats_score": 100 * score, "speed": 1234.0},
            "score": score,
        }
    assert len(records) == 2
    assert (
        "Saving results to" in stdout.getvalue() and "75.00" in stdout.getvalue()
    )  # v3's table row
    finalize()
