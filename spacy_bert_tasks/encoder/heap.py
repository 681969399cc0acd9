"""Keep a long-running process at its warm-up size without slowing prediction down.

A long `nlp.pipe` run allocates and frees activations of a different size at every batch. glibc
serves blocks above its mmap threshold (128 KiB at start) from their own mappings, which go back
to the OS when freed, but each time such a block is freed it raises the threshold to that
block's size, so soon every activation lives in the heap, and freed heap memory stays with the
process, fragmented. With MiniLM, 50,000 short docs through all three heads grew resident
memory by 12.5% after warm-up (17,500 docs: 1,052 to 1,184 MB), with no more live objects.

The encoder's `release_heap` setting chooses what to do about it:

- "trim" (the default, also what `true` means): before a prediction batch, when resident memory
  has grown past the process's level by more than GROWTH_BEFORE_TRIM of it
  (MIN_GROWTH_BEFORE_TRIM at least), call `malloc_trim(0)`, which hands every whole free page
  back to the OS (also in the middle of the heap and in the threads' arenas). The level is the
  highest resident size of the SETTLE_CHECKS checks after loading: the batches' working set. A
  trim leaves it alone; it rises only to growth a trim cannot hand back: memory in use (glibc
  holds less than the allowance free), or a working set that outgrew it (the process grew past
  it again within SETTLE_CHECKS checks of a trim). So batches keep their working set resident
  between trims instead of faulting it back in each time. glibc's free bytes alone cannot say
  when to trim, since they still count the pages a trim handed back (the chunks stay free in
  the heap): trimming whenever glibc held 64 MiB free (the rule before), after the int8 copy
  was built 600 MB of them made every batch trim and the next fault its working set back in,
  about 300,000 page faults per pass of 300 SQuAD questions. Memory freed in bulk is the other
  reason to trim: loading, and building an inference copy (`copy_built`: int8 frees the fp32
  copy it quantized), so the first check after either trims if glibc holds more than
  MIN_GROWTH_BEFORE_TRIM free, and the level is measured anew. Resident size (/proc) is read
  once CHECK_EVERY_TOKENS tokens were predicted since the last check: every batch of a
  `nlp.pipe` run, every few hundred calls of `nlp(text)`; glibc is asked how much is free (a
  walk over its free chunks, milliseconds in a fragmented heap) only when memory has grown.
  Nothing process-wide is *set*: a trim is a one-off call, so there is nothing to restore and no
  other pipeline inherits anything. Prediction runs at about the speed of "off"
  (bench/heap_speed.py).
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
import os
import sys
from typing import Optional, Tuple, Union

logger = logging.getLogger(__name__)

MODES = ("trim", "mmap", "off")
M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
PREDICTION_MMAP_THRESHOLD = 128 * 1024  # glibc's initial value, which it would otherwise raise
TRAINING_MMAP_THRESHOLD = 32 * 1024 * 1024  # the highest glibc itself raises it to (64-bit)
# Trimming costs page faults when the trimmed memory is needed again, so "trim" waits until
# resident memory has grown this much past the level (see above); small next to the 50,000-doc
# soak's 5% bound, which its samples use most of by themselves.
GROWTH_BEFORE_TRIM = 0.02
MIN_GROWTH_BEFORE_TRIM = 8 * 1024 * 1024
# Checks whose highest resident size sets the level: batches differ in size (QA's windows, long
# and short texts), so one batch would set it too low. Also how soon after a trim growth means
# the working set needs more, not that the trim is due again.
SETTLE_CHECKS = 4
CHECK_EVERY_TOKENS = 4096
STATM = "/proc/self/statm"  # Linux: sizes in pages; the second is the resident size


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
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_current: Optional[int] = None  # the threshold this module set, None if it never set one
_tokens_since_check = 0
# Checks since the last trim; None until the first check, and again after a copy was built.
_checks_since_trim: Optional[int] = None
_settle_left = 0  # checks still setting the level
_level = 0  # resident bytes the process keeps without trimming (plus the allowance)


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


def resident_bytes() -> Optional[int]:
    """The process's resident size in bytes; None where /proc cannot say (not Linux)."""
    try:
        with open(STATM, "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE_SIZE
    except (OSError, IndexError, ValueError):
        return None


def trim_if_grown() -> bool:
    """Give glibc's free pages back to the OS if resident memory has grown past the process's
    level (the module docstring says when and why).

    RETURNS (bool): Whether it trimmed.
    """
    global _checks_since_trim, _settle_left, _level
    rss = resident_bytes() if _LIBC is not None else None
    if rss is None:
        return False
    if _checks_since_trim is None:  # after loading or building a copy: hand back what it freed
        _checks_since_trim, _settle_left, _level = 0, SETTLE_CHECKS, 0
        return free_heap_bytes() > MIN_GROWTH_BEFORE_TRIM and trim()
    _checks_since_trim += 1
    if _settle_left:
        _settle_left -= 1
        _level = max(_level, rss)
        return False
    allowance = max(MIN_GROWTH_BEFORE_TRIM, int(GROWTH_BEFORE_TRIM * _level))
    if rss <= _level + allowance:
        return False
    if _checks_since_trim <= SETTLE_CHECKS or free_heap_bytes() <= allowance:
        _level = rss  # a working set that outgrew the level, or memory in use: keep it
        return False
    _checks_since_trim = 0
    return trim()


def copy_built() -> None:
    """An inference copy of the encoder was just built: what converting freed (the fp32 copy
    int8 quantizes, say) is handed back at the next check (trim_if_grown)."""
    global _checks_since_trim
    _checks_since_trim = None


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
            trim_if_grown()


def before_training(release_heap: Union[bool, str]) -> None:
    """Training keeps large blocks in the heap (fast) whatever the setting: undo "mmap"."""
    check_mode(release_heap)
    restore()
