"""`python -m spacy_bert_tasks convert ...`: reports, exit codes, and the real datasets."""

import subprocess
import sys
from pathlib import Path

import pytest
import spacy
from spacy.tokens import DocBin
from typer.testing import CliRunner
from util import require_shared_data

from spacy_bert_tasks.cli import app

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
runner = CliRunner()


def test_conll_prints_report(tmp_path):
    path = tmp_path / "d.conll"
    path.write_text("Bob B-PER\nsaw O\n\nAnn B-PER\n", encoding="utf8")
    output = tmp_path / "d.spacy"
    result = runner.invoke(app, ["convert", "conll", str(path), str(output), "--n-sents", "2"])
    assert result.exit_code == 0, result.output
    assert "Wrote 1 docs" in result.stdout and "from 2 sentences" in result.stdout
    assert "PER 2" in result.stdout
    assert len(DocBin().from_disk(output)) == 1


def test_bad_conll_fails_with_file_and_line(tmp_path):
    path = tmp_path / "bad.conll"
    path.write_text("Bob B-PER\nsaw X-PER\n", encoding="utf8")
    output = tmp_path / "bad.spacy"
    result = runner.invoke(app, ["convert", "conll", str(path), str(output)])
    assert result.exit_code == 1
    assert "bad.conll:2: expected a tag like B-PER" in result.stderr
    assert "Traceback" not in result.output
    assert not output.exists()


def test_textcat_options(tmp_path):
    path = tmp_path / "d.tsv"
    path.write_text("id\tbody\tcls\n1\tgood\t1\n2\tbad\t0\n", encoding="utf8")
    output = tmp_path / "d.spacy"
    args = [
        "convert",
        "textcat",
        str(path),
        str(output),
        "--text-column",
        "body",
        "--label-column",
        "cls",
    ]
    result = runner.invoke(
        app, args + ["--label-names", "0=NEGATIVE, 1=POSITIVE", "--labels", "POSITIVE,NEGATIVE"]
    )
    assert result.exit_code == 0, result.output
    assert "Docs per label: NEGATIVE 1, POSITIVE 1." in result.stdout
    docs = list(DocBin().from_disk(output).get_docs(spacy.blank("en").vocab))
    assert [doc.cats for doc in docs] == [
        {"POSITIVE": 1.0, "NEGATIVE": 0.0},
        {"POSITIVE": 0.0, "NEGATIVE": 1.0},
    ]


def test_textcat_multilabel_and_format(tmp_path):
    path = tmp_path / "d.txt"
    path.write_text("text,label\nx,A;B\ny,\n", encoding="utf8")
    output = tmp_path / "d.spacy"
    args = [
        "convert",
        "textcat",
        str(path),
        str(output),
        "--format",
        "csv",
        "--multilabel",
        "--label-sep",
        ";",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    docs = list(DocBin().from_disk(output).get_docs(spacy.blank("en").vocab))
    assert [doc.cats for doc in docs] == [{"A": 1.0, "B": 1.0}, {"A": 0.0, "B": 0.0}]


@pytest.mark.parametrize(
    "extra,code,needle",
    [
        ([], 1, "d.tsv:3: expected exactly one label"),
        (
            ["--multilabel", "--labels", "A"],
            1,
            "d.tsv:3: expected one of the labels ['A'], got 'B'",
        ),
        (["--format", "xml"], 1, "file_format"),
        (["--lang", "zz"], 1, "'zz'"),
        (["--label-names", "A:x"], 2, "RAW=NAME"),
    ],
)
def test_textcat_errors(tmp_path, extra, code, needle):
    path = tmp_path / "d.tsv"
    path.write_text("text\tlabel\nx\tA\ny\tA|B\n", encoding="utf8")
    old = tmp_path / "d.spacy"
    old.write_bytes(b"old")
    result = runner.invoke(app, ["convert", "textcat", str(path), str(old)] + extra)
    assert result.exit_code == code, result.output
    assert needle in " ".join(result.stderr.split()).replace("│", "")
    assert "Traceback" not in result.output
    assert old.read_bytes() == b"old"


def test_module_entry_point_exit_code(tmp_path):
    path = tmp_path / "bad.conll"
    path.write_text("lonely\n", encoding="utf8")
    output = tmp_path / "out.spacy"
    command = [sys.executable, "-m", "spacy_bert_tasks", "convert", "conll", str(path), str(output)]
    result = subprocess.run(
        command, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2]
    )
    assert result.returncode == 1
    assert "bad.conll:1: expected at least two whitespace-separated columns" in result.stderr
    assert "Traceback" not in result.stderr
    assert not output.exists()


@pytest.mark.slow
def test_real_datasets(tmp_path):
    wnut, sst2 = (
        SHARED / "datasets" / "wnut17" / "wnut17train.conll",
        SHARED / "datasets" / "sst2" / "train.tsv",
    )
    require_shared_data(wnut, sst2)
    result = runner.invoke(app, ["convert", "conll", str(wnut), str(tmp_path / "wnut.spacy")])
    assert result.exit_code == 0, result.output
    assert "Wrote 3,394 docs" in result.stdout and "from 3,394 sentences" in result.stdout
    # Entity counts as in the dataset's README (B- tags per type).
    assert "location 548" in result.stdout and "person 660" in result.stdout
    args = [
        "convert",
        "textcat",
        str(sst2),
        str(tmp_path / "sst2.spacy"),
        "--label-names",
        "0=NEGATIVE,1=POSITIVE",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Wrote 67,349 docs" in result.stdout
    assert "NEGATIVE 29,780, POSITIVE 37,569" in result.stdout
    vocab = spacy.blank("en").vocab
    docs = list(DocBin().from_disk(tmp_path / "wnut.spacy").get_docs(vocab))
    assert len(docs) == 3394 and all(doc.has_annotation("ENT_IOB") for doc in docs)
    assert len(DocBin().from_disk(tmp_path / "sst2.spacy")) == 67349
