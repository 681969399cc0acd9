"""SQuAD conversion: v1.1 and v2.0, the QA doc conventions, errors naming file and record, the CLI."""

import json
from pathlib import Path

import pytest
import spacy
from spacy.tokens import DocBin
from typer.testing import CliRunner
from util import require_shared_data

from spacy_bert_tasks.cli import app
from spacy_bert_tasks.convert import ConversionError
from spacy_bert_tasks.convert.squad import convert_squad, read_squad

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
runner = CliRunner()

CONTEXT = "Denver Broncos beat the Carolina Panthers 24-10 in Santa Clara."
OTHER = "The game was played on February 7, 2016."


def answer(text, context=CONTEXT):
    return {"text": text, "answer_start": context.index(text)}


def squad(*paragraphs, version="1.1"):
    return {
        "version": version,
        "data": [{"title": "Super_Bowl_50", "paragraphs": list(paragraphs)}],
    }


def v11():
    return squad(
        {
            "context": CONTEXT,
            "qas": [
                {
                    "id": "q1",
                    "question": "Who won?",
                    "answers": [
                        answer("Denver Broncos"),
                        answer("Denver Broncos"),
                        answer("Broncos"),
                    ],
                },
                {"id": "q2", "question": "Where?", "answers": [answer("Santa Clara")]},
            ],
        },
        {
            "context": OTHER,
            "qas": [
                {"id": "q3", "question": "When?", "answers": [answer("February 7, 2016", OTHER)]}
            ],
        },
    )


def v20():
    return squad(
        {
            "context": CONTEXT,
            "qas": [
                {
                    "id": "a1",
                    "question": "Who won?",
                    "answers": [answer("Denver Broncos")],
                    "is_impossible": False,
                },
                {
                    "id": "a2",
                    "question": "Who lost the 1999 game?",
                    "answers": [],
                    "plausible_answers": [answer("Carolina Panthers")],
                    "is_impossible": True,
                },
            ],
        },
        version="v2.0",
    )


def write(tmp_path, data, name="squad.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf8")
    return path


def answers(doc):
    return [span.text for span in doc.spans["answers"]]


def test_v11_one_doc_per_question(tmp_path):
    docs = list(read_squad(write(tmp_path, v11())))
    assert [doc._.qa_id for doc in docs] == ["q1", "q2", "q3"]
    assert [doc._.question for doc in docs] == ["Who won?", "Where?", "When?"]
    assert [doc.text for doc in docs] == [CONTEXT, CONTEXT, OTHER]
    # Every raw answer is kept; the spans collapse duplicates.
    assert [a["text"] for a in docs[0]._.gold_answers] == [
        "Denver Broncos",
        "Denver Broncos",
        "Broncos",
    ]
    assert docs[0]._.gold_answers[2] == {"text": "Broncos", "answer_start": 7}
    assert answers(docs[0]) == ["Denver Broncos", "Broncos"]
    assert answers(docs[2]) == ["February 7, 2016"]
    # Other tasks' annotation stays missing.
    assert not docs[0].has_annotation("ENT_IOB") and docs[0].cats == {}
    # Copies: a question's annotation does not leak into its context's other questions.
    assert docs[0].spans is not docs[1].spans and answers(docs[1]) == ["Santa Clara"]


def test_v20_unanswerable_has_empty_gold(tmp_path):
    docs = list(read_squad(write(tmp_path, v20())))
    assert [a["text"] for a in docs[0]._.gold_answers] == ["Denver Broncos"]
    assert docs[1]._.gold_answers == [] and len(docs[1].spans["answers"]) == 0
    assert docs[1]._.question == "Who lost the 1999 game?"


def test_report_counts(tmp_path):
    report = convert_squad(write(tmp_path, v11()), tmp_path / "out.spacy")
    assert (report.n_read, report.n_docs, report.n_answers, report.n_unanswerable) == (3, 3, 5, 0)
    assert (report.n_articles, report.n_paragraphs, report.n_misaligned) == (1, 2, 0)
    assert "Wrote 3 docs" in str(
        report
    ) and "from 3 questions on 2 paragraphs of 1 articles" in str(report)
    report = convert_squad(write(tmp_path, v20()), tmp_path / "out2.spacy")
    assert (report.n_read, report.n_answers, report.n_unanswerable) == (2, 1, 1)
    assert "questions with no answer: 1" in str(report)


def test_docbin_round_trip_keeps_the_qa_fields(tmp_path):
    output = tmp_path / "out.spacy"
    convert_squad(write(tmp_path, v20()), output)
    docs = list(DocBin().from_disk(output).get_docs(spacy.blank("en").vocab))
    assert [doc._.qa_id for doc in docs] == ["a1", "a2"]
    assert docs[0]._.question == "Who won?"
    # DocBin gives lists back as tuples.
    assert list(docs[0]._.gold_answers) == [{"text": "Denver Broncos", "answer_start": 0}]
    assert list(docs[1]._.gold_answers) == []
    assert answers(docs[0]) == ["Denver Broncos"] and answers(docs[1]) == []


def test_misaligned_answers_are_counted_and_kept(tmp_path):
    # A whitespace-only answer matches its context but covers no token.
    context = "Denver  Broncos won."
    data = squad(
        {
            "context": context,
            "qas": [
                {
                    "id": "w",
                    "question": "Q?",
                    "answers": [
                        {"text": " ", "answer_start": 6},
                        {"text": "Broncos", "answer_start": 8},
                    ],
                }
            ],
        }
    )
    report = convert_squad(write(tmp_path, data), tmp_path / "out.spacy")
    assert report.n_misaligned == 1 and report.n_docs == 1 and report.n_answers == 2
    assert report.misaligned == [("data[0].paragraphs[0].qas[0] (id 'w').answers[0]", " ")]
    assert "Misaligned answers (no token span; kept in gold_answers for EM/F1): 1" in str(report)
    (doc,) = read_squad(tmp_path / "squad.json")
    assert [a["text"] for a in doc._.gold_answers] == [" ", "Broncos"] and answers(doc) == [
        "Broncos"
    ]


def test_answers_with_outer_whitespace_or_partial_tokens_expand(tmp_path):
    data = squad(
        {
            "context": CONTEXT,
            "qas": [
                {
                    "id": "x",
                    "question": "Q?",
                    "answers": [
                        {"text": "Denver ", "answer_start": 0},
                        {"text": "ronco", "answer_start": 8},
                    ],
                }
            ],
        }
    )
    (doc,) = read_squad(write(tmp_path, data))
    assert answers(doc) == ["Denver", "Broncos"]
    assert doc._.gold_answers[0] == {"text": "Denver ", "answer_start": 0}


def _set(data, dotted, value):
    """Set (or delete, for value ...) a value at a path like data.0.paragraphs.0.qas.1.id."""
    *parents, last = dotted.split(".")
    obj = data
    for key in parents:
        obj = obj[int(key)] if isinstance(obj, list) else obj[key]
    last = int(last) if isinstance(obj, list) else last
    if value is ...:
        del obj[last]
    else:
        obj[last] = value
    return data


Q1 = "data[0].paragraphs[0].qas[0] (id 'q1')"


@pytest.mark.parametrize(
    "dotted, value, needle",
    [
        ("data", ..., "expected the file to have the key 'data', got the keys 'version'"),
        ("data", {}, "data: expected a list, got an object {}"),
        ("data", [], "expected at least one question in data[...].paragraphs[...].qas, got none"),
        ("data.0.paragraphs", [{"context": "x", "qas": []}], "expected at least one question"),
        ("data.0.paragraphs", ..., "data[0]: expected the article to have the key 'paragraphs'"),
        (
            "data.0.paragraphs.1",
            "text",
            "data[0].paragraphs[1]: expected a paragraph object, got a string",
        ),
        (
            "data.0.paragraphs.1.context",
            3,
            "data[0].paragraphs[1].context: expected a string, got a number 3",
        ),
        (
            "data.0.paragraphs.1.context",
            " ",
            "data[0].paragraphs[1]: expected a non-empty 'context'",
        ),
        (
            "data.0.paragraphs.0.qas",
            ...,
            "data[0].paragraphs[0]: expected the paragraph to have the key 'qas'",
        ),
        (
            "data.0.paragraphs.0.qas.0.id",
            ...,
            "data[0].paragraphs[0].qas[0]: expected the question to have the key 'id'",
        ),
        (
            "data.0.paragraphs.0.qas.1.id",
            "q1",
            "qas[1] (id 'q1'): expected unique question ids, got the id of " + Q1,
        ),
        ("data.0.paragraphs.0.qas.0.question", "  ", Q1 + ": expected a question, got '  '"),
        ("data.0.paragraphs.0.qas.0.question", None, Q1 + ".question: expected a string, got null"),
        ("data.0.paragraphs.0.qas.0.answers", [], Q1 + ": expected at least one answer, got none"),
        (
            "data.0.paragraphs.0.qas.0.answers",
            ...,
            Q1 + ": expected the question to have the key 'answers'",
        ),
        (
            "data.0.paragraphs.0.qas.0.is_impossible",
            "no",
            Q1 + ".is_impossible: expected true or false",
        ),
        (
            "data.0.paragraphs.0.qas.0.is_impossible",
            True,
            Q1 + ": expected no 'answers' for a question with is_",
        ),
        (
            "data.0.paragraphs.0.qas.0.answers.1.answer_start",
            1,
            Q1 + ".answers[1]: expected the answer text "
            "'Denver Broncos' at answer_start 1 of the context (63 characters), got 'enver Broncos '; the text occurs "
            "at 0; fix answer_start",
        ),
        (
            "data.0.paragraphs.0.qas.0.answers.1.answer_start",
            -1,
            Q1 + ".answers[1]: expected the answer text",
        ),
        (
            "data.0.paragraphs.0.qas.0.answers.1.answer_start",
            True,
            Q1 + ".answers[1].answer_start: expected an integer, got a boolean true",
        ),
        (
            "data.0.paragraphs.0.qas.0.answers.1.answer_start",
            "0",
            "answer_start: expected an integer, got a string",
        ),
        ("data.0.paragraphs.0.qas.0.answers.1.text", "Miami", "the text is not in the context"),
        (
            "data.0.paragraphs.0.qas.0.answers.1.text",
            "",
            Q1 + ".answers[1]: expected a non-empty answer 'text'",
        ),
        (
            "data.0.paragraphs.0.qas.0.answers.1.text",
            ...,
            ".answers[1]: expected the answer to have the key 'text'",
        ),
    ],
)
def test_malformed_records_name_file_and_record(tmp_path, dotted, value, needle):
    path = write(tmp_path, _set(v11(), dotted, value), name="bad.json")
    old = tmp_path / "out.spacy"
    old.write_bytes(b"old")
    with pytest.raises(ConversionError) as err:
        convert_squad(path, old)
    assert str(err.value).startswith(f"{path}: ")
    assert needle in str(err.value)
    # No partial output: the older file is left as it was.
    assert old.read_bytes() == b"old"


def test_int_ids_and_missing_answers_of_impossible_questions_are_accepted(tmp_path):
    data = squad(
        {"context": CONTEXT, "qas": [{"id": 7, "question": "Q?", "is_impossible": True}]},
        version="v2.0",
    )
    (doc,) = read_squad(write(tmp_path, data))
    assert doc._.qa_id == "7" and doc._.gold_answers == []


@pytest.mark.parametrize(
    "text, needle",
    [
        (
            '{"version": "1.1",\n "data": [}',
            "bad.json:2: expected a SQuAD JSON file, got invalid JSON (Expecting value "
            "at line 2 column 11)",
        ),
        ("", "bad.json:1: expected a SQuAD JSON file, got invalid JSON"),
        ("[]", "bad.json: the top level: expected an object"),
    ],
)
def test_invalid_json_names_line_and_column(tmp_path, text, needle):
    with pytest.raises(ConversionError) as err:
        list(read_squad(write(tmp_path, text, name="bad.json")))
    assert needle in str(err.value)


def test_non_utf8_names_the_line(tmp_path):
    path = tmp_path / "bad.json"
    path.write_bytes(b'{"data": [],\n"x": "caf\xe9"}')
    with pytest.raises(
        ConversionError, match=r"bad.json:2: expected UTF-8 text, got the byte 0xe9"
    ):
        list(read_squad(path))


def test_bad_language_fails_at_the_call(tmp_path):
    with pytest.raises(ValueError, match="'zz'"):
        read_squad(tmp_path / "missing.json", lang="zz")


def test_cli(tmp_path):
    path, output = write(tmp_path, v20()), tmp_path / "out.spacy"
    result = runner.invoke(app, ["convert", "squad", str(path), str(output), "--lang", "en"])
    assert result.exit_code == 0, result.output
    assert "Wrote 2 docs" in result.stdout and "questions with no answer: 1" in result.stdout
    assert len(DocBin().from_disk(output)) == 2
    bad = write(tmp_path, _set(v20(), "data.0.paragraphs.0.qas.1.question", ""), name="bad.json")
    result = runner.invoke(app, ["convert", "squad", str(bad), str(tmp_path / "bad.spacy")])
    assert result.exit_code == 1
    assert "data[0].paragraphs[0].qas[1] (id 'a2'): expected a question" in result.stderr
    assert "Traceback" not in result.output and not (tmp_path / "bad.spacy").exists()


@pytest.mark.slow
def test_real_squad_dev_articles(tmp_path):
    path = SHARED / "datasets" / "squad" / "squad-v1.1-dev-articles-00-31.json"
    require_shared_data(path)
    output = tmp_path / "squad.spacy"
    report = convert_squad(path, output)
    assert (report.n_articles, report.n_paragraphs, report.n_read, report.n_docs) == (
        32,
        1379,
        7235,
        7235,
    )
    assert (report.n_answers, report.n_unanswerable, report.n_misaligned) == (23396, 0, 0)
    docs = list(DocBin().from_disk(output).get_docs(spacy.blank("en").vocab))
    assert len(docs) == 7235
    first = docs[0]
    assert first._.qa_id == "56be4db0acb8001400a502ec"
    assert first._.question == "Which NFL team represented the AFC at Super Bowl 50?"
    assert answers(first) == ["Denver Broncos"] and len(first._.gold_answers) == 3
    assert all(len(doc.spans["answers"]) >= 1 for doc in docs)
