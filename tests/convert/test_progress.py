"""Converting a large file shows a progress bar on a terminal; a small one or a pipe gets none."""

import io
import json
import sys

from spacy_bert_tasks.convert import convert_textcat
from spacy_bert_tasks.convert.io import PROGRESS_MIN_BYTES
from spacy_bert_tasks.convert.squad import convert_squad


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def converted_stderr(monkeypatch, convert, *, terminal: bool = True) -> str:
    stderr = Terminal() if terminal else io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    convert()
    return stderr.getvalue()


def test_large_tsv_shows_progress_on_a_terminal_only(tmp_path, monkeypatch):
    big = tmp_path / "big.tsv"
    row = "good film " * 10 + "\tPOS\n"
    big.write_text("text\tlabel\n" + row * (PROGRESS_MIN_BYTES // len(row) + 1), encoding="utf8")
    shown = converted_stderr(monkeypatch, lambda: convert_textcat(big, tmp_path / "big.spacy"))
    assert "reading big.tsv" in shown and "/1.05M" in shown  # bytes read / file size
    piped = converted_stderr(
        monkeypatch, lambda: convert_textcat(big, tmp_path / "b.spacy"), terminal=False
    )
    assert piped == ""
    small = tmp_path / "small.tsv"
    small.write_text("text\tlabel\n" + row * 10, encoding="utf8")
    assert converted_stderr(monkeypatch, lambda: convert_textcat(small, tmp_path / "s.spacy")) == ""


def test_large_squad_file_shows_articles_read(tmp_path, monkeypatch):
    context = "The tower was finished in 1889. " * 50
    paragraph = {
        "context": context,
        "qas": [{"id": "", "question": "When?", "answers": [{"text": "1889", "answer_start": 26}]}],
    }
    articles = []
    for i in range(PROGRESS_MIN_BYTES // len(context) + 1):
        qas = [{**paragraph["qas"][0], "id": f"q{i}"}]
        articles.append({"title": f"t{i}", "paragraphs": [{"context": context, "qas": qas}]})
    path = tmp_path / "squad.json"
    path.write_text(json.dumps({"version": "1.1", "data": articles}), encoding="utf8")
    shown = converted_stderr(monkeypatch, lambda: convert_squad(path, tmp_path / "qa.spacy"))
    assert "reading squad.json" in shown and f"/{len(articles)} " in shown  # articles read / all
