"""Give the memory a training step freed back to the OS, so resident memory stays flat.

While training, the encoder fixes glibc's mmap threshold at its 32 MiB ceiling (encoder/heap.py:
a low threshold made training 47% slower, every large block page-faulting afresh). Below that
size, activations and gradients come from malloc's heaps, one per thread that allocates (torch's
intra-op threads have their own), and a heap only shrinks from its top: memory freed below a
live block stays resident. Steps of varying shapes (padded batches, QA windows) then leave the
heaps ever more fragmented and resident memory climbs step after step.

`malloc_trim(0)` hands every whole free page of every heap back to the OS (madvise), without
moving live blocks. Run after a step, when the step's activations are freed, it keeps resident
memory at the size of one step while keeping the fast threshold. glibc only: elsewhere a no-op.
"""

from typing import Any, Callable, Dict

from spacy.language import Language
from spacy.util import registry

from ..encoder import heap


def release_freed_memory() -> bool:
    """Return the free pages of malloc's heaps to the OS. RETURNS (bool): Whether glibc did."""
    return heap.trim()


@registry.callbacks("spacy-bert-tasks.release_freed_memory.v1")
def make_release_freed_memory(every_n_steps: int = 1) -> Callable[[Language, Dict[str, Any]], None]:
    """A `[training.before_update]` callback: malloc_trim before every `every_n_steps`-th step.

    Before step N the previous step's activations and gradients are freed: trimming there
    returns them. Costs a walk over the heaps' free lists (milliseconds; see bench/README.md).
    every_n_steps (int): Trim before every this many steps (>= 1).
    """
    if every_n_steps < 1:
        raise ValueError(f"every_n_steps must be >= 1, got {every_n_steps}.")

    def before_update(nlp: Language, args: Dict[str, Any]) -> None:
        if args["step"] % every_n_steps == 0:
            release_freed_memory()

    return before_update
