"""Keep a long-running process at its warm-up size: large blocks go back to the OS when freed.

A long `nlp.pipe` run allocates and frees activations of a different size at every batch. glibc
serves blocks above its mmap threshold (128 KiB at start) from their own mappings, which go back
to the OS when freed, but each time such a block is freed it raises the threshold to that
block's size, so soon every activation lives in the heap, and freed heap memory stays with the
process, fragmented. With MiniLM, 50,000 short docs through all three heads grew resident
memory by 12.5% after warm-up (17,500 docs: 1,052 to 1,184 MB), with no more live objects: the
tiny test encoder, whose activations stay below the threshold, did not grow at all.

Fixing the threshold at its initial value (what MALLOC_MMAP_THRESHOLD_=131072 does, also
turning off the adjustment) kept the same run flat (+0.35% after warm-up) and 40% smaller
(549 MB vs 1,052 MB after warm-up); trimming the heap before each batch (malloc_trim) instead
was only 8% smaller. But training with that threshold was 47% slower (60 sample steps: 98 s vs
67 s): every large block of the backward pass costs fresh page faults. So the encoder fixes it
low when it predicts and high (glibc's own ceiling) when it trains. The setting is
process-wide, and glibc-only: elsewhere this does nothing.

Prediction pays for it too, less: NER+textcat on 2 cores ran at 0.74x the speed without it on
long texts and 0.75x on short ones (bench/heap_speed.py), the same page faults on every fresh
activation. A threshold in between does not buy both: at 1 or 4 MiB prediction was as slow as
at 128 KiB (long texts 2,822 and 2,804 vs 2,819 words/s), and at 16 MiB, fast again (3,310), the
soak crept as without the fix (+6.4% from 5,000 to 12,500 docs, at 1,050 MB instead of about
560). Keeping memory flat without the page faults is open work.
"""
import ctypes
import sys
from typing import Callable, Optional

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
PREDICTION_MMAP_THRESHOLD = 128 * 1024  # glibc's initial value, which it would otherwise raise
TRAINING_MMAP_THRESHOLD = 32 * 1024 * 1024  # the highest glibc itself raises it to (64-bit)


def _find_mallopt() -> Optional[Callable[[int, int], int]]:
    if not sys.platform.startswith("linux"):
        return None
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl)
        return None
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return mallopt


_MALLOPT = _find_mallopt()
_current: Optional[int] = None


def set_mmap_threshold(nbytes: int) -> bool:
    """Fix glibc's mmap threshold at `nbytes` (and stop it from adjusting it).

    RETURNS (bool): Whether the threshold is now `nbytes` (False off glibc).
    """
    global _current
    if _MALLOPT is None:
        return False
    if _current != nbytes:
        if _MALLOPT(M_MMAP_THRESHOLD, nbytes) != 1:
            return False
        _current = nbytes
    return True
