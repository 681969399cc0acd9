"""The skeleton every benchmark script runs on: shared options, one order of steps, one output.

A script states its own options and two functions, and the harness does the rest:

    parser = cli.benchmark_parser(__doc__, smoke="a few texts: checks that it runs")
    parser.add_argument("--n-texts", ...)                  # the script's own options
    cli.run(parser.parse_args(), measure, render)          # measure(args) -> dict; render(dict)

Every script so gets `--threads` (torch, OpenMP and BLAS threads, the same for every system it
compares), `--json FILE` (every number it measured) and, where it has a small size, `--smoke`.
`run` pins the threads before numpy and torch load, measures, prints the report (tables, as
Markdown) and writes the JSON that `bench/report.py` reads. `python bench/run.py NAME ...` runs
any script by name; `python bench/report.py` runs them all and writes docs/benchmarks.md.
"""

import argparse
import os
from pathlib import Path
from typing import Any, Callable, Dict, Optional

from . import common

Report = Dict[str, Any]
# `bert_transformer`'s inference_graph values: spacy_bert_tasks/encoder/compiled.py's GRAPHS,
# not imported from there because it imports torch, which must load after `run` pins threads.
INFERENCE_GRAPHS = ("eager", "packed", "compiled")


def benchmark_parser(
    doc: Optional[str], *, smoke: Optional[str] = None, threads: Optional[int] = None
) -> argparse.ArgumentParser:
    """An argument parser with the options every benchmark shares.

    doc (Optional[str]): The script's docstring; its first line describes the script.
    smoke (Optional[str]): What `--smoke` does in this script; None: the script has no smoke size.
    threads (Optional[int]): The default of --threads (by default every core).
    RETURNS (argparse.ArgumentParser): Add the script's own options, then parse.
    """
    parser = argparse.ArgumentParser(
        description=(doc or "").strip().split("\n")[0],
        epilog="Shared options: see bench/harness/cli.py.",
    )
    parser.add_argument(
        "--threads",
        type=common.positive_int,
        default=threads or os.cpu_count() or 1,
        help="torch, OpenMP and BLAS threads, the same for every system",
    )
    parser.add_argument("--json", type=Path, help="write every number here")
    if smoke is not None:
        parser.add_argument("--smoke", action="store_true", help=smoke)
    return parser


def add_graph_option(
    parser: argparse.ArgumentParser, flag: str, help: str, default: str = "packed"
) -> None:
    """An option choosing an inference_graph (INFERENCE_GRAPHS); by default the encoder's own
    default, "packed"."""
    parser.add_argument(flag, choices=INFERENCE_GRAPHS, default=default, help=help)


def run(
    args: argparse.Namespace,
    measure: Callable[[argparse.Namespace], Report],
    render: Callable[[Report], None],
) -> Report:
    """Pin the threads, measure, print the report, write its JSON (--json).

    RETURNS (Dict[str, Any]): The report.
    """
    common.pin_threads(args.threads)  # before numpy / torch load
    report = measure(args)
    render(report)
    if args.json:
        common.write_json(args.json, report)
    return report


def headline(report: Report, details: str) -> str:
    """A printed report's first line: library versions, threads, then what ran (`details`)."""
    versions = report["versions"]
    libraries = ("torch", "transformers", "spacy", "spacy-transformers")
    found = ", ".join(f"{name} {versions[name]}" for name in libraries if name in versions)
    return f"{found}; {report['threads']} threads; {details}\n"


def arguments(args: argparse.Namespace) -> Dict[str, Any]:
    """The parsed options as JSON values (paths as strings), for a report's "args"."""
    return {
        key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()
    }
