"""Text classification conversion: TSV/CSV/JSONL, exclusive and multilabel, errors with file:line."""

import json

import pytest
import spacy
from spacy.tokens import DocBin

from spacy_bert_tasks.convert import ConversionError, convert_textcat, read_textcat

SST = {"0": "NEGATIVE", "1": "POSITIVE"}


def write(path, text):
    path.write_text(text, encoding="utf8")
    return path


def jsonl(*records):
    return "".join(json.dumps(record) + "\n" for record in records)


def test_tsv_like_sst2_keeps_quotes_and_maps_label_names(tmp_path):
    path = write(
        tmp_path / "train.tsv", 'sentence\tlabel\na " stray quote \t0\n"fully quoted" \t1\n'
    )
    docs = read_textcat(path, label_names=SST)
    assert [doc.text for doc in docs] == ['a " stray quote', '"fully quoted"']
    assert [doc.cats for doc in docs] == [
        {"NEGATIVE": 1.0, "POSITIVE": 0.0},
        {"NEGATIVE": 0.0, "POSITIVE": 1.0},
    ]


def test_docs_carry_no_entity_annotation(tmp_path):
    path = write(tmp_path / "d.tsv", "text\tlabel\nJohn lives in Paris\tA\nno\tB\n")
    for doc in read_textcat(path):
        assert not doc.has_annotation("ENT_IOB")
        assert all(token.ent_iob == 0 for token in doc)


def test_csv_quoting_multiline_rows_and_custom_columns(tmp_path):
    path = write(tmp_path / "d.csv", 'id,body,topic\n1,"one, two",A\n2,"line\nbreak",B\n3,,A\n')
    with pytest.raises(ConversionError, match=r"d\.csv:5: expected a text in column 'body'"):
        read_textcat(path, text_column="body", label_column="topic")
    path = write(tmp_path / "d.csv", 'id,body,topic\n1,"one, two",A\n2,"line\nbreak",B\n')
    docs = read_textcat(path, text_column="body", label_column="topic")
    assert [doc.text for doc in docs] == ["one, two", "line\nbreak"]
    assert docs[1].cats == {"A": 0.0, "B": 1.0}


def test_explicit_format_and_labels_order(tmp_path):
    path = write(tmp_path / "data.txt", "text,label\nx,B\n")
    docs = read_textcat(path, file_format="csv", labels=["A", "B", "C"])
    assert list(docs[0].cats.items()) == [("A", 0.0), ("B", 1.0), ("C", 0.0)]


def test_multilabel_tsv(tmp_path):
    path = write(tmp_path / "m.tsv", "text\tlabel\nboth\tA|B\nnone\t\none\t C \n")
    docs = read_textcat(path, multilabel=True)
    assert [doc.cats for doc in docs] == [
        {"A": 1.0, "B": 1.0, "C": 0.0},
        {"A": 0.0, "B": 0.0, "C": 0.0},
        {"A": 0.0, "B": 0.0, "C": 1.0},
    ]
    path = write(tmp_path / "m.tsv", "text\tlabel\nboth\tA;B\n")
    assert read_textcat(path, multilabel=True, label_sep=";")[0].cats == {"A": 1.0, "B": 1.0}


def test_jsonl_cats_label_and_labels(tmp_path):
    path = write(
        tmp_path / "d.jsonl",
        jsonl(
            {"text": "one", "cats": {"A": 1.0, "B": 0.0}},
            {"text": "two", "label": "B"},
            {"text": "three", "labels": ["C"]},
        )
        + "\n",
    )
    docs = read_textcat(path)
    assert [doc.cats for doc in docs] == [
        {"A": 1.0, "B": 0.0, "C": 0.0},
        {"A": 0.0, "B": 1.0, "C": 0.0},
        {"A": 0.0, "B": 0.0, "C": 1.0},
    ]
    path = write(
        tmp_path / "d.json",
        jsonl({"text": "t", "labels": ["A", "B"]}, {"text": "u", "cats": {"C": 1}}),
    )
    docs = read_textcat(path, multilabel=True)
    assert [doc.cats for doc in docs] == [
        {"A": 1.0, "B": 1.0, "C": 0.0},
        {"A": 0.0, "B": 0.0, "C": 1.0},
    ]
    path = write(tmp_path / "n.jsonl", jsonl({"text": "t", "label": 0}, {"text": "u", "label": 1}))
    assert read_textcat(path, label_names=SST)[0].cats == {"NEGATIVE": 1.0, "POSITIVE": 0.0}


@pytest.mark.parametrize(
    "name,content,options,line,needle",
    [
        ("d.tsv", "sentence\tlbl\nx\t1\n", {}, 1, "column 'label'"),
        ("d.tsv", "words\tlabel\nx\t1\n", {}, 1, "column 'text'"),
        ("d.tsv", "text\tlabel\nx\tA\ny\tB\textra\n", {}, 3, "expected 2 columns"),
        ("d.tsv", "text\tlabel\nx\tA\n\t B\n", {}, 3, "empty cell"),
        ("d.tsv", "text\tlabel\nx\tA\ny\tA|B\n", {}, 3, "exactly one label"),
        ("d.tsv", "text\tlabel\nx\tA\ny\t\n", {}, 3, "exactly one label"),
        ("d.tsv", "text\tlabel\nx\tA\ny\tD\n", {"labels": ["A", "B"]}, 3, "got 'D'"),
        ("d.tsv", "text\tlabel\nx\t0\ny\t2\n", {"label_names": SST}, 3, "label_names"),
        ("d.csv", 'text,label\nx,A\n"y\nz,B\n', {}, 3, "well-formed"),
        ("d.csv", 'text,label\nx,A\n"a"b,B\n', {}, 3, "well-formed"),
        (
            "d.jsonl",
            '{"text": "x", "label": "A"}\n{"text": "y", "label": \n',
            {},
            2,
            "invalid JSON",
        ),
        ("d.jsonl", '{"text": "x", "label": "A"}\n\n{"label": "A"}\n', {}, 3, "'text'"),
        ("d.jsonl", '{"text": "x"}\n', {}, 1, "one of 'cats'"),
        ("d.jsonl", '{"text": "x", "label": "A", "labels": ["A"]}\n', {}, 1, "one of 'cats'"),
        ("d.jsonl", '["x", "A"]\n', {}, 1, "JSON list"),
        ("d.jsonl", '{"text": " ", "label": "A"}\n', {}, 1, "empty 'text'"),
        ("d.jsonl", '{"text": "x", "cats": {"A": 0.5}}\n', {}, 1, "0 or 1"),
        ("d.jsonl", '{"text": "x", "cats": {"A": 1, "B": 1}}\n', {}, 1, "exactly one label"),
        ("d.jsonl", '{"text": "x", "labels": ["A", "B"]}\n', {}, 1, "exactly one label"),
    ],
)
def test_malformed_records_name_file_and_line(tmp_path, name, content, options, line, needle):
    path = write(tmp_path / name, content)
    with pytest.raises(ConversionError) as info:
        read_textcat(path, **options)
    assert f"{name}:{line}: " in str(info.value)
    assert needle in str(info.value)


@pytest.mark.parametrize(
    "name,content", [("e.tsv", ""), ("h.tsv", "text\tlabel\n"), ("e.jsonl", "\n\n")]
)
def test_empty_files(tmp_path, name, content):
    with pytest.raises(ConversionError, match=f"{name}: expected at least one record"):
        read_textcat(write(tmp_path / name, content))


def test_non_utf8_names_the_line(tmp_path):
    path = tmp_path / "d.tsv"
    path.write_bytes("text\tlabel\nok\tA\ncaf\xe9\tB\n".encode("cp1252"))
    with pytest.raises(ConversionError, match=r"d\.tsv:3: expected UTF-8 text, got the byte 0xe9"):
        read_textcat(path)


def test_bad_format_and_options(tmp_path):
    path = write(tmp_path / "d.txt", "text\tlabel\nx\tA\n")
    with pytest.raises(ConversionError, match=r"d\.txt: expected a file ending in .tsv"):
        read_textcat(path)
    with pytest.raises(ValueError, match="file_format"):
        read_textcat(path, file_format="xml")
    with pytest.raises(ValueError, match="labels"):
        read_textcat(path, file_format="tsv", labels=["A", "A"])
    with pytest.raises(ValueError, match="label_sep"):
        read_textcat(path, file_format="tsv", label_sep="")


def test_convert_report_skipped_and_round_trip(tmp_path):
    path = write(tmp_path / "d.tsv", "sentence\tlabel\nbad movie \t0\n\ngood film \t1\nfine \t1\n")
    output = tmp_path / "out" / "d.spacy"
    report = convert_textcat(path, output, label_names=SST)
    assert (report.n_docs, report.n_read) == (3, 3)
    assert report.label_counts == {"NEGATIVE": 1, "POSITIVE": 2}
    assert report.skipped == [("line 3", "blank line")]
    assert "Docs per label: NEGATIVE 1, POSITIVE 2." in str(report)
    assert "Skipped 1: line 3 (blank line)." in str(report)
    loaded = list(DocBin().from_disk(output).get_docs(spacy.blank("en").vocab))
    expected = read_textcat(path, label_names=SST)
    assert [(doc.text, doc.cats) for doc in loaded] == [(doc.text, doc.cats) for doc in expected]
    assert not any(doc.has_annotation("ENT_IOB") for doc in loaded)


def test_bad_input_keeps_old_output(tmp_path):
    path = write(tmp_path / "d.jsonl", jsonl({"text": "x", "label": "A"}) + "{oops\n")
    old = write(tmp_path / "d.spacy", "old")
    with pytest.raises(ConversionError, match=r"d\.jsonl:2"):
        convert_textcat(path, old)
    assert old.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.jsonl", "d.spacy"]


def test_a_one_off_label_among_frequent_ones_is_flagged_with_its_line(tmp_path):
    from spacy_bert_tasks.convert import convert_textcat

    rows = ["text\tlabel"] + [f"good film {i}\tPOSITIVE" for i in range(60)]
    rows += [f"bad film {i}\tNEGATIVE" for i in range(60)]
    rows.insert(41, "so so film\tNEUTRAL")  # rows[0] is line 1: line 42
    path = tmp_path / "cats.tsv"
    path.write_text("\n".join(rows) + "\n", encoding="utf8")
    with pytest.warns(UserWarning, match=r"label 'NEUTRAL' is on only 1 record\(s\) \(line 42\)"):
        report = convert_textcat(path, tmp_path / "cats.spacy")
    assert str(path) in report.warnings[0] and "--labels POSITIVE,NEGATIVE" in report.warnings[0]
    assert "WARNING: " in str(report)
    # Every label on many records: nothing to flag.
    balanced = tmp_path / "balanced.tsv"
    balanced.write_text("\n".join(r for r in rows if "NEUTRAL" not in r) + "\n", encoding="utf8")
    assert convert_textcat(balanced, tmp_path / "b.spacy").warnings == []
    # With the label set given, the one-off is an error naming its line.
    with pytest.raises(ConversionError, match=r"cats.tsv:42: expected one of the labels"):
        convert_textcat(path, tmp_path / "c.spacy", labels=["POSITIVE", "NEGATIVE"])
