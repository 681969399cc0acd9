"""SQuAD v1.1 / v2.0 JSON to Docs for the span-QA head: one Doc per (question, context) pair.

The Doc's text is the context; `doc._.question`, `doc._.qa_id` and `doc._.gold_answers` (every raw
answer, for exact EM/F1; empty means "no answer") carry the rest, and the answers as token spans
are in `doc.spans["answers"]` (see `spacy_bert_tasks.qa.extensions`). Entity annotation stays
missing (`ent_iob` 0) and cats empty, so a mixed corpus teaches the other heads nothing here.

The file is checked as it is read; an error names the file and the record as a JSON path with the
question id, e.g. `data[3].paragraphs[2].qas[5] (id '5733be28')`. Questions are stripped of outer
whitespace; numeric ids become strings. `plausible_answers` (SQuAD 2.0) are not used.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from spacy.tokenizer import Tokenizer
from spacy.tokens import Doc, Span

from ..qa.extensions import ANSWERS_KEY, install_qa_extensions
from .errors import ConversionError
from .io import (
    SHOWN_SKIPPED,
    ConversionReport,
    PathLike,
    blank_tokenizer,
    progress_bar,
    write_docbin,
)

# Characters of a context quoted in an error message before the rest is cut.
SHOWN_CHARS = 60


@dataclass
class SquadReport(ConversionReport):
    """A ConversionReport with the SQuAD counts; `n_read` counts questions.

    n_articles (int): Articles (entries of `data`) read.
    n_paragraphs (int): Paragraphs (contexts) read.
    n_answers (int): Raw gold answers, all kept in `doc._.gold_answers`.
    n_unanswerable (int): Questions with no answer (SQuAD 2.0).
    misaligned (List[Tuple[str, str]]): (where, answer text) for each answer whose characters
        cover no token: it has no span in `doc.spans["answers"]` but stays in `gold_answers`.
    """

    unit: str = "questions"
    counted: str = "answers"
    n_articles: int = 0
    n_paragraphs: int = 0
    n_answers: int = 0
    n_unanswerable: int = 0
    misaligned: List[Tuple[str, str]] = field(default_factory=list)

    @property
    def n_misaligned(self) -> int:
        return len(self.misaligned)

    def __str__(self) -> str:
        target = f" to {self.output_path}" if self.output_path is not None else ""
        lines = [
            f"Wrote {self.n_docs:,} docs{target} from {self.n_read:,} questions on {self.n_paragraphs:,} "
            f"paragraphs of {self.n_articles:,} articles in {self.input_path}.",
            f"Answers: {self.n_answers:,}; questions with no answer: {self.n_unanswerable:,}.",
        ]
        if self.misaligned:
            shown = "; ".join(
                f"{where} ({text!r})" for where, text in self.misaligned[:SHOWN_SKIPPED]
            )
            more = self.n_misaligned - SHOWN_SKIPPED
            lines.append(
                f"Misaligned answers (no token span; kept in gold_answers for EM/F1): {self.n_misaligned:,}: "
                f"{shown}" + (f" and {more:,} more." if more > 0 else ".")
            )
        else:
            lines.append("Misaligned answers: 0.")
        return "\n".join(lines)


def read_squad(
    path: PathLike, *, lang: str = "en", articles: Optional[Sequence[int]] = None
) -> Iterator[Doc]:
    """Read a SQuAD v1.1 or v2.0 JSON file into Docs, one per question.

    Each context is tokenized once, with the blank tokenizer of `lang`; its questions get copies.

    path (PathLike): The SQuAD JSON file.
    lang (str): Language code of the blank tokenizer / vocab.
    articles (Optional[Sequence[int]]): Read only these articles (0-based indices into `data`),
        e.g. to split train and dev by article; None for all.
    RETURNS (Iterator[Doc]): The Docs, in file order, made as they are consumed.
    RAISES (ConversionError): The file is malformed (raised while iterating); the message names
        the file and the record.
    """
    # Here, not in the generator, so a bad language code fails at the call.
    tokenizer = blank_tokenizer(lang)
    return _read_docs(path, tokenizer, SquadReport(Path(path)), articles)


def convert_squad(
    path: PathLike,
    output_path: PathLike,
    *,
    lang: str = "en",
    articles: Optional[Sequence[int]] = None,
) -> SquadReport:
    """Convert a SQuAD v1.1 or v2.0 JSON file to a .spacy file (see `read_squad`).

    The DocBin keeps user data, where the question, its id and the gold answers live.

    path (PathLike): The SQuAD JSON file.
    output_path (PathLike): The .spacy file to write. Nothing is written if the input has an
        error, and an older file there is left as it was.
    lang (str): Language code of the blank tokenizer / vocab.
    articles (Optional[Sequence[int]]): Convert only these articles (0-based); None for all.
    RETURNS (SquadReport): Questions read, docs written, articles, answers, unanswerable
        questions and misaligned answers.
    RAISES (ConversionError): The file is malformed; the message names the file and the record.
    """
    tokenizer = blank_tokenizer(lang)
    report = SquadReport(Path(path), Path(output_path))
    report.n_docs = write_docbin(
        _read_docs(path, tokenizer, report, articles), output_path, store_user_data=True
    )
    return report


def _read_docs(
    path: PathLike,
    tokenizer: Tokenizer,
    report: SquadReport,
    articles: Optional[Sequence[int]] = None,
) -> Iterator[Doc]:
    install_qa_extensions()  # the docs carry their question and answers in extensions
    data = _load(path)
    _check_type(path, data, dict, "the top level", 'an object {"version": ..., "data": [articles]}')
    all_articles = _get(path, data, "data", list, "", "the file")
    wanted = None if articles is None else set(articles)
    if wanted is not None and (not wanted or min(wanted) < 0 or max(wanted) >= len(all_articles)):
        raise ConversionError(
            path,
            None,
            f"expected article indices from 0 to {len(all_articles) - 1}, got {sorted(wanted)}",
        )
    # question id: where it was first seen
    seen_ids: Dict[str, str] = {}
    bar = progress_bar(
        path, total=len(all_articles) if wanted is None else len(wanted), unit="article"
    )
    # Unused fields ("version", "title", "plausible_answers") are not checked.
    for i, article in enumerate(all_articles):
        if wanted is not None and i not in wanted:
            continue
        bar.update(1)
        where = f"data[{i}]"
        _check_type(path, article, dict, where, "an article object")
        report.n_articles += 1
        for j, paragraph in enumerate(
            _get(path, article, "paragraphs", list, where, "the article")
        ):
            where = f"data[{i}].paragraphs[{j}]"
            _check_type(path, paragraph, dict, where, "a paragraph object")
            context = _get(path, paragraph, "context", str, where, "the paragraph")
            questions = _get(path, paragraph, "qas", list, where, "the paragraph")
            if not context.strip():
                raise ConversionError(
                    path, None, f"{where}: expected a non-empty 'context', got {context!r}"
                )
            report.n_paragraphs += 1
            context_doc = tokenizer(context)
            for k, record in enumerate(questions):
                where = f"data[{i}].paragraphs[{j}].qas[{k}]"
                yield _question_doc(path, context, context_doc, record, where, seen_ids, report)
    bar.close()
    if report.n_read == 0:
        raise ConversionError(
            path,
            None,
            "expected at least one question in data[...].paragraphs[...].qas, got none; check the path",
        )


def _load(path: PathLike) -> Any:
    raw = Path(path).read_bytes()
    try:
        # utf-8-sig: a byte order mark is no part of the JSON.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ConversionError(
            path,
            raw.count(b"\n", 0, err.start) + 1,
            f"expected UTF-8 text, got the byte 0x{raw[err.start]:02x}; re-encode the file as UTF-8",
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ConversionError(
            path,
            err.lineno,
            f"expected a SQuAD JSON file, got invalid JSON ({err.msg} at line {err.lineno} column "
            f"{err.colno}); fix the file there",
        ) from None
    except RecursionError:  # json's parser recurses once per level of [ or {
        raise ConversionError(
            path,
            None,
            "expected a SQuAD JSON file, got JSON nested too deeply to read; check the file",
        ) from None


def _question_doc(
    path: PathLike,
    context: str,
    context_doc: Doc,
    record: Any,
    where: str,
    seen_ids: Dict[str, str],
    report: SquadReport,
) -> Doc:
    """Make the Doc of one question record: a copy of its context's Doc with the QA fields set.

    context (str): The context, as `context_doc.text` is (passed on: that property rebuilds it).
    """
    _check_type(path, record, dict, where, "a question object")
    qa_id = _get(path, record, "id", (str, int), where, "the question")
    qa_id = str(qa_id)
    where = f"{where} (id {qa_id!r})"
    if not qa_id.strip():
        raise ConversionError(
            path, None, f"{where}: expected a non-empty 'id', got {qa_id!r}; give it a unique id"
        )
    if qa_id in seen_ids:
        raise ConversionError(
            path,
            None,
            f"{where}: expected unique question ids, got the id of {seen_ids[qa_id]} again; rename one",
        )
    seen_ids[qa_id] = where
    question = _get(path, record, "question", str, where, "the question")
    if not question.strip():
        raise ConversionError(
            path, None, f"{where}: expected a question, got {question!r}; fill it or remove it"
        )
    impossible = _get(path, record, "is_impossible", bool, where, "the question", required=False)
    answers = (
        _get(path, record, "answers", list, where, "the question", required=not impossible) or []
    )
    if impossible and answers:
        raise ConversionError(
            path,
            None,
            f"{where}: expected no 'answers' for a question with is_impossible true, got {len(answers)}; "
            f"move them to 'plausible_answers' or set is_impossible to false",
        )
    if not impossible and not answers:
        raise ConversionError(
            path,
            None,
            f"{where}: expected at least one answer, got none; add the answer, or mark an unanswerable "
            f'question (SQuAD 2.0) with "is_impossible": true',
        )
    gold_answers = [
        _checked_answer(path, context, answer, f"{where}.answers[{n}]")
        for n, answer in enumerate(answers)
    ]
    doc = context_doc.copy()
    doc._.question = question.strip()
    doc._.qa_id = qa_id
    doc._.gold_answers = gold_answers
    doc.spans[ANSWERS_KEY] = _answer_spans(doc, gold_answers, where, report)
    report.n_read += 1
    report.n_answers += len(gold_answers)
    report.n_unanswerable += not gold_answers
    return doc


def _checked_answer(path: PathLike, context: str, answer: Any, where: str) -> Dict[str, Any]:
    """Check one raw answer against its context; return it as {"text", "answer_start"}."""
    _check_type(path, answer, dict, where, "an answer object")
    text = _get(path, answer, "text", str, where, "the answer")
    start = _get(path, answer, "answer_start", int, where, "the answer")
    if not text:
        raise ConversionError(
            path, None, f"{where}: expected a non-empty answer 'text', got ''; fill it or remove it"
        )
    if start < 0 or context[start : start + len(text)] != text:
        found = context.find(text)
        hint = (
            f"the text occurs at {found}; fix answer_start"
            if found >= 0
            else "the text is not in the context"
        )
        raise ConversionError(
            path,
            None,
            f"{where}: expected the answer text {_quote(text)} at answer_start {start} of the context "
            f"({len(context)} characters), got {_quote(context[max(start, 0) : max(start, 0) + len(text)])}; {hint}",
        )
    return {"text": text, "answer_start": start}


def _answer_spans(
    doc: Doc, gold_answers: List[Dict[str, Any]], where: str, report: SquadReport
) -> List[Span]:
    """The gold answers as token spans, each token span once, in the order of first mention."""
    spans: Dict[Tuple[int, int], Span] = {}
    for n, answer in enumerate(gold_answers):
        text = answer["text"]
        # Aligned without the answer's outer whitespace, so a span never starts or ends in a space.
        start = answer["answer_start"] + len(text) - len(text.lstrip())
        end = answer["answer_start"] + len(text.rstrip())
        span = doc.char_span(start, end, alignment_mode="expand") if start < end else None
        if span is None or len(span) == 0:
            report.misaligned.append((f"{where}.answers[{n}]", text))
            continue
        spans.setdefault((span.start, span.end), span)
    return list(spans.values())


def _get(
    path: PathLike,
    obj: Dict[str, Any],
    key: str,
    types: Any,
    where: str,
    what: str,
    *,
    required: bool = True,
) -> Any:
    """obj[key] checked to be of `types`; None if absent and not required."""
    if key not in obj:
        if not required:
            return None
        prefix = f"{where}: " if where else ""
        keys = ", ".join(repr(name) for name in obj) or "none"
        raise ConversionError(
            path,
            None,
            f"{prefix}expected {what} to have the key {key!r}, got the keys {keys}; add it",
        )
    _check_type(path, obj[key], types, f"{where}.{key}" if where else key, _type_names(types))
    return obj[key]


def _check_type(path: PathLike, value: Any, types: Any, where: str, expected: str) -> None:
    # bool is an int to isinstance; an answer_start of true is still an error.
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in _as_tuple(types)):
        raise ConversionError(
            path,
            None,
            f"{where}: expected {expected}, got {_json_type(value)} {_cut(json.dumps(value))}",
        )


def _as_tuple(types: Any) -> Tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


def _type_names(types: Any) -> str:
    names = {
        dict: "an object",
        list: "a list",
        str: "a string",
        int: "an integer",
        bool: "true or false",
    }
    return " or ".join(names[type_] for type_ in _as_tuple(types))


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    names = {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
    }
    return names.get(type(value), type(value).__name__)


def _quote(text: str) -> str:
    return repr(_cut(text))


def _cut(text: str) -> str:
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "..."
