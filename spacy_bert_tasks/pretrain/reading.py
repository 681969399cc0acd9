"""Raw text for pre-training: .txt, .jsonl, .spacy files, or a folder of them.

A document is a list of sentences when the source says where they end (a .txt in paragraph
layout has one sentence per line, as BERT's own pre-training files; a .spacy doc with sentence
boundaries), or one text otherwise. Only next-sentence prediction needs sentences; it splits the
other documents with spaCy's sentencizer.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

TXT_LAYOUTS = ("auto", "lines", "paragraphs")
SUFFIXES = (".txt", ".jsonl", ".spacy")


class RawTextError(ValueError):
    """Unreadable or unusable raw text; the message names the file (and line)."""


@dataclass
class RawDoc:
    """One document of raw text.

    text (str): The whole text (sentences joined by a space).
    sentences (Optional[List[str]]): Its sentences, when the source marks them.
    source (str): "FILE:LINE" (or "FILE#N" for the Nth doc of a .spacy file), for messages.
    """

    text: str
    sentences: Optional[List[str]]
    source: str


@dataclass
class RawCorpus:
    """The documents read, and what was left out and why (never dropped silently)."""

    docs: List[RawDoc] = field(default_factory=list)
    files: List[str] = field(default_factory=list)
    skipped_files: List[str] = field(default_factory=list)
    empty_docs: int = 0
    duplicate_docs: int = 0


def read_raw(path: Path, *, txt_layout: str = "auto", dedupe: bool = True) -> RawCorpus:
    """Read the documents of a file or a folder (recursively, in sorted order).

    path (Path): A .txt, .jsonl or .spacy file, or a folder holding such files.
    txt_layout (str): "lines" (one doc per line), "paragraphs" (docs separated by blank lines,
        one sentence per line) or "auto" (paragraphs when the file has a blank line between two
        non-blank ones, lines otherwise).
    dedupe (bool): Keep only the first of identical texts (e.g. a SQuAD context repeated for each
        of its questions), counted in `duplicate_docs`.
    RETURNS (RawCorpus): The documents, in file order.
    """
    if txt_layout not in TXT_LAYOUTS:
        raise RawTextError(f"expected a txt layout among {TXT_LAYOUTS}, got {txt_layout!r}")
    path = Path(path)
    if not path.exists():
        raise RawTextError(f"{path}: no such file or folder")
    corpus = RawCorpus()
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        corpus.skipped_files = [str(p) for p in files if p.suffix not in SUFFIXES]
        files = [p for p in files if p.suffix in SUFFIXES]
        if not files:
            raise RawTextError(
                f"{path}: expected .txt, .jsonl or .spacy files in the folder, found none"
            )
    elif path.suffix in SUFFIXES:
        files = [path]
    else:
        raise RawTextError(
            f"{path}: expected a .txt, .jsonl or .spacy file or a folder, got '{path.suffix}'"
        )
    seen = set()
    for file_path in files:
        corpus.files.append(str(file_path))
        for doc in _read_file(file_path, txt_layout):
            if not doc.text.strip():
                corpus.empty_docs += 1
            elif dedupe and doc.text in seen:
                corpus.duplicate_docs += 1
            else:
                seen.add(doc.text)
                corpus.docs.append(doc)
    return corpus


def _read_file(path: Path, txt_layout: str) -> Iterator[RawDoc]:
    if path.suffix == ".spacy":
        yield from _read_docbin(path)
        return
    lines = list(_utf8_lines(path))
    if path.suffix == ".jsonl":
        yield from _read_jsonl(path, lines)
    else:
        yield from _read_txt(path, lines, txt_layout)


def _utf8_lines(path: Path) -> Iterator[Tuple[int, str]]:
    with path.open("rb") as file_:
        for number, raw in enumerate(file_, start=1):
            try:
                yield number, raw.decode("utf8").rstrip("\r\n")
            except UnicodeDecodeError as err:
                raise RawTextError(
                    f"{path}:{number}: expected UTF-8 text, got bytes it cannot decode ({err.reason} at "
                    f"byte {err.start}); re-encode the file as UTF-8"
                ) from None


def _read_txt(path: Path, lines: List[Tuple[int, str]], txt_layout: str) -> Iterator[RawDoc]:
    if txt_layout == "auto":
        txt_layout = "paragraphs" if _has_paragraphs([line for _, line in lines]) else "lines"
    if txt_layout == "lines":
        for number, line in lines:
            yield RawDoc(line.strip(), None, f"{path}:{number}")
        return
    paragraph: List[str] = []
    start = 0
    for number, line in lines + [(len(lines) + 1, "")]:
        if line.strip():
            if not paragraph:
                start = number
            paragraph.append(line.strip())
        elif paragraph:
            yield RawDoc(" ".join(paragraph), paragraph, f"{path}:{start}")
            paragraph = []


def _has_paragraphs(lines: List[str]) -> bool:
    filled = [bool(line.strip()) for line in lines]
    first = filled.index(True) if True in filled else len(filled)
    last = len(filled) - filled[::-1].index(True) if True in filled else 0
    return not all(filled[first:last])


def _read_jsonl(path: Path, lines: List[Tuple[int, str]]) -> Iterator[RawDoc]:
    for number, line in lines:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise RawTextError(
                f"{path}:{number}: expected a JSON object per line, could not parse it ({err})"
            ) from None
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            found = sorted(record) if isinstance(record, dict) else type(record).__name__
            raise RawTextError(
                f'{path}:{number}: expected a JSON object with a "text" string, got {found}'
            )
        yield RawDoc(record["text"].strip(), None, f"{path}:{number}")


def _read_docbin(path: Path) -> Iterator[RawDoc]:
    import spacy
    from spacy.tokens import DocBin

    try:
        doc_bin = DocBin().from_bytes(path.read_bytes())
    except Exception as err:  # msgpack and zlib raise several types for damaged files
        raise RawTextError(
            f"{path}: expected a .spacy file (spaCy DocBin), could not read it ({err})"
        ) from None
    vocab = spacy.blank("xx").vocab
    for number, doc in enumerate(doc_bin.get_docs(vocab)):
        sentences = None
        if doc.has_annotation("SENT_START"):
            sentences = [sent.text.strip() for sent in doc.sents if sent.text.strip()]
        yield RawDoc(doc.text.strip(), sentences, f"{path}#{number}")


def split_sentences(docs: List[RawDoc]) -> None:
    """Give every doc without sentences its sentences, by spaCy's rule-based sentencizer."""
    import spacy

    todo = [doc for doc in docs if doc.sentences is None]
    if not todo:
        return
    nlp = spacy.blank("xx")
    nlp.add_pipe("sentencizer")
    for doc, parsed in zip(todo, nlp.pipe(doc.text for doc in todo)):
        doc.sentences = [sent.text.strip() for sent in parsed.sents if sent.text.strip()]
