"""Pieces shared by the converters: UTF-8 lines, a blank tokenizer, atomic writes, the report."""

import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Iterable, Iterator, List, Optional, Tuple, Union

import spacy
from spacy.language import create_tokenizer
from spacy.tokenizer import Tokenizer
from spacy.tokens import Doc, DocBin
from spacy.util import get_lang_class
from spacy.vocab import create_vocab
from tqdm import tqdm

from ..atomic import write_bytes_atomically
from .errors import ConversionError

PathLike = Union[str, Path]
# How many skipped items the report names before it only counts them.
SHOWN_SKIPPED = 3
# Reading a file at least this large shows a progress bar (on a terminal, as spaCy's bars do).
PROGRESS_MIN_BYTES = 1 << 20


def progress_bar(path: PathLike, *, total: int, unit: str) -> tqdm:
    """A progress bar on stderr for reading `path`; off for small files and off a terminal.

    path (PathLike): The file being read (its size decides whether the bar shows).
    total (int): Units in the whole file.
    unit (str): What is counted: "B" (bytes) or e.g. "article".
    RETURNS (tqdm): Call `update(n)` as units are read; close it at the end.
    """
    small = Path(path).stat().st_size < PROGRESS_MIN_BYTES
    return tqdm(
        total=total,
        unit=unit,
        unit_scale=unit == "B",
        desc=f"reading {Path(path).name}",
        disable=True if small else None,  # None: only on a terminal
        leave=False,
        file=sys.stderr,
    )


def iter_lines(path: PathLike) -> Iterator[Tuple[int, str]]:
    """Yield the lines of a UTF-8 text file with their line numbers.

    path (PathLike): The file to read.
    YIELDS (Tuple[int, str]): The 1-based line number and the line. The line ending
        is kept: the csv module needs it to read quoted fields that span lines.
    RAISES (ConversionError): A line is not valid UTF-8.
    """
    # Binary mode splits on b"\n" only, so the numbers match what editors show,
    # and a decode error can name its line.
    with (
        Path(path).open("rb") as file_,
        progress_bar(path, total=Path(path).stat().st_size, unit="B") as bar,
    ):
        for number, raw in enumerate(file_, start=1):
            bar.update(len(raw))
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise ConversionError(
                    path,
                    number,
                    f"expected UTF-8 text, got the byte 0x{raw[err.start]:02x} at byte "
                    f"{err.start + 1} of the line; re-encode the file as UTF-8, e.g. "
                    f"`iconv -f latin1 -t utf-8 IN > OUT`",
                ) from None
            # A byte order mark is no part of the first word or header name.
            yield number, line.lstrip("\ufeff") if number == 1 else line


def blank_tokenizer(lang: str) -> Tokenizer:
    """The tokenizer of `spacy.blank(lang)`, with its vocab: what the converters make docs with.

    Built as spaCy's default tokenizer factory builds it, without a `Language`: creating one
    imports every installed spaCy component (entry points), so torch, transformers and this
    package's encoder, seconds that a conversion does not need. Languages whose default
    tokenizer is not spaCy's rule-based one (e.g. ja, zh) get `spacy.blank(lang).tokenizer`.

    lang (str): A spaCy language code, e.g. "en".
    RETURNS (Tokenizer): Call it on a text to get a Doc; `.vocab` is its vocab.
    RAISES (ValueError): spaCy has no such language.
    """
    try:
        lang_class = get_lang_class(lang)
        if lang_class.default_config["nlp"]["tokenizer"]["@tokenizers"] != "spacy.Tokenizer.v1":
            return spacy.blank(lang).tokenizer
    except ImportError as err:
        raise ValueError(
            f"expected a spaCy language code such as 'en', 'de' or 'xx' (multi-language), "
            f"got {lang!r}; pass one of the codes listed at https://spacy.io/usage/models#languages"
        ) from err
    defaults = lang_class.Defaults
    nlp_like = SimpleNamespace(vocab=create_vocab(lang, defaults), Defaults=defaults)
    return create_tokenizer()(nlp_like)


def write_docbin(
    docs: Iterable[Doc], output_path: PathLike, *, store_user_data: bool = False
) -> int:
    """Write docs to a .spacy file atomically.

    The docs are all read before the file is opened, so an error in the input leaves
    no output. The bytes go to a temporary file in the target's folder, are synced,
    and replace the target in one step: a reader never sees a half-written file, and
    a failed write leaves an older output untouched.

    docs (Iterable[Doc]): The docs to write.
    output_path (PathLike): The .spacy file to write. Missing folders are created.
    store_user_data (bool): Whether to keep `doc.user_data` (custom extensions).
    RETURNS (int): The number of docs written.
    """
    doc_bin = DocBin(docs=docs, store_user_data=store_user_data)
    write_bytes_atomically(output_path, doc_bin.to_bytes())
    return len(doc_bin)


@dataclass
class ConversionReport:
    """What a conversion read and wrote; `str(report)` is a short summary.

    input_path (Path): The file read.
    output_path (Optional[Path]): The .spacy file written, if any.
    unit (str): What `n_read` counts: "sentences" or "records".
    counted (str): What `label_counts` counts: "entities" or "docs".
    n_read (int): Sentences or records read.
    n_docs (int): Docs written.
    label_counts (Counter[str]): Entities per entity label, or docs per positive label.
    skipped (List[Tuple[str, str]]): (where, why) for each input item that gave no doc.
    warnings (List[str]): Things that look wrong in data that was converted all the same.
    """

    input_path: Path
    output_path: Optional[Path] = None
    unit: str = "sentences"
    counted: str = "entities"
    n_read: int = 0
    n_docs: int = 0
    label_counts: Counter[str] = field(default_factory=Counter)
    skipped: List[Tuple[str, str]] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)

    def __str__(self) -> str:
        target = f" to {self.output_path}" if self.output_path is not None else ""
        lines = [
            f"Wrote {self.n_docs:,} docs{target} from {self.n_read:,} {self.unit} in {self.input_path}."
        ]
        if self.label_counts:
            counts = ", ".join(f"{label} {n:,}" for label, n in sorted(self.label_counts.items()))
            lines.append(f"{self.counted.capitalize()} per label: {counts}.")
        else:
            lines.append(f"No {self.counted} with a label.")
        if self.skipped:
            shown = "; ".join(f"{where} ({why})" for where, why in self.skipped[:SHOWN_SKIPPED])
            more = len(self.skipped) - SHOWN_SKIPPED
            lines.append(
                f"Skipped {len(self.skipped):,}: {shown}"
                + (f" and {more:,} more." if more > 0 else ".")
            )
        lines.extend(f"WARNING: {warning}" for warning in self.warnings)
        return "\n".join(lines)
