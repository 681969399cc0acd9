"""The benchmark harness: every script on bench/harness/cli.py, one entry point, no tests/ import."""

import ast
import json
import subprocess
import sys
from pathlib import Path

from harness import cli

BENCH = Path(__file__).resolve().parents[2] / "bench"
# Scripts that are not benchmarks: the report and its page, the entry point, the data splits.
NOT_BENCHMARKS = {"report", "report_md", "report_plots", "run", "squad_split", "sst2_split"}


def scripts():
    return sorted(p for p in BENCH.glob("*.py") if p.stem not in NOT_BENCHMARKS)


def imported_modules(path: Path):
    tree = ast.parse(path.read_text(encoding="utf8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


# Parent-and-child or pass/fail scripts write their JSON themselves; the others run on cli.run.
OWN_STEPS = {"heap_speed", "peak_rss", "long_input", "memory_soak"}


def test_every_benchmark_is_built_on_the_harness():
    for path in scripts():
        source = path.read_text(encoding="utf8")
        assert "cli.benchmark_parser(" in source, path.name
        assert "cli.run(" in source or path.stem in OWN_STEPS, path.name


def test_bench_never_imports_from_tests():
    test_modules = {p.stem for p in (BENCH.parent / "tests").rglob("*.py")}
    for path in list(BENCH.glob("*.py")) + list((BENCH / "harness").glob("*.py")):
        source = path.read_text(encoding="utf8")
        assert "tests" not in {
            part for line in source.splitlines() if "sys.path" in line for part in line.split("/")
        }
        assert not set(imported_modules(path)) & (test_modules - {"__init__"}), path.name


def test_run_lists_and_runs_a_benchmark():
    listed = subprocess.run(
        [sys.executable, str(BENCH / "run.py"), "--list"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert {p.stem for p in scripts()} <= set(
        line.split()[0] for line in listed.splitlines()[2:] if line.strip()
    )
    helped = subprocess.run(
        [sys.executable, str(BENCH / "run.py"), "qa_speed", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "--threads" in helped and "--json" in helped and "--n-questions" in helped
    unknown = subprocess.run(
        [sys.executable, str(BENCH / "run.py"), "nope"], capture_output=True, text=True
    )
    assert unknown.returncode != 0 and "no benchmark 'nope'" in unknown.stderr


def test_run_pins_threads_measures_renders_and_writes_json(tmp_path, capsys, monkeypatch):
    pinned = []
    monkeypatch.setattr(cli.common, "pin_threads", pinned.append)
    parser = cli.benchmark_parser("A test benchmark.\n\nMore.", smoke="tiny")
    args = parser.parse_args(["--threads", "3", "--json", str(tmp_path / "out.json"), "--smoke"])
    report = cli.run(args, lambda args: {"threads": args.threads, "smoke": args.smoke}, print)
    assert pinned == [3] and report == {"threads": 3, "smoke": True}
    assert json.loads((tmp_path / "out.json").read_text()) == report
    assert "{'threads': 3, 'smoke': True}" in capsys.readouterr().out
    assert parser.description == "A test benchmark."


def test_the_graph_options_offer_the_encoders_graphs():
    from spacy_bert_tasks.encoder.compiled import GRAPHS

    assert cli.INFERENCE_GRAPHS == GRAPHS
