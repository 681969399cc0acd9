"""`python -m spacy_bert_tasks pretrain`: a run end to end, and clear errors for bad input."""

import json

import pytest
from typer.testing import CliRunner

from spacy_bert_tasks.cli import app

runner = CliRunner()
FAST = ["--max-length", "32", "--stride", "8", "--batch-tokens", "256"]


def test_cli_run_writes_encoder_log_and_meta(tiny_bert, toy_raw, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["pretrain", str(toy_raw), str(out), "--encoder", tiny_bert, "--max-steps", "3", *FAST]
    )
    assert result.exit_code == 0, result.output
    assert "ships no masked-LM head" in result.output and "Held-out perplexity" in result.output
    assert (out / "encoder" / "model.safetensors").is_file() and (
        out / "encoder" / "tokenizer.json"
    ).is_file()
    meta = json.loads((out / "pretrain_meta.json").read_text())
    assert meta["steps"] == 3 and meta["docs"]["heldout"] == 3 and meta["mlm_head"] == "initialized"
    assert [
        json.loads(line)["step"] for line in (out / "pretrain_log.jsonl").read_text().splitlines()
    ] == [0, 3]


@pytest.mark.parametrize(
    "content,options,expected",
    [
        ("", [], "found no non-empty document"),
        ("\n\n   \n", [], "found no non-empty document"),
        ("just one doc\n", [], "leave none to train on"),
        ("one doc\nanother doc\nthird doc\n", ["--nsp"], "two or more sentences"),
        ("a doc\nanother\n", ["--resume"], "found none; start without --resume"),
        ("a doc\nanother\n", ["--stride", "30"], "stride"),
        ("a doc\nanother\n", ["--heldout", "1.5"], "held-out share"),
        ("a doc\nanother\n", ["--max-steps", "0"], "max_steps >= 1"),
        ("a doc\nanother\n", ["--txt-layout", "pages"], "txt layout"),
    ],
)
def test_bad_input_is_a_clear_error(tiny_bert, tmp_path, content, options, expected):
    raw = tmp_path / "raw.txt"
    raw.write_text(content, encoding="utf8")
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "pretrain",
            str(raw),
            str(out),
            "--encoder",
            tiny_bert,
            "--max-steps",
            "1",
            *FAST,
            *options,
        ],
    )
    assert result.exit_code == 1, result.output
    assert expected in " ".join(result.output.split())
    assert not (out / "encoder").exists()


def test_bad_line_is_named(tiny_bert, tmp_path):
    raw = tmp_path / "raw.jsonl"
    raw.write_text('{"text": "fine"}\n{"body": "no text"}\n', encoding="utf8")
    result = runner.invoke(
        app, ["pretrain", str(raw), str(tmp_path / "out"), "--encoder", tiny_bert]
    )
    assert result.exit_code == 1 and f"{raw}:2:" in " ".join(result.output.split())
