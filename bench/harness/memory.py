"""Resident memory of this process: now, and the highest it reached during a stretch of code.

`resource.getrusage` gives only the peak since the process started, which hides the peak of a
later, smaller stage; `PeakRss` samples the current value in a thread instead. For a training
run: `Sampler` (resident memory through the run), `heap_stats` (malloc's heaps), `StepCosts`
(what a step cost besides wall time).
"""

import gc
import os
import resource
import threading
import time
from typing import Dict, Optional

from .common import peak_rss_mb


def rss_mb() -> float:
    """Resident memory now, in MB (Linux /proc/self/statm; elsewhere the peak so far)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            resident_pages = int(statm.read().split()[1])
    except OSError:
        return peak_rss_mb()
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class PeakRss:
    """`with PeakRss() as peak: ...`, then `peak.mb`: the highest resident memory sampled.

    interval (float): Seconds between samples; a spike shorter than this can be missed, so the
        figure is a lower bound (compare it with `peak_rss_mb()`, the process-lifetime peak).
    """

    def __init__(self, interval: float = 0.01):
        self.interval = interval
        self.mb = 0.0
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def __enter__(self) -> "PeakRss":
        self.mb = rss_mb()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.mb = max(self.mb, rss_mb())

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.mb = max(self.mb, rss_mb())


def heap_stats():
    """(MB in use, MB free inside the heaps, MB in mmapped blocks), or None off glibc."""
    from spacy_bert_tasks.encoder import heap

    usage = heap.heap_usage()
    return None if usage is None else tuple(n / 2**20 for n in usage)


class StepCosts:
    """What each step cost besides wall time: `start()` before it, `done()` after it.

    CPU seconds in user and in kernel mode (page faults, madvise), minor page faults,
    involuntary context switches (the cores taken by another process) and the seconds Python's
    garbage collector ran, from getrusage and gc.callbacks.
    """

    def __init__(self):
        self.gc_seconds, self._gc_start, self._before = 0.0, None, None
        self._gc_at_start = 0.0
        gc.callbacks.append(self._gc_phase)

    def _gc_phase(self, phase: str, info: Dict[str, int]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
        elif self._gc_start is not None:
            self.gc_seconds += time.perf_counter() - self._gc_start
            self._gc_start = None

    def start(self) -> None:
        self._before, self._gc_at_start = resource.getrusage(resource.RUSAGE_SELF), self.gc_seconds

    def done(self) -> Dict[str, float]:
        after, before = resource.getrusage(resource.RUSAGE_SELF), self._before
        return {
            "user_s": after.ru_utime - before.ru_utime,
            "system_s": after.ru_stime - before.ru_stime,
            "minor_faults": after.ru_minflt - before.ru_minflt,
            "involuntary_switches": after.ru_nivcsw - before.ru_nivcsw,
            "gc_s": self.gc_seconds - self._gc_at_start,
        }


class Sampler(threading.Thread):
    """Resident memory every `interval` seconds, with the step then running."""

    def __init__(self, interval: float):
        super().__init__(daemon=True)
        self.interval, self.step, self.samples, self.running = interval, -1, [], True
        self.start_time = time.perf_counter()

    def run(self) -> None:
        while self.running:
            self.samples.append((time.perf_counter() - self.start_time, self.step, rss_mb()))
            time.sleep(self.interval)
