"""The benchmark scripts live in bench/ (not a package), their helpers in bench/harness/: both are imported from bench/."""

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))
