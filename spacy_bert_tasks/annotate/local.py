"""The local engine: rows in, annotated rows out, in order, in this process (or in
`n_process` forked worker processes, through spaCy's `nlp.pipe(n_process=...)`)."""

import sys
from collections import deque
from contextlib import contextmanager
from typing import Any, Deque, Dict, Iterable, Iterator, Optional, Tuple

from spacy.language import Language

from .columns import Row, doc_columns
from .process import BatchAnnotator, ModelLike, load_pipeline, pin_torch_threads

DEFAULT_BATCH_SIZE = 256
# Where a doc carries its row's position through the worker processes (Doc.user_data).
ROW_KEY = "spacy_bert_tasks.annotate.row"
WORKER_FAILURE = (
    "pipeline failed: a component raised on this row's batch in a worker process "
    "(its error is on stderr; --workers 1 isolates the row)"
)


def annotate_rows(
    rows: Iterable[Row],
    model: ModelLike,
    *,
    text_field: str = "text",
    question_field: str = "question",
    batch_size: int = DEFAULT_BATCH_SIZE,
    n_threads: Optional[int] = None,
    gpu: bool = False,
    n_process: int = 1,
    config: Optional[Dict[str, Any]] = None,
) -> Iterator[Row]:
    """Annotate rows with a pipeline, lazily and in order: one output row per input row.

    rows (Iterable[Dict[str, Any]]): Dicts of column to value; `text_field` holds the text and
        the optional `question_field` a question for the QA head.
    model (Union[str, Path, Language]): A pipeline folder, an installed package name, or a
        loaded pipeline.
    batch_size (int): Rows per `nlp.pipe` call.
    n_threads (Optional[int]): torch's thread count for this process (None: unchanged).
    gpu (bool): Run the pipeline on the GPU (`spacy.require_gpu()` before loading).
    n_process (int): Worker processes (`nlp.pipe(n_process=...)`, forked: one torch thread
        each). A component that raises fails its whole batch there (spaCy drops the batch),
        where one process fails only the row.
    config (Optional[Dict[str, Any]]): Overrides of the pipeline's config.cfg settings, applied
        when `model` is loaded (load_pipeline).
    YIELDS (Dict[str, Any]): The row's columns plus ents, cats, the answer columns and
        error (see annotate/columns.py). A bad row is yielded with its `error` set.
    """
    from spacy.util import minibatch

    if batch_size < 1 or n_process < 1:
        raise ValueError(
            f"expected batch_size and n_process >= 1, got {batch_size} and {n_process}"
        )
    pin_torch_threads(n_threads)
    nlp = load_pipeline(model, gpu=gpu, config=config)
    annotate = BatchAnnotator(nlp, text_field=text_field, question_field=question_field)
    if n_process > 1:
        yield from _annotate_in_processes(
            rows, annotate, batch_size=batch_size, n_process=n_process
        )
        return
    for batch in minibatch(rows, batch_size):
        yield from annotate(batch)


def _annotate_in_processes(
    rows: Iterable[Row], annotate: BatchAnnotator, *, batch_size: int, n_process: int
) -> Iterator[Row]:
    """One `nlp.pipe(n_process=...)` over the whole stream; bad rows never reach it and are
    put back in their place. Docs come back in order, but spaCy drops the docs of a batch a
    component raised on: their rows are found missing by position and reported."""
    # (position, row, error or None) of every row read so far and not yet yielded.
    pending: Deque[Tuple[int, Row, Optional[str]]] = deque()

    def docs():
        for position, row in enumerate(rows):
            made = annotate.make_doc(row)
            if isinstance(made, str):
                pending.append((position, row, made))
                continue
            made.user_data[ROW_KEY] = position
            pending.append((position, row, None))
            yield made

    with _reporting_failed_batches(annotate.nlp):
        for doc in annotate.nlp.pipe(docs(), batch_size=batch_size, n_process=n_process):
            position = doc.user_data.pop(ROW_KEY)
            while pending[0][0] < position:
                _, row, error = pending.popleft()
                yield annotate.error_row(row, error or WORKER_FAILURE)
            _, row, _ = pending.popleft()
            yield {**row, **doc_columns(doc, asked=doc._.question is not None)}
    while pending:
        _, row, error = pending.popleft()
        yield annotate.error_row(row, error or WORKER_FAILURE)


@contextmanager
def _reporting_failed_batches(nlp: Language):
    """Components print their error and go on (spaCy's error handler) instead of ending the
    run; the pipeline's own handlers are put back afterwards."""
    saved = {
        name: proc.get_error_handler()
        for name, proc in nlp.pipeline
        if hasattr(proc, "get_error_handler")
    }
    saved_default = nlp.default_error_handler

    def report(name, proc, docs, err):
        print(
            f"annotate: component {name!r} failed on a batch of {len(docs)} docs: {err!r}",
            file=sys.stderr,
        )

    nlp.set_error_handler(report)
    try:
        yield
    finally:
        nlp.default_error_handler = saved_default
        for name, handler in saved.items():
            nlp.get_pipe(name).set_error_handler(handler)
