"""The local engine: rows in, annotated rows out, in order, in this process."""
from typing import Iterable, Iterator, Optional

from .columns import Row
from .process import BatchAnnotator, ModelLike, load_pipeline, pin_torch_threads

DEFAULT_BATCH_SIZE = 256


def annotate_rows(
    rows: Iterable[Row],
    model: ModelLike,
    *,
    text_field: str = "text",
    question_field: str = "question",
    batch_size: int = DEFAULT_BATCH_SIZE,
    n_threads: Optional[int] = None,
    gpu: bool = False,
) -> Iterator[Row]:
    """Annotate rows with a pipeline, lazily and in order: one output row per input row.

    rows (Iterable[Dict[str, Any]]): Dicts of column to value; `text_field` holds the text and
        the optional `question_field` a question for the QA head.
    model (Union[str, Path, Language]): A pipeline folder, an installed package name, or a
        loaded pipeline.
    batch_size (int): Rows per `nlp.pipe` call.
    n_threads (Optional[int]): torch's thread count for this process (None: unchanged).
    gpu (bool): Run the pipeline on the GPU (`spacy.require_gpu()` before loading).
    YIELDS (Dict[str, Any]): The row's columns plus ents, cats, the answer columns and
        error (see annotate/columns.py). A bad row is yielded with its `error` set.
    """
    from spacy.util import minibatch

    if batch_size < 1:
        raise ValueError(f"expected batch_size >= 1, got {batch_size}")
    pin_torch_threads(n_threads)
    nlp = load_pipeline(model, gpu=gpu)
    annotate = BatchAnnotator(nlp, text_field=text_field, question_field=question_field)
    for batch in minibatch(rows, batch_size):
        yield from annotate(batch)
