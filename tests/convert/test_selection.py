"""Converting part of a file: SQuAD articles by index, textcat records by seeded shuffle, skip, limit."""

import json
import random

import pytest
from spacy.tokens import DocBin
from typer.testing import CliRunner

from spacy_bert_tasks.cli import app
from spacy_bert_tasks.convert import ConversionError, convert_textcat, read_textcat
from spacy_bert_tasks.convert.squad import convert_squad, read_squad

runner = CliRunner()


def _article(i):
    context = f"Article {i} is about topic {i}."
    answer = {"text": f"topic {i}", "answer_start": context.index("topic")}
    qas = [{"id": f"q{i}", "question": "What?", "answers": [answer]}]
    return {"title": f"A{i}", "paragraphs": [{"context": context, "qas": qas}]}


def _squad(path, n_articles=4):
    articles = [_article(i) for i in range(n_articles)]
    path.write_text(json.dumps({"version": "1.1", "data": articles}), encoding="utf8")
    return path


def _tsv(path, n=10):
    rows = [f"text {i}\t{'POS' if i % 2 else 'NEG'}" for i in range(n)]
    path.write_text("text\tlabel\n" + "\n".join(rows) + "\n", encoding="utf8")
    return path


def test_squad_articles(tmp_path):
    path = _squad(tmp_path / "s.json")
    docs = list(read_squad(path, articles=[1, 3]))
    assert [doc._.qa_id for doc in docs] == ["q1", "q3"]
    report = convert_squad(path, tmp_path / "s.spacy", articles=range(0, 2))
    assert (report.n_articles, report.n_read, report.n_docs) == (2, 2, 2)
    with pytest.raises(ConversionError, match="expected article indices from 0 to 3, got \\[4\\]"):
        list(read_squad(path, articles=[4]))


def test_squad_articles_cli(tmp_path):
    path = _squad(tmp_path / "s.json")
    output = tmp_path / "s.spacy"
    result = runner.invoke(app, ["convert", "squad", str(path), str(output), "--articles", "0,2-3"])
    assert result.exit_code == 0, result.output
    assert "from 3 questions on 3 paragraphs of 3 articles" in result.stdout
    bad = runner.invoke(app, ["convert", "squad", str(path), str(output), "--articles", "3-1"])
    assert bad.exit_code != 0 and "expected indices and ranges" in bad.output


def test_textcat_held_out_split_and_rest_do_not_overlap(tmp_path):
    path = _tsv(tmp_path / "d.tsv")
    dev = [doc.text for doc in read_textcat(path, shuffle_seed=0, limit=3)]
    rest = [doc.text for doc in read_textcat(path, shuffle_seed=0, skip=3)]
    assert len(dev) == 3 and len(rest) == 7 and not set(dev) & set(rest)
    # The same order as random.Random(seed).shuffle over the file's records.
    order = list(range(10))
    random.Random(0).shuffle(order)
    assert dev == [f"text {i}" for i in order[:3]]
    assert [doc.text for doc in read_textcat(path, skip=8)] == ["text 8", "text 9"]


def test_textcat_selection_report_and_errors(tmp_path):
    path = _tsv(tmp_path / "d.tsv")
    report = convert_textcat(path, tmp_path / "d.spacy", shuffle_seed=1, skip=2, limit=5)
    assert (report.n_read, report.n_docs, sum(report.label_counts.values())) == (10, 5, 5)
    with pytest.raises(ConversionError, match="expected skip below the 10 records, got skip=10"):
        read_textcat(path, skip=10)
    with pytest.raises(ValueError, match="expected skip >= 0 and limit >= 1"):
        read_textcat(path, limit=0)


def test_textcat_selection_cli(tmp_path):
    path = _tsv(tmp_path / "d.tsv")
    output = tmp_path / "d.spacy"
    args = [
        "convert",
        "textcat",
        str(path),
        str(output),
        "--shuffle-seed",
        "0",
        "--skip",
        "4",
        "--limit",
        "3",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert len(DocBin().from_disk(output)) == 3
