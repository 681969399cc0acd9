"""Every malformed input of every converter: an error naming the file and the line or record, and
no output at all (no file, no temp file, an older output left as it was), by API and by CLI.

One row of BAD_INPUTS per case; each row is run as two tests. The format-specific tests
(test_conll.py, test_textcat.py, test_squad.py) check the messages in more detail.
"""

import json
from dataclasses import dataclass, field
from typing import Dict, List

import pytest
from typer.testing import CliRunner

from spacy_bert_tasks.cli import app
from spacy_bert_tasks.convert import ConversionError, convert_conll, convert_textcat
from spacy_bert_tasks.convert.squad import convert_squad

runner = CliRunner()
OLD_OUTPUT = b"an older output"


@dataclass
class BadInput:
    """A malformed input file and where its error must point.

    name (str): The input file's name (its extension picks the textcat format).
    content (bytes): The file's bytes.
    where (str): What the message starts with after the file's path: ":LINE: " for a line,
        ": data[0]..." for a SQuAD record, ": " for the whole file.
    options (Dict): Converter options, e.g. {"labels": ["A"]}.
    cli (List[str]): The same options as CLI arguments.
    """

    name: str
    content: bytes
    where: str
    options: Dict = field(default_factory=dict)
    cli: List[str] = field(default_factory=list)

    @property
    def converter(self) -> str:
        suffix = self.name.rsplit(".", 1)[-1]
        return {"conll": "conll", "json": "squad"}.get(suffix, "textcat")


def utf8(text: str) -> bytes:
    return text.encode("utf8")


def squad(qas, context="Denver Broncos won in Santa Clara.") -> bytes:
    return utf8(
        json.dumps(
            {
                "version": "1.1",
                "data": [{"title": "t", "paragraphs": [{"context": context, "qas": qas}]}],
            }
        )
    )


def qa(qa_id="q1", question="Who won?", text="Denver Broncos", start=0) -> Dict:
    return {"id": qa_id, "question": question, "answers": [{"text": text, "answer_start": start}]}


Q1 = ": data[0].paragraphs[0].qas[0] (id 'q1')"
LATIN1_CAFE = "Caf\xe9".encode("latin-1")
BAD_INPUTS = {
    # CoNLL -----------------------------------------------------------------------------------
    "conll: one column": BadInput("d.conll", b"Bob B-PER\nsaw\n", ":2: "),
    "conll: tag of an unknown scheme": BadInput("d.conll", b"Bob B-PER\n\nsaw X-PER\n", ":3: "),
    "conll: tag without a label": BadInput("d.conll", b"Bob B-\n", ":1: "),
    "conll: label without a prefix": BadInput("d.conll", b"Bob PER\n", ":1: "),
    "conll: BILUO I without B": BadInput("d.conll", b"a O\n\nb I-PER\nc L-PER\nd U-LOC\n", ":3: "),
    "conll: BILUO B never closed": BadInput("d.conll", b"a O\n\nb B-PER\nc O\nd U-LOC\n", ":3: "),
    "conll: empty file": BadInput("d.conll", b"", ": "),
    "conll: only -DOCSTART- and blank lines": BadInput("d.conll", b"-DOCSTART- -X- O\n\n\n", ": "),
    "conll: latin-1 bytes": BadInput("d.conll", b"a O\n\n" + LATIN1_CAFE + b" B-LOC\n", ":3: "),
    "conll: UTF-16": BadInput("d.conll", "Bob B-PER\n".encode("utf-16"), ":1: "),
    # TSV -------------------------------------------------------------------------------------
    "tsv: a row with an extra column": BadInput("d.tsv", b"text\tlabel\nx\tA\ny\tB\tC\n", ":3: "),
    "tsv: a row with a missing column": BadInput("d.tsv", b"text\tlabel\nx\tA\ny\n", ":3: "),
    "tsv: no text column in the header": BadInput("d.tsv", b"words\tlabel\nx\tA\n", ":1: "),
    "tsv: empty text": BadInput("d.tsv", b"text\tlabel\nx\tA\n \tB\n", ":3: "),
    "tsv: two labels, exclusive": BadInput("d.tsv", b"text\tlabel\nx\tA\ny\tA|B\n", ":3: "),
    "tsv: label outside --labels": BadInput(
        "d.tsv", b"text\tlabel\nx\tA\ny\tD\n", ":3: ", {"labels": ["A", "B"]}, ["--labels", "A,B"]
    ),
    "tsv: raw label outside --label-names": BadInput(
        "d.tsv",
        b"text\tlabel\nx\t0\ny\t2\n",
        ":3: ",
        {"label_names": {"0": "N", "1": "P"}},
        ["--label-names", "0=N,1=P"],
    ),
    "tsv: empty file": BadInput("d.tsv", b"", ": "),
    "tsv: header only": BadInput("d.tsv", b"text\tlabel\n", ": "),
    "tsv: latin-1 bytes": BadInput(
        "d.tsv", b"text\tlabel\nok\tA\n" + LATIN1_CAFE + b"\tB\n", ":3: "
    ),
    # CSV -------------------------------------------------------------------------------------
    "csv: a row with an extra column": BadInput("d.csv", b"text,label\nx,A\ny,B,C\n", ":3: "),
    "csv: a row with a missing column": BadInput("d.csv", b'text,label\nx,A\n"y, z"\n', ":3: "),
    "csv: unclosed quote": BadInput("d.csv", b'text,label\nx,A\n"y\nz,B\n', ":3: "),
    "csv: text after a closing quote": BadInput("d.csv", b'text,label\nx,A\n"a"b,B\n', ":3: "),
    "csv: no label column in the header": BadInput("d.csv", b"text,cls\nx,A\n", ":1: "),
    "csv: label outside --labels": BadInput(
        "d.csv", b"text,label\nx,A\ny,D\n", ":3: ", {"labels": ["A", "B"]}, ["--labels", "A,B"]
    ),
    "csv: empty file": BadInput("d.csv", b"", ": "),
    "csv: header only": BadInput("d.csv", b"text,label\n\n", ": "),
    "csv: latin-1 bytes": BadInput("d.csv", b"text,label\nok,A\n" + LATIN1_CAFE + b",B\n", ":3: "),
    # JSONL -----------------------------------------------------------------------------------
    "jsonl: invalid JSON": BadInput(
        "d.jsonl", b'{"text": "x", "label": "A"}\n{"text": "y", "label": \n', ":2: "
    ),
    "jsonl: a list, not an object": BadInput(
        "d.jsonl", b'{"text": "x", "label": "A"}\n["y", "A"]\n', ":2: "
    ),
    "jsonl: no text": BadInput(
        "d.jsonl", b'{"text": "x", "label": "A"}\n\n{"label": "A"}\n', ":3: "
    ),
    "jsonl: no label key": BadInput("d.jsonl", b'{"text": "x"}\n', ":1: "),
    "jsonl: label of the wrong type": BadInput(
        "d.jsonl", b'{"text": "x", "labels": "A"}\n', ":1: "
    ),
    "jsonl: cats not 0 or 1": BadInput("d.jsonl", b'{"text": "x", "cats": {"A": 0.5}}\n', ":1: "),
    "jsonl: nested too deeply": BadInput(
        "d.jsonl", b'{"text": "x", "label": "A"}\n' + b"[" * 100_000 + b"\n", ":2: "
    ),
    "jsonl: label outside --labels": BadInput(
        "d.jsonl",
        b'{"text": "x", "label": "A"}\n{"text": "y", "label": "D"}\n',
        ":2: ",
        {"labels": ["A"]},
        ["--labels", "A"],
    ),
    "jsonl: empty file": BadInput("d.jsonl", b"", ": "),
    "jsonl: blank lines only": BadInput("d.jsonl", b"\n \n\n", ": "),
    "jsonl: latin-1 bytes": BadInput(
        "d.jsonl",
        b'{"text": "x", "label": "A"}\n{"text": "' + LATIN1_CAFE + b'", "label": "A"}\n',
        ":2: ",
    ),
    # SQuAD -----------------------------------------------------------------------------------
    "squad: invalid JSON": BadInput("d.json", b'{"version": "1.1",\n "data": [}\n', ":2: "),
    "squad: nested too deeply": BadInput(
        "d.json", b'{"data":\n' + b"[" * 100_000, ": expected a SQuAD JSON file"
    ),
    "squad: not an object": BadInput("d.json", b"[]", ": the top level: "),
    "squad: no data key": BadInput(
        "d.json", b'{"version": "1.1"}', ": expected the file to have the key 'data'"
    ),
    "squad: answer_start not where the text is": BadInput(
        "d.json", squad([qa(start=1)]), Q1 + ".answers[0]: "
    ),
    "squad: answer_start past the context": BadInput(
        "d.json", squad([qa(start=500)]), Q1 + ".answers[0]: "
    ),
    "squad: answer text not in the context": BadInput(
        "d.json", squad([qa(text="Miami")]), Q1 + ".answers[0]: "
    ),
    "squad: answer_start not an integer": BadInput(
        "d.json", squad([qa(start="0")]), Q1 + ".answers[0].answer_start: "
    ),
    "squad: question of the wrong type": BadInput(
        "d.json", squad([qa(question=None)]), Q1 + ".question: "
    ),
    "squad: duplicate question ids": BadInput(
        "d.json", squad([qa(), qa()]), ": data[0].paragraphs[0].qas[1] (id 'q1'): "
    ),
    "squad: no answers, not marked impossible": BadInput(
        "d.json", squad([{**qa(), "answers": []}]), Q1 + ": "
    ),
    "squad: empty file": BadInput("d.json", b"", ":1: "),
    "squad: no questions": BadInput("d.json", b'{"version": "1.1", "data": []}', ": "),
    "squad: latin-1 bytes": BadInput(
        "d.json", b'{"version": "1.1",\n"data": ["' + LATIN1_CAFE + b'"]}', ":2: "
    ),
}
CASES = list(BAD_INPUTS)


def convert(case: BadInput, path, output):
    if case.converter == "conll":
        return convert_conll(path, output, **case.options)
    if case.converter == "squad":
        return convert_squad(path, output, **case.options)
    return convert_textcat(path, output, **case.options)


@pytest.mark.parametrize("case_name", CASES)
def test_api_names_the_place_and_writes_nothing(tmp_path, case_name):
    case = BAD_INPUTS[case_name]
    path = tmp_path / case.name
    path.write_bytes(case.content)
    output = tmp_path / "new" / "out.spacy"
    with pytest.raises(ConversionError) as info:
        convert(case, path, output)
    assert str(info.value).startswith(f"{path}{case.where}"), str(info.value)[:300]
    # No output, no temp file, not even the output's folder.
    assert sorted(p.name for p in tmp_path.iterdir()) == [case.name]


@pytest.mark.parametrize("case_name", CASES)
def test_cli_names_the_place_and_keeps_the_older_output(tmp_path, case_name):
    case = BAD_INPUTS[case_name]
    path = tmp_path / case.name
    path.write_bytes(case.content)
    output = tmp_path / "out.spacy"
    output.write_bytes(OLD_OUTPUT)
    result = runner.invoke(app, ["convert", case.converter, str(path), str(output), *case.cli])
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"error: {path}{case.where}"), result.stderr[:300]
    assert "Traceback" not in result.output
    assert output.read_bytes() == OLD_OUTPUT
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([case.name, output.name])
