"""Resident memory of this process: now, and the highest it reached during a stretch of code.

`resource.getrusage` gives only the peak since the process started, which hides the peak of a
later, smaller stage; `PeakRss` samples the current value in a thread instead.
"""

import os
import threading
from typing import Optional

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
