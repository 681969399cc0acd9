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
The pages it returns are faulted in afresh by the next step (trimming before every step made
training 19% slower), so v2 trims every 10 steps by default: about 2% (a trimmed step faults
~350 MB in again), and what a large batch leaves resident lasts 10 steps at most.

In bf16 training a second cause adds memory that is *in use*: oneDNN's caches of compiled
kernels, one per batch shape; v2 caps them (kernel_caches.py). Generated configs use v2.
"""

from typing import Any, Callable, Dict, Optional

from spacy.language import Language
from spacy.util import registry

from ..encoder import heap
from .kernel_caches import limit_kernel_caches

BeforeUpdate = Callable[[Language, Dict[str, Any]], None]


def release_freed_memory() -> bool:
    """Return the free pages of malloc's heaps to the OS. RETURNS (bool): Whether glibc did."""
    return heap.trim()


@registry.callbacks("spacy-bert-tasks.release_freed_memory.v1")
def make_release_freed_memory(every_n_steps: int = 1) -> BeforeUpdate:
    """A `[training.before_update]` callback: malloc_trim before every `every_n_steps`-th step.

    Before step N the previous step's activations and gradients are freed: trimming there
    returns them. Trimming before every step costs speed (each step page-faults its
    activations afresh; see bench/README.md). v2 also caps oneDNN's kernel caches.
    every_n_steps (int): Trim before every this many steps (>= 1).
    """
    return make_release_freed_memory_v2(every_n_steps, onednn_cache_capacity=None)


@registry.callbacks("spacy-bert-tasks.release_freed_memory.v2")
def make_release_freed_memory_v2(
    every_n_steps: Optional[int] = 10, onednn_cache_capacity: Optional[int] = 64
) -> BeforeUpdate:
    """A `[training.before_update]` callback that keeps training's resident memory flat.

    The two causes of growth (docs/benchmarks.md, "Training memory: flat by default"): freed
    activations kept by malloc's heaps, which `malloc_trim` before every `every_n_steps`-th step
    returns to the OS; and in bf16, oneDNN's kernel caches, capped at `onednn_cache_capacity`
    kernels when this callback is built (process-wide, before the pipeline is initialized:
    kernel_caches.py).
    every_n_steps (Optional[int]): Trim before every this many steps (>= 1); None: never.
    onednn_cache_capacity (Optional[int]): Kernels per oneDNN cache (>= 1); None: leave the
        caches at oneDNN's defaults (1,024 each).
    """
    if every_n_steps is not None and every_n_steps < 1:
        raise ValueError(
            f"every_n_steps must be >= 1, got {every_n_steps}; set it to null to never trim."
        )
    if onednn_cache_capacity is not None:
        limit_kernel_caches(onednn_cache_capacity)

    def before_update(nlp: Language, args: Dict[str, Any]) -> None:
        if every_n_steps is not None and args["step"] % every_n_steps == 0:
            release_freed_memory()

    return before_update
