"""Finding and reading the input rows: .jsonl, .parquet, .csv or .tsv files, a folder or a glob.

Files are read in sorted path order and rows in file order, so the output of the local engine
is in input order. Every column of a row is kept. A JSON Lines line that is not a JSON object
becomes a `BadRow` (an error row in the output, naming the file and line), never a crash; a CSV
or Parquet file that Arrow cannot parse at all fails the run before any output is written.
"""

import glob
import json
from pathlib import Path
from typing import Iterator, List, Sequence, Union

from .columns import Row

FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet", ".csv": "csv", ".tsv": "tsv"}
# Rows per Arrow record batch when reading Parquet and CSV.
READ_BATCH_ROWS = 4096


class BadRow(str):
    """An input row that could not be read, as the message for its `error` column."""


class InputError(ValueError):
    """INPUT names no readable files, or files of several formats."""


def resolve_inputs(spec: Union[str, Path]) -> List[Path]:
    """The input files: `spec` itself, the files of a folder (sorted, not recursive), or the
    matches of a glob (sorted; `**` recurses). Hidden files and unknown suffixes are skipped
    in folders and globs.

    RAISES (InputError): No input file, an unsupported suffix, or several formats.
    """
    path = Path(spec)
    if path.is_file():
        if path.suffix.lower() not in FORMATS:
            raise InputError(
                f"{path}: expected a {_suffixes()} file, got {path.suffix or 'no suffix'}"
            )
        return [path]
    if path.is_dir():
        candidates = [p for p in path.iterdir() if p.is_file()]
    else:
        candidates = [Path(p) for p in glob.glob(str(spec), recursive=True) if Path(p).is_file()]
    files = sorted(
        p for p in candidates if not p.name.startswith(".") and p.suffix.lower() in FORMATS
    )
    if not files:
        what = "folder" if path.is_dir() else "path or glob"
        raise InputError(
            f"{spec}: expected a {_suffixes()} file, or a {what} holding some; found none"
        )
    input_format(files)
    return files


def input_format(files: Sequence[Path]) -> str:
    """The one format of the files ("jsonl", "parquet" or "csv").

    RAISES (InputError): The files are of several formats.
    """
    formats = sorted({FORMATS[p.suffix.lower()] for p in files})
    if len(formats) > 1:
        raise InputError(
            f"INPUT mixes {' and '.join(formats)} files: annotate one format at a time"
        )
    return formats[0]


def csv_convert_options(string_fields: Sequence[str]):
    """pyarrow.csv.ConvertOptions reading the text and question columns as strings (a column
    of digits stays text) and an empty cell as a missing value (a row without a question).
    The local and the Ray engine read CSV with the same options."""
    import pyarrow
    import pyarrow.csv

    return pyarrow.csv.ConvertOptions(
        column_types={f: pyarrow.string() for f in string_fields}, strings_can_be_null=True
    )


def csv_parse_options(kind: str):
    """pyarrow.csv.ParseOptions for "csv" (comma, double quotes) or "tsv" (tab, no quoting:
    a quote inside a TSV text is text)."""
    import pyarrow.csv

    if kind == "tsv":
        return pyarrow.csv.ParseOptions(delimiter="\t", quote_char=False)
    return pyarrow.csv.ParseOptions()


def read_rows(
    files: Sequence[Path], *, string_fields: Sequence[str] = ("text", "question")
) -> Iterator[Union[Row, BadRow]]:
    """The rows of the files, in order.

    files (Sequence[Path]): From `resolve_inputs`.
    string_fields (Sequence[str]): CSV columns read as strings whatever they hold.
    YIELDS (Union[Dict[str, Any], BadRow]): A row, or why a JSON Lines line is none.
    """
    for path in files:
        kind = FORMATS[path.suffix.lower()]
        if kind == "jsonl":
            yield from _jsonl_rows(path)
        elif kind == "parquet":
            yield from _parquet_rows(path)
        else:
            yield from _csv_rows(path, kind, string_fields)


def _jsonl_rows(path: Path) -> Iterator[Union[Row, BadRow]]:
    with path.open("rb") as file_:
        for number, raw in enumerate(file_, start=1):
            if not raw.strip():
                continue  # a blank line is no row (a trailing newline, a spacer)
            where = f"{path} line {number}"
            try:
                value = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as err:
                yield BadRow(f"bad row: {where}: not UTF-8 (byte {err.start + 1} of the line)")
                continue
            except json.JSONDecodeError as err:
                yield BadRow(f"bad row: {where}: invalid JSON ({err.msg}, column {err.colno})")
                continue
            if not isinstance(value, dict):
                yield BadRow(
                    f"bad row: {where}: expected a JSON object, got {type(value).__name__}"
                )
                continue
            yield value


def _parquet_rows(path: Path) -> Iterator[Row]:
    import pyarrow.parquet

    with pyarrow.parquet.ParquetFile(path) as parquet:
        for batch in parquet.iter_batches(batch_size=READ_BATCH_ROWS):
            yield from batch.to_pylist()


def _csv_rows(path: Path, kind: str, string_fields: Sequence[str]) -> Iterator[Row]:
    import pyarrow.csv

    # One read per file, as Ray's read_csv does: the column types are inferred from the whole
    # file, so both engines see the same values.
    table = pyarrow.csv.read_csv(
        path,
        parse_options=csv_parse_options(kind),
        convert_options=csv_convert_options(string_fields),
    )
    for batch in table.to_batches(max_chunksize=READ_BATCH_ROWS):
        yield from batch.to_pylist()


def _suffixes() -> str:
    return "/".join(sorted(FORMATS))
