"""Interrupted conversions: a Ctrl-C or a bad record mid-file leaves an older output as it was.

Every converter reads all docs before writing (write_docbin), then writes through
spacy_bert_tasks.atomic; these tests interrupt each stage and check for leftovers.
"""

import json

import pytest
from spacy.tokens import DocBin

from spacy_bert_tasks import atomic
from spacy_bert_tasks.convert import ConversionError, convert_conll, convert_textcat
from spacy_bert_tasks.convert import io as convert_io
from spacy_bert_tasks.convert.squad import convert_squad

OLD = b"older output"


def conll_input(tmp_path, bad_last=False):
    text = "John B-PER\nlives O\n\nMary B-PER\n\nParis B-LOC\n"
    path = tmp_path / "in.conll"
    path.write_text(text + ("Berlin Q-LOC\n" if bad_last else ""), encoding="utf8")
    return path, convert_conll


def textcat_input(tmp_path, bad_last=False):
    text = "text\tlabel\ngood film\tPOS\nbad film\tNEG\nfine\tPOS\n"
    path = tmp_path / "in.tsv"
    path.write_text(text + ("no label column\n" if bad_last else ""), encoding="utf8")
    return path, convert_textcat


def squad_input(tmp_path, bad_last=False):
    context = "Paris is in France. Berlin is in Germany."
    qas = [
        {
            "id": f"q{i}",
            "question": "Where?",
            "answers": [{"text": t, "answer_start": context.index(t)}],
        }
        for i, t in enumerate(["France", "Germany", "Paris"])
    ]
    if bad_last:
        qas.append(
            {"id": "bad", "question": "Where?", "answers": [{"text": "Rome", "answer_start": 0}]}
        )
    data = {
        "version": "1.1",
        "data": [{"title": "t", "paragraphs": [{"context": context, "qas": qas}]}],
    }
    path = tmp_path / "in.json"
    path.write_text(json.dumps(data), encoding="utf8")
    return path, convert_squad


INPUTS = [conll_input, textcat_input, squad_input]


def old_output(tmp_path):
    output = tmp_path / "out.spacy"
    output.write_bytes(OLD)
    return output


def assert_only_old_output(tmp_path, input_path, output):
    assert output.read_bytes() == OLD
    # No temporary file, no partial output beside the input and the old output.
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([input_path.name, output.name])


@pytest.mark.parametrize("make_input", INPUTS)
def test_bad_record_after_good_ones_keeps_old_output(tmp_path, make_input):
    path, convert = make_input(tmp_path, bad_last=True)
    output = old_output(tmp_path)
    with pytest.raises(ConversionError, match=path.name):
        convert(path, output)
    assert_only_old_output(tmp_path, path, output)


class InterruptedDocBin(DocBin):
    """A DocBin that gets a Ctrl-C while the converter hands it its second doc."""

    def add(self, doc):
        if len(self) == 1:
            raise KeyboardInterrupt
        super().add(doc)


@pytest.mark.parametrize("make_input", INPUTS)
def test_ctrl_c_while_reading_keeps_old_output(tmp_path, monkeypatch, make_input):
    path, convert = make_input(tmp_path)
    output = old_output(tmp_path)
    monkeypatch.setattr(convert_io, "DocBin", InterruptedDocBin)
    with pytest.raises(KeyboardInterrupt):
        convert(path, output)
    assert_only_old_output(tmp_path, path, output)


@pytest.mark.parametrize("stage", ["fsync", "replace"])
@pytest.mark.parametrize("make_input", INPUTS)
def test_ctrl_c_while_writing_keeps_old_output(tmp_path, monkeypatch, make_input, stage):
    path, convert = make_input(tmp_path)
    output = old_output(tmp_path)

    def interrupt(*args):
        raise KeyboardInterrupt

    # fsync: the temp file is written but not yet synced; replace: synced, not yet renamed.
    monkeypatch.setattr(atomic.os, stage, interrupt)
    with pytest.raises(KeyboardInterrupt):
        convert(path, output)
    monkeypatch.undo()
    assert_only_old_output(tmp_path, path, output)
    # The same conversion, uninterrupted, replaces the old output.
    convert(path, output)
    assert len(DocBin().from_disk(output)) >= 2
