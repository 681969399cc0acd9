"""Text classification data (TSV, CSV, JSON Lines) to Docs with `doc.cats`.

The Docs carry no entity annotation (`ent_iob` stays 0, "missing"), so a corpus
that mixes them with NER data does not teach the NER head that they hold no entities.
"""

import csv
import json
import random
import warnings
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, TypeVar

from spacy.tokens import Doc

from .errors import ConversionError
from .io import ConversionReport, PathLike, blank_tokenizer, iter_lines, write_docbin

FORMATS = {".tsv": "tsv", ".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl"}
TEXT_COLUMNS = ("text", "sentence")
JSON_LABEL_KEYS = ("cats", "label", "labels")

T = TypeVar("T")

# One input record: (line number, text, {raw label: positive?}).
Record = Tuple[int, str, Dict[str, bool]]
# Without a given label set, a label on at most this many records, when another label is on at
# least RARE_LABEL_RATIO times as many, looks like a typo ("NEUTRAL" once among thousands).
RARE_LABEL_MAX_RECORDS = 3
RARE_LABEL_RATIO = 50


def read_textcat(
    path: PathLike,
    *,
    file_format: Optional[str] = None,
    text_column: Optional[str] = None,
    label_column: str = "label",
    label_names: Optional[Dict[str, str]] = None,
    multilabel: bool = False,
    label_sep: str = "|",
    labels: Optional[Sequence[str]] = None,
    lang: str = "en",
    shuffle_seed: Optional[int] = None,
    skip: int = 0,
    limit: Optional[int] = None,
) -> List[Doc]:
    """Read a text classification file into Docs with `doc.cats` set.

    Every doc's cats hold every label of the label set: 1.0 for its labels, 0.0 for
    the others.

    path (PathLike): The data file.
    file_format (Optional[str]): "tsv", "csv", "jsonl" or "json" (also JSON Lines).
        Defaults to the one the file extension names.
    text_column (Optional[str]): TSV/CSV column with the text. Defaults to the first
        of "text" and "sentence" in the header.
    label_column (str): TSV/CSV column with the label(s).
    label_names (Optional[Dict[str, str]]): Maps raw label values to label names,
        e.g. {"0": "NEGATIVE", "1": "POSITIVE"}. Every raw value must be listed.
    multilabel (bool): Whether a text may have any number of labels. If False, each
        record must have exactly one.
    label_sep (str): Separates the labels in a TSV/CSV label cell.
    labels (Optional[Sequence[str]]): The label set (names after `label_names`). A
        label in the data outside it is an error. Defaults to the labels in the file.
    lang (str): Language code of the blank tokenizer the Docs are made with.
    shuffle_seed (Optional[int]): Shuffle the records with this seed (Python's
        `random.Random(seed).shuffle`) before `skip` and `limit`; None keeps file order.
    skip (int): Leave out this many records first. With the same seed, `skip=0,
        limit=N` and `skip=N` make a held-out split and the rest, with no record in both.
    limit (Optional[int]): Keep at most this many records after `skip`; None for all.
    RETURNS (List[Doc]): The Docs, in file order (or shuffled, with a seed).
    RAISES (ConversionError): The file is malformed; the message names its line.
    """
    options = dict(locals())  # every argument, by name
    return _read(report=ConversionReport(Path(path), unit="records", counted="docs"), **options)


def convert_textcat(
    path: PathLike,
    output_path: PathLike,
    *,
    file_format: Optional[str] = None,
    text_column: Optional[str] = None,
    label_column: str = "label",
    label_names: Optional[Dict[str, str]] = None,
    multilabel: bool = False,
    label_sep: str = "|",
    labels: Optional[Sequence[str]] = None,
    lang: str = "en",
    shuffle_seed: Optional[int] = None,
    skip: int = 0,
    limit: Optional[int] = None,
) -> ConversionReport:
    """Convert a text classification file to a .spacy file (see `read_textcat`).

    output_path (PathLike): The .spacy file to write. Nothing is written if the input
        has an error, and an older file there is left as it was.
    The other arguments are those of `read_textcat`.
    RETURNS (ConversionReport): Docs written, records read, docs per positive label.
    RAISES (ConversionError): The file is malformed; the message names its line.
    """
    options = dict(locals())  # every argument, by name
    del options["output_path"]
    report = ConversionReport(Path(path), Path(output_path), unit="records", counted="docs")
    report.n_docs = write_docbin(_read(report=report, **options), output_path)
    return report


def _read(path: PathLike, *, report: ConversionReport, **options) -> List[Doc]:
    labels = _check_options(**options)
    tokenizer = blank_tokenizer(
        options["lang"]
    )  # first: a bad language code fails before the file is read
    rows: List[Tuple[str, List[str]]] = []
    # The label set in order of first appearance: a dict keeps order and drops repeats.
    label_set: Dict[str, None] = dict.fromkeys(labels or ())
    lines_of: Dict[str, List[int]] = {}  # positive label: the lines of its records
    for line, text, raw in _records(path, report, **options):
        marks: Dict[str, bool] = {}
        for value, positive in raw.items():
            name = _label_name(path, line, value, options["label_names"])
            if labels is not None and name not in label_set:
                raise ConversionError(
                    path,
                    line,
                    f"expected one of the labels {labels}, got {name!r}; add it to labels or fix the record",
                )
            label_set.setdefault(name)
            marks[name] = marks.get(name, False) or positive
        positives = [name for name, positive in marks.items() if positive]
        for name in positives:
            lines_of.setdefault(name, []).append(line)
        if not options["multilabel"] and len(positives) != 1:
            raise ConversionError(
                path,
                line,
                f"expected exactly one label per record (exclusive classes), got {len(positives)}"
                f"{': ' + ', '.join(positives) if positives else ''}; fix the record, or use "
                f"multilabel (--multilabel) if a text may have several labels or none",
            )
        rows.append((text, positives))
    if not rows:
        raise ConversionError(
            path, None, "expected at least one record, got none (an empty file or a header only)"
        )
    report.n_read = len(rows)
    if labels is None:
        report.warnings.extend(_rare_label_warnings(path, lines_of))
        for warning in report.warnings:
            warnings.warn(warning, UserWarning, stacklevel=3)
    docs = []
    for text, positives in _select(rows, **options):
        doc = tokenizer(text)
        doc.cats = {label: float(label in positives) for label in label_set}
        report.label_counts.update(positives)
        docs.append(doc)
    if not docs:
        raise ConversionError(
            path, None, f"expected skip below the {len(rows):,} records, got skip={options['skip']}"
        )
    return docs


def _rare_label_warnings(path: PathLike, lines_of: Dict[str, List[int]]) -> List[str]:
    """A warning per label so rare beside the others that it may be a typo; names its lines.

    Not an error: a rare class can be real. The converted data keeps it as a class (in every
    doc's cats), so the warning says how to make the label set explicit.
    """
    if not lines_of:
        return []
    most = max(len(lines) for lines in lines_of.values())
    found = []
    for name, lines in lines_of.items():
        if len(lines) <= RARE_LABEL_MAX_RECORDS and len(lines) * RARE_LABEL_RATIO <= most:
            where = ", ".join(str(line) for line in lines)
            others = ",".join(other for other in lines_of if other != name)
            found.append(
                f"{path}: label {name!r} is on only {len(lines)} record(s) (line {where}), the "
                f"most frequent label on {most:,}: a typo? It becomes a class of its own. Fix "
                f"the line(s), or pass the label set (--labels {others}) to make any other "
                f"label an error."
            )
    return found


def _select(
    rows: List[T], *, shuffle_seed: Optional[int], skip: int, limit: Optional[int], **_
) -> List[T]:
    """The rows to keep: shuffled with the seed (if any), then `skip` left out, then `limit` kept."""
    if skip < 0 or (limit is not None and limit < 1):
        raise ValueError(
            f"expected skip >= 0 and limit >= 1 (or None), got skip={skip}, limit={limit}"
        )
    order = list(range(len(rows)))
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(order)
    end = None if limit is None else skip + limit
    return [rows[i] for i in order[skip:end]]


def _check_options(*, labels: Optional[Sequence[str]], label_sep: str, **_) -> Optional[List[str]]:
    """Check the options that do not depend on the file; return the label set, if given."""
    if not label_sep:
        raise ValueError("expected a non-empty label_sep, got ''; pass e.g. label_sep='|'")
    if labels is not None and (not labels or len(set(labels)) != len(labels) or not all(labels)):
        raise ValueError(f"expected labels to be distinct non-empty names, got {labels!r}")
    return None if labels is None else list(labels)


def _records(
    path: PathLike, report: ConversionReport, *, file_format: Optional[str], **options
) -> Iterator[Record]:
    """Read the file in the format named, or else the one its extension names."""
    suffix = Path(path).suffix.lower()
    if file_format is None and suffix not in FORMATS:
        raise ConversionError(
            path,
            None,
            f"expected a file ending in {', '.join(FORMATS)}, got {suffix or 'no extension'!r}; "
            f"name the format with file_format (--format): tsv, csv or jsonl",
        )
    resolved = FORMATS.get(suffix if file_format is None else f".{file_format.lower()}")
    if resolved is None:
        raise ValueError(
            f"expected file_format to be one of tsv, csv, jsonl, json, got {file_format!r}"
        )
    if resolved == "jsonl":
        return _json_records(path, report)
    return _table_records(path, report, delimiter="\t" if resolved == "tsv" else ",", **options)


def _label_name(
    path: PathLike, line: int, value: str, label_names: Optional[Dict[str, str]]
) -> str:
    if label_names is None:
        return value
    if value not in label_names:
        raise ConversionError(
            path,
            line,
            f"expected a label listed in label_names ({', '.join(label_names)}), got {value!r}; add it to label_names",
        )
    return label_names[value]


def _table_records(
    path: PathLike, report: ConversionReport, *, delimiter: str, **options
) -> Iterator[Record]:
    """Yield the records of a TSV or CSV file with a header row."""
    rows = _table_rows(path, report, delimiter)
    header_line, header = next(rows, (None, None))
    if header is None:
        return
    header = [name.strip() for name in header]
    text_column = options["text_column"] or next(
        (name for name in TEXT_COLUMNS if name in header), "text"
    )
    label_column = options["label_column"]
    for column, option in ((text_column, "text_column"), (label_column, "label_column")):
        if column not in header:
            raise ConversionError(
                path,
                header_line,
                f"expected a header row with a column {column!r}, got the columns {header}; "
                f"name the column with {option} (--{option.replace('_', '-')}), or add a header row",
            )
    text_index, label_index = header.index(text_column), header.index(label_column)
    for line, row in rows:
        if len(row) != len(header):
            separator = "tab" if delimiter == "\t" else "comma"
            raise ConversionError(
                path,
                line,
                f"expected {len(header)} columns as in the header, got {len(row)}; look for a "
                f"missing or stray {separator} in the row",
            )
        text = row[text_index].strip()
        if not text:
            raise ConversionError(
                path,
                line,
                f"expected a text in column {text_column!r}, got an empty cell; fill it or remove the row",
            )
        values = [value.strip() for value in row[label_index].split(options["label_sep"])]
        yield line, text, {value: True for value in values if value}


def _table_rows(
    path: PathLike, report: ConversionReport, delimiter: str
) -> Iterator[Tuple[int, List[str]]]:
    """Yield (first line, row) for each non-blank row; a quoted CSV row may span lines."""
    # No quoting in TSV: GLUE files such as SST-2 have bare quote characters in texts.
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    # strict: an unclosed quote is an error at its row, not a field that swallows the
    # rest of the file.
    reader = csv.reader(
        (line for _, line in iter_lines(path)), delimiter=delimiter, quoting=quoting, strict=True
    )
    start = 1
    try:
        for row in reader:
            if row:
                yield start, row
            else:
                report.skipped.append((f"line {start}", "blank line"))
            start = reader.line_num + 1
    except csv.Error as err:
        raise ConversionError(
            path,
            start,
            f"expected a well-formed CSV row, got: {err}; a field that opens a quote must close "
            f'it, and a quote inside a quoted field is written twice ("")',
        ) from None


def _json_records(path: PathLike, report: ConversionReport) -> Iterator[Record]:
    """Yield the records of a JSON Lines file: one object per line."""
    for line, content in iter_lines(path):
        if not content.strip():
            report.skipped.append((f"line {line}", "blank line"))
            continue
        try:
            record = json.loads(content)
        except json.JSONDecodeError as err:
            raise ConversionError(
                path,
                line,
                f"expected one JSON object per line, got invalid JSON ({err.msg} at column {err.colno}); fix the line",
            ) from None
        except RecursionError:  # json's parser recurses once per level of [ or {
            raise ConversionError(
                path,
                line,
                "expected one JSON object per line, got JSON nested too deeply to read; fix the line",
            ) from None
        text = record.get("text") if isinstance(record, dict) else None
        keys = [key for key in JSON_LABEL_KEYS if isinstance(record, dict) and key in record]
        if not isinstance(text, str) or len(keys) != 1:
            raise ConversionError(
                path,
                line,
                f"expected an object with a string 'text' and one of 'cats', 'label' or 'labels', "
                f"got {_shape(record)}; give each line a text and exactly one of the label keys",
            )
        if not text.strip():
            raise ConversionError(
                path, line, "expected a text, got an empty 'text'; fill it or remove the line"
            )
        yield line, text.strip(), _json_labels(path, line, keys[0], record[keys[0]])


def _json_labels(path: PathLike, line: int, key: str, value: object) -> Dict[str, bool]:
    if (
        key == "cats"
        and isinstance(value, dict)
        and all(score in (0, 1) for score in value.values())
    ):
        return {str(label): score == 1 for label, score in value.items()}
    if (
        key == "label"
        and isinstance(value, (str, int))
        and not isinstance(value, bool)
        and str(value)
    ):
        return {str(value): True}
    if (
        key == "labels"
        and isinstance(value, list)
        and all(isinstance(v, (str, int)) and str(v) for v in value)
    ):
        return {str(label): True for label in value}
    expected = {
        "cats": "an object of label: 0 or 1",
        "label": "a non-empty string",
        "labels": "a list of strings",
    }
    got = json.dumps(value)[:80]
    raise ConversionError(
        path, line, f"expected '{key}' to be {expected[key]}, got {got}; fix the record"
    )


def _shape(record: object) -> str:
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__}"
    return f"an object with the keys {sorted(record)}" if record else "an empty object"
