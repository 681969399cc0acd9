"""Keep a long-running process at its warm-up size without slowing prediction down.

A long `nlp.pipe` run allocates and frees activations of a different size at every batch. glibc
serves blocks above its mmap threshold (128 KiB at start) from their own mappings, which go back
to the OS when freed, but each time such a block is freed it raises the threshold to that
block's size, so soon every activation lives in the heap, and freed heap memory stays with the
process, fragmented. With MiniLM, 50,000 short docs through all three heads grew resident
memory by 12.5% after warm-up (17,500 docs: 1,052 to 1,184 MB), with no more live objects.

The encoder's `release_heap` setting chooses what to do about it:

- "trim" (the default, also what `true` means): before a prediction batch, when the freed
  memory glibc holds exceeds TRIM_WHEN_FREE_EXCEEDS, call `malloc_trim(0)`, which hands every
  whole free page back to the OS (also in the middle of the heap and in the threads' arenas).
  Asking glibc how much is free walks every free chunk (milliseconds in a fragmented heap), so
  it is asked only once CHECK_EVERY_TOKENS tokens were predicted since it was last asked: every
  batch of a `nlp.pipe` run, every few hundred calls of `nlp(text)`.
  Nothing process-wide is *set*: it is a one-off call, so there is nothing to restore and no
  other pipeline inherits anything. Activations are reused from the heap within and between
  batches, so prediction runs at about the speed of "off" (bench/heap_speed.py), and the
  50,000-doc soak grew 4.9% after warm-up (+1.6% until its last sample: up to
  TRIM_WHEN_FREE_EXCEEDS may sit free between trims).
- "mmap": the previous default. While predicting, glibc's mmap threshold is fixed at 128 KiB
  (what MALLOC_MMAP_THRESHOLD_=131072 does), so every freed activation goes straight back to the
  OS: the smallest resident size, but every fresh activation page-faults (about 25% slower).
  The threshold is process-wide: it is logged when set, and put back (`restore`) as soon as a
  pipeline trains or predicts with another setting. glibc cannot turn its own adjustment back
  on, so "back" means its ceiling (32 MiB), where the adjustment ends up after the first large
  free anyway; training always runs there (the low threshold made training 47% slower).
- "off" (or `false`): leave malloc alone.

Off glibc (macOS, musl) every mode does nothing. For a process you start yourself, jemalloc
(`LD_PRELOAD=libjemalloc.so.2`) is another answer; see bench/README.md (heap_speed.py).
"""

import ctypes
import logging
import sys
from typing import Optional, Tuple, Union

logger = logging.getLogger(__name__)

MODES = ("trim", "mmap", "off")
M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
PREDICTION_MMAP_THRESHOLD = 128 * 1024  # glibc's initial value, which it would otherwise raise
TRAINING_MMAP_THRESHOLD = 32 * 1024 * 1024  # the highest glibc itself raises it to (64-bit)
# Trimming costs page faults when the trimmed memory is needed again, so "trim" waits until
# this much is free: one batch of short docs frees a few MiB, a batch of long ones tens.
TRIM_WHEN_FREE_EXCEEDS = 64 * 1024 * 1024
CHECK_EVERY_TOKENS = 4096


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _glibc() -> Optional[ctypes.CDLL]:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.mallopt.restype = ctypes.c_int
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        libc.malloc_trim.restype = ctypes.c_int
        libc.mallinfo2.restype = _Mallinfo2  # glibc >= 2.33
    except (OSError, AttributeError):  # not glibc (e.g. musl), or an older one
        return None
    return libc


_LIBC = _glibc()
_current: Optional[int] = None  # the threshold this module set, None if it never set one
_tokens_since_check = 0


def check_mode(release_heap: Union[bool, str]) -> str:
    """The mode a `release_heap` setting names: `true` is "trim", `false` is "off"."""
    if release_heap is True:
        return "trim"
    if release_heap is False:
        return "off"
    if release_heap not in MODES:
        raise ValueError(
            f"release_heap must be true, false or one of {', '.join(MODES)}, not {release_heap!r}"
        )
    return release_heap


def set_mmap_threshold(nbytes: int) -> bool:
    """Fix glibc's mmap threshold at `nbytes` (and stop it from adjusting it).

    RETURNS (bool): Whether the threshold is now `nbytes` (False off glibc).
    """
    global _current
    if _LIBC is None:
        return False
    if _current != nbytes:
        if _LIBC.mallopt(M_MMAP_THRESHOLD, nbytes) != 1:
            return False
        logger.info("release_heap: glibc mmap threshold fixed at %d bytes (process-wide)", nbytes)
        _current = nbytes
    return True


def mmap_threshold_set_here() -> Optional[int]:
    """The mmap threshold this module has fixed, or None if it has not touched it."""
    return _current


def restore() -> None:
    """Undo a low threshold set by "mmap": back to glibc's ceiling (see the module docstring)."""
    if _current is not None and _current != TRAINING_MMAP_THRESHOLD:
        set_mmap_threshold(TRAINING_MMAP_THRESHOLD)


def free_heap_bytes() -> int:
    """Bytes glibc holds free in its heaps (all arenas); 0 off glibc."""
    return 0 if _LIBC is None else _LIBC.mallinfo2().fordblks


def heap_usage() -> Optional[Tuple[int, int, int]]:
    """(bytes in use, bytes free inside the heaps, bytes in mmapped blocks); None off glibc."""
    if _LIBC is None:
        return None
    info = _LIBC.mallinfo2()
    return info.uordblks, info.fordblks, info.hblkhd


def trim() -> bool:
    """Hand every whole free page of glibc's heaps back to the OS (malloc_trim(0)).

    RETURNS (bool): Whether glibc did (False off glibc).
    """
    return _LIBC is not None and _LIBC.malloc_trim(0) >= 0


def trim_if_worth_it(min_free: int = TRIM_WHEN_FREE_EXCEEDS) -> bool:
    """Give glibc's free pages back to the OS if more than `min_free` bytes are free.

    RETURNS (bool): Whether it trimmed.
    """
    if _LIBC is None or free_heap_bytes() <= min_free:
        return False
    return trim()


def before_prediction(release_heap: Union[bool, str], n_tokens: int) -> None:
    """Apply a pipeline's `release_heap` setting before predicting on `n_tokens` tokens."""
    global _tokens_since_check
    mode = check_mode(release_heap)
    if mode == "mmap":
        set_mmap_threshold(PREDICTION_MMAP_THRESHOLD)
        return
    restore()  # a pipeline with another setting ran before in this process
    if mode == "trim":
        _tokens_since_check += n_tokens
        if _tokens_since_check >= CHECK_EVERY_TOKENS:
            _tokens_since_check = 0
            trim_if_worth_it()


def before_training(release_heap: Union[bool, str]) -> None:
    """Training keeps large blocks in the heap (fast) whatever the setting: undo "mmap"."""
    check_mode(release_heap)
    restore()
