"""Writing the output rows: Parquet (the default) or JSON Lines, all or nothing.

Rows go to a hidden sibling of OUTPUT, which replaces OUTPUT in one rename once every row is
written and synced: a crash, an error or a Ctrl-C leaves no partial OUTPUT (and an older one,
with `overwrite`, as it was). An existing OUTPUT is refused unless `overwrite`.

Parquet needs one type per column. The output columns have fixed types (`OUTPUT_TYPES`), the
text and question columns are strings, and every other input column takes the type Arrow infers
from the first `ROW_GROUP_ROWS` rows; a later value of another type stops the run with an error
naming the column (JSON Lines output takes any values).
"""

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Union

from ..atomic import temporary_sibling
from .columns import OUTPUT_COLUMNS, Row

OUTPUT_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".json": "jsonl"}
# Rows per Parquet row group; also how many rows the column types are inferred from.
ROW_GROUP_ROWS = 8192


def output_types() -> Dict[str, Any]:
    """The Arrow type of each output column."""
    import pyarrow as pa

    entity = pa.struct(
        [
            ("start_char", pa.int64()),
            ("end_char", pa.int64()),
            ("label", pa.string()),
            ("score", pa.float64()),
        ]
    )
    return {
        "ents": pa.list_(entity),
        "cats": pa.map_(pa.string(), pa.float64()),
        "answer": pa.string(),
        "answer_start": pa.int64(),
        "answer_end": pa.int64(),
        "answer_score": pa.float64(),
        "no_answer": pa.bool_(),
        "error": pa.string(),
    }


def output_format(path: Union[str, Path], requested: Optional[str] = None) -> str:
    """ "parquet" or "jsonl": `requested`, else from OUTPUT's suffix, else Parquet."""
    if requested is not None:
        if requested not in ("parquet", "jsonl"):
            raise ValueError(f"expected the output format parquet or jsonl, got {requested!r}")
        return requested
    return OUTPUT_FORMATS.get(Path(path).suffix.lower(), "parquet")


def rows_to_table(rows: Sequence[Row], *, string_fields: Sequence[str] = (), schema=None):
    """An Arrow table of output rows: fixed types for the output columns and `string_fields`,
    the `schema`'s where given, Arrow's inference for the rest.

    RAISES (ValueError): A column's values do not fit one type (names the column).
    """
    import pyarrow as pa

    fixed = {**output_types(), **{name: pa.string() for name in string_fields}}
    if schema is not None:
        fixed.update({field.name: field.type for field in schema})
        extra = [name for name in _column_names(rows) if schema.get_field_index(name) < 0]
        if extra:
            raise ValueError(
                f"column {extra[0]!r} first appears after the first {ROW_GROUP_ROWS:,} rows; "
                "Parquet needs every column from the start: write JSON Lines (OUTPUT.jsonl)"
            )
        names = list(schema.names)
    else:
        names = _column_names(rows)
    arrays = []
    for name in names:
        values = [row.get(name) for row in rows]
        try:
            arrays.append(pa.array(values, type=fixed.get(name)))
        except (pa.ArrowException, TypeError, ValueError) as err:
            raise ValueError(
                f"column {name!r} holds values of more than one type ({err}); Parquet needs one "
                "type per column: clean the column or write JSON Lines (OUTPUT.jsonl)"
            ) from None
    return pa.Table.from_arrays(arrays, names=names)


def table_to_rows(table) -> List[Row]:
    """Rows of an Arrow table, with map columns (`cats`) as dicts, as the local engine has them."""
    import pyarrow as pa

    rows = table.to_pylist()
    maps = [f.name for f in table.schema if pa.types.is_map(f.type)]
    for row in rows:
        for name in maps:
            if row[name] is not None:
                row[name] = dict(row[name])
    return rows


class RowWriter:
    """Writes rows to an open temporary file in one format; see `open_output`."""

    def __init__(self, path: Path, kind: str, string_fields: Sequence[str]):
        self.path = path
        self.kind = kind
        self.string_fields = tuple(string_fields)
        self.rows_written = 0
        self._pending: List[Row] = []
        self._parquet = None
        self._schema = None  # the Parquet file's, fixed by its first row group
        self._jsonl = path.open("w", encoding="utf8") if kind == "jsonl" else None

    def write(self, rows: Sequence[Row]) -> None:
        """Add rows (a Parquet row group is written every ROW_GROUP_ROWS rows)."""
        if self._jsonl is not None:
            for row in rows:
                self._jsonl.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
            self.rows_written += len(rows)
            return
        self._pending.extend(rows)
        while len(self._pending) >= ROW_GROUP_ROWS:
            self._flush(self._pending[:ROW_GROUP_ROWS])
            self._pending = self._pending[ROW_GROUP_ROWS:]

    def close(self) -> None:
        """Write what is pending and close the file, synced to disk."""
        if self._jsonl is not None:
            self._jsonl.flush()
            os.fsync(self._jsonl.fileno())
            self._jsonl.close()
            return
        if self._pending or self._parquet is None:
            self._flush(self._pending)
            self._pending = []
        self._parquet.close()
        with self.path.open("rb") as file_:
            os.fsync(file_.fileno())

    def abort(self) -> None:
        """Close the file without writing what is pending (it is about to be deleted)."""
        for handle in (self._jsonl, self._parquet):
            if handle is not None:
                handle.close()

    def _flush(self, rows: Sequence[Row]) -> None:
        import pyarrow.parquet

        table = rows_to_table(rows, string_fields=self.string_fields, schema=self._schema)
        if self._parquet is None:
            if not table.column_names:  # no rows at all: the output columns still exist
                table = rows_to_table([dict.fromkeys(OUTPUT_COLUMNS)]).slice(0, 0)
            self._schema = table.schema
            self._parquet = pyarrow.parquet.ParquetWriter(self.path, table.schema)
        self._parquet.write_table(table)
        self.rows_written += table.num_rows


@contextmanager
def open_output(
    path: Union[str, Path],
    kind: str,
    *,
    overwrite: bool = False,
    string_fields: Sequence[str] = ("text", "question"),
) -> Iterator[RowWriter]:
    """A RowWriter whose file becomes `path` when the block ends without an exception.

    path (Union[str, Path]): OUTPUT.
    kind (str): "parquet" or "jsonl".
    overwrite (bool): Replace an existing OUTPUT (only once the new one is complete).
    string_fields (Sequence[str]): Columns written as strings in Parquet (text, question).
    RAISES (FileExistsError): OUTPUT exists and `overwrite` is False.
    """
    path = Path(path)
    check_output(path, overwrite=overwrite)
    with temporary_sibling(path) as tmp_path:
        writer = RowWriter(tmp_path, kind, string_fields)
        try:
            yield writer
        except BaseException:
            writer.abort()
            raise
        writer.close()
        check_output(path, overwrite=overwrite)  # created meanwhile by another run?


def check_output(path: Union[str, Path], *, overwrite: bool) -> None:
    """RAISES (FileExistsError): OUTPUT exists (and is not to be replaced, or is a folder)."""
    path = Path(path)
    if path.is_dir():
        raise FileExistsError(f"{path} is a folder: OUTPUT must be a file path")
    if path.exists() and not overwrite:
        raise FileExistsError(
            f"{path} exists: pass --overwrite to replace it (only once the new output is complete)"
        )


def _column_names(rows: Sequence[Row]) -> List[str]:
    # Input columns first, in first-seen order; output columns last.
    names: Dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(k for k in row if k not in OUTPUT_COLUMNS))
    return list(names) + list(OUTPUT_COLUMNS)
