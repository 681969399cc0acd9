"""CoNLL-2003 / WNUT-17 column files to Docs with explicit entity annotation.

One token per line in whitespace-separated columns: the word first, the tag last,
anything between (POS, chunk) ignored. Blank lines end sentences; `-DOCSTART-` lines
end documents. Tags may be IOB1, IOB2, BILUO or BIOES.
"""

import re
from itertools import groupby, islice
from operator import itemgetter
from pathlib import Path
from typing import Iterator, List, Tuple

from spacy.tokens import Doc
from spacy.training import biluo_tags_to_spans, iob_to_biluo
from spacy.training.iob_utils import doc_to_biluo_tags
from spacy.vocab import Vocab

from .errors import ConversionError
from .io import ConversionReport, PathLike, blank_tokenizer, iter_lines, write_docbin

# O alone, or a scheme prefix, "-" and a non-empty label. IOB1/IOB2 use B and I;
# BILUO adds L and U, which BIOES spells E and S.
TAG_PATTERN = re.compile(r"O|[BILUES]-.+")
BIOES_TO_BILUO = {"E": "L", "S": "U"}
DOCSTART = "-DOCSTART-"
# Tags quoted in an error message before the rest is cut.
SHOWN_TAGS = 20

# One token of a sentence: (line number, word, tag).
Row = Tuple[int, str, str]


def read_conll(path: PathLike, *, lang: str = "en", n_sents: int = 1) -> Iterator[Doc]:
    """Read a CoNLL-style NER file into Docs.

    Every token of every Doc has entity annotation: tokens outside entities are O,
    so spaCy trains on "no entity here" instead of treating the tokens as missing.

    path (PathLike): The column file.
    lang (str): Language code for the blank vocab the Docs are built with.
    n_sents (int): How many consecutive sentences of one document go in one Doc.
        Sentences never merge across `-DOCSTART-`; each keeps its sentence start.
    RETURNS (Iterator[Doc]): The Docs, in file order, read as they are consumed.
    RAISES (ConversionError): The file is malformed (raised while iterating); the
        message names its line.
    """
    # Checked here, not in the generator below, so bad options fail at the call.
    if isinstance(n_sents, bool) or not isinstance(n_sents, int) or n_sents < 1:
        raise ValueError(
            f"expected n_sents to be an integer of 1 or more, got {n_sents!r}; pass e.g. n_sents=10"
        )
    return _read_docs(path, blank_tokenizer(lang).vocab, n_sents)


def convert_conll(
    path: PathLike, output_path: PathLike, *, lang: str = "en", n_sents: int = 1
) -> ConversionReport:
    """Convert a CoNLL-style NER file to a .spacy file (see `read_conll`).

    path (PathLike): The column file.
    output_path (PathLike): The .spacy file to write. Nothing is written if the input
        has an error, and an older file there is left as it was.
    lang (str): Language code for the blank vocab.
    n_sents (int): How many consecutive sentences of one document go in one Doc.
    RETURNS (ConversionReport): Docs written, sentences read, entities per label.
    RAISES (ConversionError): The file is malformed; the message names its line.
    """
    report = ConversionReport(Path(path), Path(output_path), unit="sentences", counted="entities")

    def counted(docs: Iterator[Doc]) -> Iterator[Doc]:
        for doc in docs:
            report.n_read += sum(1 for _ in doc.sents)
            report.label_counts.update(ent.label_ for ent in doc.ents)
            yield doc

    report.n_docs = write_docbin(counted(read_conll(path, lang=lang, n_sents=n_sents)), output_path)
    return report


def _read_docs(path: PathLike, vocab: Vocab, n_sents: int) -> Iterator[Doc]:
    n_docs = 0
    for _, document in groupby(_iter_sentences(path), key=itemgetter(0)):
        sentences = (sentence for _, sentence in document)
        while chunk := list(islice(sentences, n_sents)):
            docs = [_sentence_doc(path, vocab, sentence) for sentence in chunk]
            # from_docs keeps each part's entities and sentence start, and puts a
            # space between the parts.
            yield docs[0] if len(docs) == 1 else Doc.from_docs(docs)
            n_docs += 1
    if n_docs == 0:
        raise ConversionError(
            path,
            None,
            "expected at least one sentence (lines of `WORD ... TAG`, blank lines between "
            "sentences), got an empty file or only -DOCSTART- lines; check the path",
        )


def _iter_sentences(path: PathLike) -> Iterator[Tuple[int, List[Row]]]:
    """Yield (document number, sentence) pairs; a sentence is never empty."""
    document = 0
    sentence: List[Row] = []
    for number, line in iter_lines(path):
        columns = line.split()
        if not columns or columns[0] == DOCSTART:
            if sentence:
                yield document, sentence
                sentence = []
            document += bool(columns)
            continue
        if len(columns) < 2:
            raise ConversionError(
                path,
                number,
                f"expected at least two whitespace-separated columns (the word first, the "
                f"tag last), got {line.strip()!r}; add the tag, e.g. `{columns[0]} O`",
            )
        tag = columns[-1]
        if not TAG_PATTERN.fullmatch(tag):
            raise ConversionError(
                path,
                number,
                f"expected a tag like B-PER, I-PER or O in the last column (a prefix B, I, "
                f"L, U, E or S, then '-' and a label; or O alone), got {tag!r}; fix the tag",
            )
        sentence.append((number, columns[0], tag))
    if sentence:
        yield document, sentence


def _sentence_doc(path: PathLike, vocab: Vocab, sentence: List[Row]) -> Doc:
    """Build the Doc of one sentence, its entities set from the tags."""
    words = [word for _, word, _ in sentence]
    spaces = [True] * (len(words) - 1) + [False]
    sent_starts = [True] + [False] * (len(words) - 1)
    doc = Doc(vocab, words=words, spaces=spaces, sent_starts=sent_starts)
    tags = [tag for _, _, tag in sentence]
    if all(tag[0] in "BIO" for tag in tags):
        # IOB1 and IOB2 alike: iob_to_biluo starts an entity at a B, or at an I that
        # does not continue the entity before it (so IOB1 `I-PER I-PER B-PER` is two).
        # Its output is always a valid sequence. The ents setter marks every token
        # outside the spans as O.
        doc.ents = biluo_tags_to_spans(doc, iob_to_biluo(tags))
        return doc
    # A sentence with L, U, E or S is read as BILUO/BIOES. (A BILUO sentence with only
    # B and I tags is invalid BILUO; it is read as IOB instead.)
    biluo = [BIOES_TO_BILUO.get(tag[0], tag[0]) + tag[1:] for tag in tags]
    try:
        doc.ents = biluo_tags_to_spans(doc, biluo)
    except ValueError as err:  # an I or L with no B before it; overlapping entities
        raise _bad_sequence(path, sentence, str(err)) from None
    # biluo_tags_to_spans forgives a B never closed by an L, or a B and L with
    # different labels; a valid sequence is exactly the one its entities give back.
    if doc_to_biluo_tags(doc) != biluo:
        raise _bad_sequence(path, sentence, "each B must be closed by an L (E) of the same label")
    return doc


def _bad_sequence(path: PathLike, sentence: List[Row], detail: str) -> ConversionError:
    tags = [tag for _, _, tag in sentence]
    shown = " ".join(tags[:SHOWN_TAGS]) + (" ..." if len(tags) > SHOWN_TAGS else "")
    return ConversionError(
        path,
        sentence[0][0],
        f"expected the BILUO/BIOES tags of the sentence starting here to form whole "
        f"entities (U-X alone, or B-X, I-X..., L-X with one label), got {shown}; fix the "
        f"tags of this sentence. spaCy said: {detail}",
    )
