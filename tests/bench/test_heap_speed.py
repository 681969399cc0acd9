"""bench/heap_speed.py: the baseline mode's options, what the glibc-keep variables do, and a smoke
run against a checkout (slow)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import heap_speed
import pytest

ROOT = Path(__file__).resolve().parents[2]

# Allocates 48 blocks of 1 MiB straight from libc, touches and frees them, then prints how many
# bytes glibc holds free in its heaps (mallinfo2): kept there, or handed back to the OS.
HELD_AFTER_FREE = """
import ctypes
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
fields = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
          "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
class Mallinfo2(ctypes.Structure):
    _fields_ = fields
libc.mallinfo2.restype = Mallinfo2
blocks = [libc.malloc(1 << 20) for _ in range(48)]
for block in blocks:
    ctypes.memset(block, 1, 1 << 20)
for block in reversed(blocks):
    libc.free(block)
print(libc.mallinfo2().fordblks)
"""


def held_after_free(extra_env) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    done = subprocess.run(
        [sys.executable, "-c", HELD_AFTER_FREE],
        env={**env, **extra_env},
        capture_output=True,
        text=True,
    )
    if done.returncode:
        pytest.skip(f"not glibc >= 2.33 (no mallinfo2): {done.stderr[-300:]}")
    return int(done.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's variables")
def test_glibc_keep_variables_make_glibc_keep_what_is_freed():
    # Plain glibc maps 1 MiB blocks on their own (threshold 128 KiB at start) and unmaps them on
    # free; under GLIBC_KEEP_ENV they come from the heap, and the heap keeps them once freed.
    assert held_after_free({}) < 8 << 20
    assert held_after_free(heap_speed.GLIBC_KEEP_ENV) >= 48 << 20


def test_baseline_mode_needs_a_checkout(monkeypatch, tmp_path, capsys):
    for argv in (
        ["--modes", "baseline,trim"],
        ["--modes", "baseline", "--baseline-root", str(tmp_path)],
    ):
        monkeypatch.setattr(sys, "argv", ["heap_speed.py", *argv])
        with pytest.raises(SystemExit):
            heap_speed.parse_args()
        assert "--baseline-root" in capsys.readouterr().err
    monkeypatch.setattr(
        sys, "argv", ["heap_speed.py", "--modes", "baseline", "--baseline-root", str(ROOT)]
    )
    assert heap_speed.parse_args().baseline_root == ROOT


@pytest.mark.slow
def test_smoke_with_a_baseline_checkout(tmp_path):
    # This checkout as its own baseline: the baseline child runs with the factory's default.
    report = tmp_path / "heap.json"
    command = [sys.executable, "bench/heap_speed.py", "--smoke", "--modes", "baseline,trim"]
    command += ["--baseline-root", str(ROOT), "--threads", "1", "--json", str(report)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| baseline " in done.stdout and "ratios to baseline" in done.stdout
    best = json.loads(report.read_text())["best"]
    assert set(best) == {"baseline", "trim"}
    assert all(rate > 0 for mode in best.values() for rate in mode.values())
