"""Training budgets: steps sized from the corpus, and evaluations that always score the last step.

`spacy train` evaluates at every step divisible by `eval_frequency` and stops after step
`max_steps`: when `eval_frequency` does not divide `max_steps`, the last steps are never scored,
`model-best` can only be an earlier checkpoint, and `model-last/meta.json` shows the last
evaluated step's scores beside the last step's weights. `evaluation_schedule` picks the two so
that the last step is an evaluation. `steps_for_epochs` counts the batches that spaCy's
`batch_by_padded` (or batch_by_task, one task per batch) makes of a corpus, so that a budget can
be given in epochs.
"""

import math
from collections import defaultdict
from pathlib import Path
from typing import Dict, Iterable, List, NamedTuple, Union

# At most this many steps between evaluations, and at least this many evaluations per run.
MAX_EVAL_SPACING = 200
MIN_EVALUATIONS = 4


class Schedule(NamedTuple):
    max_steps: int
    eval_frequency: int


def evaluation_schedule(max_steps: int) -> Schedule:
    """`max_steps`, rounded up to a multiple of an evaluation spacing of at most 200 steps.

    At least 4 evaluations, up to twice as many where one count divides max_steps; otherwise
    max_steps grows by fewer steps than there are evaluations (901 -> 905, 5 of 181 steps).
    max_steps (int): The steps asked for (>= 1).
    RETURNS (Schedule): max_steps and eval_frequency, eval_frequency dividing max_steps.
    """
    if max_steps < 1:
        raise ValueError(f"max_steps must be >= 1, got {max_steps}.")
    evaluations = max(MIN_EVALUATIONS, math.ceil(max_steps / MAX_EVAL_SPACING))
    # Up to twice as many evaluations, where that keeps max_steps as asked (50: 5 of 10 steps).
    for more in range(evaluations, 2 * evaluations + 1):
        if max_steps % more == 0:
            return Schedule(max_steps=max_steps, eval_frequency=max_steps // more)
    spacing = max(1, math.ceil(max_steps / evaluations))
    return Schedule(max_steps=spacing * math.ceil(max_steps / spacing), eval_frequency=spacing)


def corpus_files(path: Union[str, Path]) -> List[Path]:
    """The .spacy files that spaCy's Corpus reads for `path` (a file, or a folder's, recursively)."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(
            f"Expected a .spacy file or a folder of them at {path}, found none."
        )
    files = sorted(p for p in path.rglob("*.spacy") if p.is_file())
    if not files:
        raise FileNotFoundError(f"Expected .spacy files in {path}, found none.")
    return files


def doc_lengths(path: Union[str, Path]) -> Dict[str, List[int]]:
    """Tokens per doc of a training corpus (what the batchers measure), by the task(s) each doc
    trains (batcher.doc_task)."""
    from spacy.tokens import DocBin
    from spacy.vocab import Vocab

    from ..qa.extensions import install_qa_extensions
    from .batcher import doc_task

    install_qa_extensions()  # QA docs' questions read back only once registered
    vocab = Vocab()
    lengths: Dict[str, List[int]] = defaultdict(list)
    for file in corpus_files(path):
        for doc in DocBin().from_disk(file).get_docs(vocab):
            lengths[doc_task(doc)].append(len(doc))
    return dict(lengths)


def count_padded_batches(lengths: Iterable[int], *, size: int, buffer: int = 256) -> int:
    """Batches spacy.batch_by_padded.v1 makes of docs of these lengths (in file order; shuffled
    orders differ by a few batches per thousand)."""
    from spacy.training.batchers import minibatch_by_padded_size

    # spaCy measures items with len(): a range of each length stands in for the doc.
    batches = minibatch_by_padded_size(
        [range(n) for n in lengths], size, buffer=buffer, discard_oversize=False
    )
    return sum(1 for _ in batches)


def steps_for_epochs(
    path: Union[str, Path], epochs: float, *, batch_size: int, by_task: bool = False
) -> int:
    """Steps for `epochs` passes over the corpus at `path` with padded batches of `batch_size`.

    path (Union[str, Path]): A .spacy file or a folder of them (as --paths.train).
    epochs (float): Passes over the corpus (> 0; fractions allowed).
    batch_size (int): Padded spaCy tokens per batch.
    by_task (bool): Batches hold one task each (batch_by_task.v1 with "corpus" shares), so each
        task's docs are batched apart; otherwise all docs together (batch_by_padded.v1).
    RETURNS (int): At least 1.
    """
    if epochs <= 0:
        raise ValueError(f"epochs must be > 0, got {epochs}.")
    by_group = doc_lengths(path)
    if not by_group:
        raise ValueError(f"{path}: the training corpus holds no docs.")
    groups = list(by_group.values()) if by_task else [sum(by_group.values(), [])]
    per_epoch = sum(count_padded_batches(lengths, size=batch_size) for lengths in groups)
    return max(1, math.ceil(epochs * per_epoch))
