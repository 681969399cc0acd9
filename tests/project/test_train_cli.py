"""`python -m spacy_bert_tasks train`: spacy train with a fresh JSON Lines log of every evaluation."""
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
    assert "expected [training.logger] to be one of spacy.ConsoleLogger.v2, spacy.ConsoleLogger.v3" in output
