"""Annotating a batch of rows: validate each row, run `nlp.pipe`, turn docs into columns.

The same `BatchAnnotator` runs in the local engine and inside every Ray actor, so both engines
give the same output for the same rows.
"""

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

from spacy.language import Language
from spacy.tokens import Doc

from ..qa.extensions import install_qa_extensions
from .columns import Row, doc_columns, error_columns, is_missing
from .inputs import BadRow

ModelLike = Union[str, Path, Language]


def load_pipeline(
    model: ModelLike, *, gpu: bool = False, config: Optional[Dict[str, Any]] = None
) -> Language:
    """A pipeline by path or installed package name (or one already loaded, returned as is).

    model (Union[str, Path, Language]): What `spacy.load` takes, or a Language.
    gpu (bool): Call `spacy.require_gpu()` first (fails when no GPU is visible).
    config (Optional[Dict[str, Any]]): Settings that override the pipeline's config.cfg, as
        `spacy.load` takes them: {"components.transformer.inference_graph": "compiled"}.
    RETURNS (Language): The pipeline, with the QA Doc extensions registered.
    """
    import spacy

    install_qa_extensions()
    if isinstance(model, Language):
        if config:
            raise ValueError(
                "config overrides apply when a pipeline is loaded; this one is already loaded"
            )
        return model
    if gpu:
        spacy.require_gpu()
    return spacy.load(model, config=config or {})


def pin_torch_threads(n_threads: Optional[int]) -> None:
    """torch's intra-op thread count for this process (None: leave torch's choice alone)."""
    if n_threads is None:
        return
    import torch

    torch.set_num_threads(n_threads)


class BatchAnnotator:
    """Turns input rows into output rows (input columns + the columns of columns.py).

    nlp (Language): The pipeline.
    text_field (str): The column holding the text.
    question_field (str): The column holding an optional question (ignored if absent).
    """

    def __init__(
        self, nlp: Language, *, text_field: str = "text", question_field: str = "question"
    ):
        self.nlp = nlp
        self.text_field = text_field
        self.question_field = question_field

    def __call__(self, rows: Sequence[Row]) -> List[Row]:
        """Annotate a batch. Never raises for a bad row: its `error` column says what is wrong.

        rows (Sequence[Dict[str, Any]]): Input rows (dicts of column to value).
        RETURNS (List[Dict[str, Any]]): One output row per input row, in the same order.
        """
        out: List[Optional[Row]] = [None] * len(rows)
        docs: List[Doc] = []
        positions: List[int] = []
        for i, row in enumerate(rows):
            doc_or_error = self.make_doc(row)
            if isinstance(doc_or_error, str):
                out[i] = self.error_row(row, doc_or_error)
            else:
                docs.append(doc_or_error)
                positions.append(i)
        for i, columns in zip(positions, self._process(docs)):
            out[i] = {**rows[i], **columns}
        return out  # type: ignore[return-value]

    def error_row(self, row: Row, message: str) -> Row:
        """The output row of a row that cannot be processed."""
        return {**self._typed_fields(row), **error_columns(message)}

    def _typed_fields(self, row: Row) -> Row:
        """The row with a non-string text or question replaced by None (the error names its
        type), so that the text and question columns keep one type, as Parquet needs."""
        if not isinstance(row, dict):
            return {}
        row = dict(row)
        for field in (self.text_field, self.question_field):
            if field in row and not is_missing(row[field]) and not isinstance(row[field], str):
                row[field] = None
        return row

    def make_doc(self, row: Row) -> Union[Doc, str]:
        """A doc for the row (question set), or why there can be none."""
        if isinstance(row, BadRow):
            return str(row)
        if not isinstance(row, dict):
            return f"bad row: expected an object of columns, got {type(row).__name__}"
        text = row.get(self.text_field)
        if is_missing(text):
            return f"missing text: no value in column {self.text_field!r}"
        if not isinstance(text, str):
            return f"bad text: expected a string in column {self.text_field!r}, got {type(text).__name__}"
        if len(text) > self.nlp.max_length:
            return (
                f"text too long: {len(text):,} characters, over nlp.max_length "
                f"{self.nlp.max_length:,}; split the text, or raise nlp.max_length if memory allows"
            )
        question = row.get(self.question_field)
        if not is_missing(question):
            if not isinstance(question, str):
                return (
                    f"bad question: expected a string in column {self.question_field!r}, "
                    f"got {type(question).__name__}"
                )
            if not question.strip():
                return f"bad question: empty string in column {self.question_field!r}"
        doc = self.nlp.make_doc(text)
        # Without a QA component nothing reads the question: its answer columns stay None
        # (the run's summary counts such rows).
        doc._.question = None if is_missing(question) else question
        return doc

    def _process(self, docs: List[Doc]) -> List[Row]:
        """Output columns per doc. If the batch fails, docs run one by one, so one doc that
        breaks a component costs that row only (its error names the exception)."""
        if not docs:
            return []
        try:
            processed = list(self.nlp.pipe(docs, batch_size=len(docs)))
        except Exception:
            return [self._process_one(doc) for doc in docs]
        return [doc_columns(doc, asked=doc._.question is not None) for doc in processed]

    def _process_one(self, doc: Doc) -> Row:
        question = doc._.question
        try:
            doc = self.nlp(doc)
        except Exception as err:  # one doc: the message is the row's, the run goes on
            return error_columns(f"pipeline failed: {type(err).__name__}: {err}")
        return doc_columns(doc, asked=question is not None)
