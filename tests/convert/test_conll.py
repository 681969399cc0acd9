"""CoNLL NER conversion: tag schemes, documents, n_sents, errors with file:line, atomic writes."""

import os

import pytest
import spacy
from spacy.tokens import DocBin

from spacy_bert_tasks import atomic
from spacy_bert_tasks.convert import ConversionError, convert_conll, read_conll

WORDS = ["John", "Smith", "visited", "New", "York", "."]
EXPECTED = [("John Smith", "PER"), ("New York", "LOC")]


def columns(words, tags, *, middle=""):
    return "".join(f"{word} {middle}{tag}\n" for word, tag in zip(words, tags))


def ents(doc):
    return [(ent.text, ent.label_) for ent in doc.ents]


@pytest.mark.parametrize(
    "tags",
    [
        ["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "O"],  # IOB2
        ["I-PER", "I-PER", "O", "I-LOC", "I-LOC", "O"],  # IOB1
        ["B-PER", "L-PER", "O", "B-LOC", "L-LOC", "O"],  # BILUO
        ["B-PER", "E-PER", "O", "B-LOC", "E-LOC", "O"],  # BIOES
    ],
    ids=["iob2", "iob1", "biluo", "bioes"],
)
def test_tag_schemes_give_the_same_entities(tmp_path, tags):
    path = tmp_path / "s.conll"
    path.write_text(columns(WORDS, tags), encoding="utf8")
    (doc,) = read_conll(path)
    assert [t.text for t in doc] == WORDS
    assert doc.text == "John Smith visited New York ."
    assert ents(doc) == EXPECTED


def test_iob1_b_starts_a_second_adjacent_entity(tmp_path):
    path = tmp_path / "iob1.conll"
    path.write_text(columns(["Ann", "Lee", "Bob"], ["I-PER", "I-PER", "B-PER"]), encoding="utf8")
    (doc,) = read_conll(path)
    assert ents(doc) == [("Ann Lee", "PER"), ("Bob", "PER")]


def test_single_token_entities_in_every_scheme(tmp_path):
    path = tmp_path / "u.conll"
    path.write_text("Bob B-PER\nsaw O\n\nBob U-PER\nsaw O\n\nBob S-PER\nsaw O\n", encoding="utf8")
    assert [ents(doc) for doc in read_conll(path)] == [[("Bob", "PER")]] * 3


def test_sentences_without_entities_are_annotated_as_outside(tmp_path):
    path = tmp_path / "o.conll"
    path.write_text("Nothing O\nhere O\n", encoding="utf8")
    (doc,) = read_conll(path)
    assert doc.has_annotation("ENT_IOB")
    assert [t.ent_iob_ for t in doc] == ["O", "O"]


def test_conll2003_four_columns_and_docstart(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text(
        "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\n"
        "Peter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER\n\n"
        "-DOCSTART- -X- -X- O\n\nBRUSSELS NNP B-NP B-LOC",  # no final newline, as in the real file
        encoding="utf8",
    )
    docs = list(read_conll(path))
    assert [doc.text for doc in docs] == ["EU rejects", "Peter Blackburn", "BRUSSELS"]
    assert [ents(doc) for doc in docs] == [
        [("EU", "ORG")],
        [("Peter Blackburn", "PER")],
        [("BRUSSELS", "LOC")],
    ]
    assert all("-DOCSTART-" not in doc.text for doc in docs)


def test_wnut_two_tab_columns_and_whitespace_only_separators(tmp_path):
    path = tmp_path / "wnut.conll"
    path.write_text(
        "@paul\tO\nEmpire\tB-location\nState\tI-location\n\t\n\n\nhi\tO\n", encoding="utf8"
    )
    docs = list(read_conll(path))
    assert len(docs) == 2
    assert ents(docs[0]) == [("Empire State", "location")]


def test_n_sents_merges_sentences_within_a_document(tmp_path):
    path = tmp_path / "n.conll"
    sentences = ["a O\nb B-X\n", "c O\n", "d B-Y\ne I-Y\n", "-DOCSTART- O\n", "f O\n", "g O\n"]
    path.write_text("\n".join(sentences), encoding="utf8")
    docs = list(read_conll(path, n_sents=2))
    # Three sentences before -DOCSTART-, two after: never merged across it.
    assert [doc.text for doc in docs] == ["a b c", "d e", "f g"]
    assert [t.is_sent_start for t in docs[0]] == [True, False, True]
    assert [t.is_sent_start for t in docs[2]] == [True, True]
    assert [[s.text for s in doc.sents] for doc in docs] == [["a b", "c"], ["d e"], ["f", "g"]]
    assert ents(docs[0]) == [("b", "X")] and ents(docs[1]) == [("d e", "Y")]
    assert all(doc.has_annotation("ENT_IOB") for doc in docs)
    assert docs[0][-1].whitespace_ == ""


def test_bad_options(tmp_path):
    path = tmp_path / "ok.conll"
    path.write_text("a O\n", encoding="utf8")
    with pytest.raises(ValueError, match="n_sents"):
        read_conll(path, n_sents=0)
    with pytest.raises(ValueError, match="'zz'"):
        read_conll(path, lang="zz")


@pytest.mark.parametrize(
    "content,line,needle",
    [
        ("a O\nb X-PER\n", 2, "'X-PER'"),
        ("a O\n\nb B-\n", 3, "'B-'"),
        ("a O\nb o\n", 2, "'o'"),
        ("a O\nlonely\n", 2, "at least two"),
        ("a O\n\nb O\nc I-PER\nd L-PER\ne L-LOC\n", 3, "BILUO"),  # L with no B
        ("x O\n\ny O\nz B-PER\nw O\nv U-LOC\n", 3, "closed"),  # B never closed
        ("x O\n\ny B-PER\nz L-LOC\n", 3, "same label"),  # labels differ
        ("x O\n\ny B-PER\nz U-LOC\nw L-PER\n", 3, "BILUO"),  # overlapping
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path, content, line, needle):
    path = tmp_path / "bad.conll"
    path.write_text(content, encoding="utf8")
    with pytest.raises(ConversionError) as info:
        list(read_conll(path))
    assert f"bad.conll:{line}: " in str(info.value)
    assert needle in str(info.value)
    assert info.value.line == line


def test_non_utf8_names_the_line(tmp_path):
    path = tmp_path / "latin1.conll"
    path.write_bytes("a O\n\nCaf\xe9 B-LOC\n".encode("latin-1"))
    with pytest.raises(ConversionError, match=r"latin1\.conll:3: expected UTF-8"):
        list(read_conll(path))


@pytest.mark.parametrize("content", ["", "\n\n", "-DOCSTART- -X- -X- O\n\n"])
def test_empty_file(tmp_path, content):
    path = tmp_path / "empty.conll"
    path.write_text(content, encoding="utf8")
    with pytest.raises(
        ConversionError, match="empty.conll: expected at least one sentence"
    ) as info:
        list(read_conll(path))
    assert info.value.line is None


def test_convert_report_and_round_trip(tmp_path):
    path = tmp_path / "train.conll"
    path.write_text(
        columns(WORDS, ["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "O"]) + "\nBob B-PER\n\nno O\n"
    )
    output = tmp_path / "deep" / "er" / "train.spacy"
    report = convert_conll(path, output, n_sents=2)
    assert (report.n_docs, report.n_read) == (2, 3)
    assert report.label_counts == {"PER": 2, "LOC": 1}
    assert str(report).startswith(f"Wrote 2 docs to {output} from 3 sentences")
    assert "LOC 1, PER 2" in str(report)
    nlp = spacy.blank("en")
    loaded = list(DocBin().from_disk(output).get_docs(nlp.vocab))
    expected = list(read_conll(path, n_sents=2))
    assert [doc.text for doc in loaded] == [doc.text for doc in expected]
    assert [ents(doc) for doc in loaded] == [ents(doc) for doc in expected]
    assert [[t.is_sent_start for t in doc] for doc in loaded] == [
        [t.is_sent_start for t in doc] for doc in expected
    ]
    assert all(doc.has_annotation("ENT_IOB") for doc in loaded)
    assert [p.name for p in output.parent.iterdir()] == ["train.spacy"]


def test_bad_input_writes_nothing_and_keeps_old_output(tmp_path):
    path = tmp_path / "bad.conll"
    path.write_text("a O\n\nb B-PER\nc Q-PER\n", encoding="utf8")
    fresh = tmp_path / "new" / "out.spacy"
    with pytest.raises(ConversionError, match="bad.conll:4"):
        convert_conll(path, fresh)
    assert not fresh.parent.exists()
    old = tmp_path / "old.spacy"
    old.write_bytes(b"old contents")
    with pytest.raises(ConversionError):
        convert_conll(path, old)
    assert old.read_bytes() == b"old contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.conll", "old.spacy"]


def test_failed_write_removes_temp_file_and_keeps_old_output(tmp_path, monkeypatch):
    path = tmp_path / "ok.conll"
    path.write_text("a B-X\n", encoding="utf8")
    old = tmp_path / "out.spacy"
    old.write_bytes(b"old contents")

    def failing_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="disk full"):
        convert_conll(path, old)
    assert old.read_bytes() == b"old contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.conll", "out.spacy"]
    monkeypatch.undo()
    convert_conll(path, old)
    assert len(DocBin().from_disk(old)) == 1
    assert os.stat(old).st_mode & 0o777 == 0o666 & ~_umask()


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask
