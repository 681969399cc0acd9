"""bench/heap_speed.py: the baseline mode's options, and a smoke run against a checkout (slow)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import heap_speed
import pytest

ROOT = Path(__file__).resolve().parents[2]


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
