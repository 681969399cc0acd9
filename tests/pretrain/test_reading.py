"""Raw text: layouts, formats, folders, and errors that name the file and line."""

import json

import pytest
import spacy
from spacy.tokens import DocBin

from spacy_bert_tasks.pretrain.reading import RawTextError, read_raw, split_sentences


def test_txt_lines_and_paragraphs(tmp_path):
    lines = tmp_path / "lines.txt"
    lines.write_text("first doc\nsecond doc\n\nthird doc\n", encoding="utf8")
    assert [d.text for d in read_raw(lines, txt_layout="lines").docs] == [
        "first doc",
        "second doc",
        "third doc",
    ]
    assert read_raw(lines, txt_layout="lines").empty_docs == 1
    paragraphs = read_raw(lines).docs  # auto: a blank line between filled ones means paragraphs
    assert [d.sentences for d in paragraphs] == [["first doc", "second doc"], ["third doc"]]
    assert paragraphs[1].source == f"{lines}:4"
    no_blank = tmp_path / "tweets.txt"
    no_blank.write_text("one\ntwo\n\n", encoding="utf8")  # trailing blank lines do not count
    assert [d.sentences for d in read_raw(no_blank).docs] == [None, None]


def test_jsonl_spacy_folder_and_duplicates(tmp_path):
    (tmp_path / "a.jsonl").write_text(
        json.dumps({"text": "from json"}) + "\n\n" + json.dumps({"text": "same"}) + "\n",
        encoding="utf8",
    )
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    DocBin(docs=[nlp("A doc. Two sentences."), nlp("same")]).to_disk(tmp_path / "b.spacy")
    (tmp_path / "notes.md").write_text("not read", encoding="utf8")
    corpus = read_raw(tmp_path)
    assert [d.text for d in corpus.docs] == ["from json", "same", "A doc. Two sentences."]
    assert corpus.docs[2].sentences == ["A doc.", "Two sentences."]
    assert corpus.duplicate_docs == 1 and corpus.skipped_files == [str(tmp_path / "notes.md")]
    assert len(read_raw(tmp_path, dedupe=False).docs) == 4


def test_split_sentences_only_where_missing():
    from spacy_bert_tasks.pretrain.reading import RawDoc

    docs = [
        RawDoc("One here. Two there.", None, "x:1"),
        RawDoc("kept as is", ["kept", "as is"], "x:2"),
    ]
    split_sentences(docs)
    assert docs[0].sentences == ["One here.", "Two there."] and docs[1].sentences == [
        "kept",
        "as is",
    ]


@pytest.mark.parametrize(
    "name,content,expected",
    [
        (
            "bad.jsonl",
            b'{"text": "ok"}\n{"text": 3}\n',
            r"bad.jsonl:2: expected a JSON object with a \"text\" string",
        ),
        (
            "bad.jsonl",
            b'{"text": "ok"}\n\n{oops\n',
            r"bad.jsonl:3: expected a JSON object per line",
        ),
        ("bad.txt", b"fine\nfine\n\xff\xfe broken\n", r"bad.txt:3: expected UTF-8 text"),
        ("bad.spacy", b"not a docbin", r"bad.spacy: expected a .spacy file"),
        ("bad.csv", b"a,b\n", r"bad.csv: expected a .txt, .jsonl or .spacy file or a folder"),
    ],
)
def test_errors_name_the_file_and_line(tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(RawTextError, match=expected):
        read_raw(path)


def test_missing_and_empty_folder(tmp_path):
    with pytest.raises(RawTextError, match="no such file"):
        read_raw(tmp_path / "nothing.txt")
    with pytest.raises(RawTextError, match="found none"):
        read_raw(tmp_path)
