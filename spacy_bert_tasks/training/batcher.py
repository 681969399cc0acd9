"""A batcher for joint training that decides how much of each epoch each task gets.

spaCy's `batch_by_padded` mixes a joint corpus as it comes: each task's share of the training is
its share of the padded tokens, so SQuAD's long contexts take most of every epoch and a small
textcat corpus is barely seen (docs/benchmarks.md: the joint model trails on SST-2). This
batcher groups an epoch's examples by task, known from each doc's annotation:

- "ner": entity annotation (`has_annotation("ENT_IOB")`), "textcat": gold cats,
  "qa": a question (`doc._.question`); a doc with several is its own group ("ner+textcat"),
  one with none is "unannotated";

gives each task a share of the epoch's padded tokens (`shares`):

- "corpus": its share of the tokens (what batch_by_padded gives, made explicit);
- "equal": the same for every task;
- "temperature": proportional to tokens ** (1 / temperature) (2.0: between the two, as
  multilingual BERT samples its languages);

and fills that share with the task's docs, shuffled, cycling through them again when its share
is larger than its corpus (a small task is repeated) or stopping early (a large one is
subsampled this epoch; the next epoch is a new shuffle). Each task's docs are batched by padded
size, as batch_by_padded does, so every batch holds one task; the batches of all tasks are
interleaved evenly. What each task received is counted in `exposure.EXPOSURE`, which the
training log reports.

It needs the epoch as a list, which `spacy train` passes when `max_epochs >= 0` (the default 0).
"""

import random
from collections import defaultdict
from typing import Callable, Dict, Iterable, Iterator, List, Optional

from spacy.tokens import Doc
from spacy.training import Example
from spacy.training.batchers import minibatch_by_padded_size
from spacy.util import registry

from .exposure import EXPOSURE

SHARES = ("corpus", "equal", "temperature")
Batcher = Callable[[Iterable[Example]], Iterator[List[Example]]]


def example_task(example: Example) -> str:
    """The task(s) an example trains, from its reference doc's annotation."""
    return doc_task(example.reference)


def doc_task(doc: Doc) -> str:
    """The task(s) a reference doc trains, from its annotation (see the module docstring)."""
    tasks = []
    if doc.has_annotation("ENT_IOB"):
        tasks.append("ner")
    if doc.cats:
        tasks.append("textcat")
    if doc.has_extension("question") and doc._.question:
        tasks.append("qa")
    return "+".join(tasks) or "unannotated"


def task_shares(tokens: Dict[str, int], shares: str, temperature: float) -> Dict[str, float]:
    """Each task's share (summing to 1) of the epoch's tokens."""
    if shares == "corpus":
        weights = {task: float(n) for task, n in tokens.items()}
    elif shares == "equal":
        weights = {task: 1.0 for task in tokens}
    else:
        weights = {task: float(n) ** (1.0 / temperature) for task, n in tokens.items()}
    total = sum(weights.values())
    return {task: weight / total for task, weight in weights.items()}


def draw(examples: List[Example], budget: float, rng: random.Random) -> List[Example]:
    """Examples in order until their tokens reach `budget` (at least one), reshuffled and
    repeated when the budget is larger than the list."""
    drawn: List[Example] = []
    tokens = 0
    pool = list(examples)
    while tokens < budget or not drawn:
        for eg in pool:
            drawn.append(eg)
            tokens += len(eg)
            if tokens >= budget:
                return drawn
        rng.shuffle(pool)
    return drawn


@registry.batchers("spacy-bert-tasks.batch_by_task.v1")
def configure_batch_by_task(
    size: int,
    *,
    shares: str = "corpus",
    temperature: float = 2.0,
    buffer: int = 256,
    discard_oversize: bool = False,
    seed: Optional[int] = None,
) -> Batcher:
    """Batches by padded size, one task per batch, each task's share of the epoch set by `shares`.

    size (int): Padded tokens per batch (as spacy.batch_by_padded.v1).
    shares (str): "corpus", "equal" or "temperature" (see the module docstring).
    temperature (float): For "temperature": > 0; 1 is "corpus", large tends to "equal".
    buffer (int): Docs sorted by length together before batching (as batch_by_padded).
    discard_oversize (bool): As batch_by_padded.
    seed (Optional[int]): Seed of the draws; None: Python's `random` (which spacy train seeds).
    """
    if shares not in SHARES:
        raise ValueError(f"shares must be one of {', '.join(SHARES)}, got {shares!r}.")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}.")

    def batcher(items: Iterable[Example]) -> Iterator[List[Example]]:
        rng = random.Random(seed) if seed is not None else random.Random(random.random())
        by_task: Dict[str, List[Example]] = defaultdict(list)
        for eg in items:
            by_task[example_task(eg)].append(eg)
        tokens = {task: sum(len(eg) for eg in egs) for task, egs in by_task.items()}
        epoch_tokens = sum(tokens.values())
        placed = []
        for task, share in task_shares(tokens, shares, temperature).items():
            drawn = draw(by_task[task], share * epoch_tokens, rng)
            batches = list(
                minibatch_by_padded_size(
                    drawn, size, buffer=buffer, discard_oversize=discard_oversize
                )
            )
            # Spread each task's batches evenly over the epoch, with jitter.
            placed.extend(
                ((i + rng.random()) / len(batches), task, b) for i, b in enumerate(batches)
            )
        placed.sort(key=lambda item: item[0])
        for _, task, batch in placed:
            EXPOSURE.add(task, batch)
            yield batch

    return batcher
