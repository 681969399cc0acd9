"""What each `release_heap` mode costs in prediction speed: NER+textcat words/s per mode.

Modes: the encoder's "mmap" (the default before issue 15), "trim" (the default now) and "off";
"jemalloc": "off" in a process started with LD_PRELOAD=libjemalloc.so.2 (Debian libjemalloc2;
skipped with a note when it is not installed); "glibc-keep": "off" in a process started with
GLIBC_KEEP_ENV, glibc's own variables that make it keep what is freed (mmap threshold fixed at
its 32 MiB ceiling, the heap's top never handed back): no page faults once warm, and no bound on
the heap either (run bench/memory_soak.py under the same variables to see what it holds).
"baseline" runs another checkout of this package (--baseline-root, e.g. a `git worktree` of an
older commit) with that checkout's own defaults, so that today's default can be compared with an
earlier one in one run. Malloc settings are process-wide, so each mode runs in its own fresh
interpreter, alternately (mmap, trim, off, ..., mmap, trim, ...) so that a slow spell of the
machine hits all. Each child builds the NER+textcat pipeline (as pipe_speed.py), warms up, and
times `nlp.pipe` over long texts (SQuAD slices) and short ones (CoNLL sentences), best of
--passes. Ratios are to the first mode.

Usage: python bench/heap_speed.py [--modes mmap,trim,off,jemalloc,glibc-keep] [--rounds 2]
       [--passes 2] [--threads N] [--json OUT]
       python bench/heap_speed.py --modes baseline,trim --baseline-root ../old-checkout
       python bench/heap_speed.py --smoke
"""

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

from harness import cli, common

MODES = ("mmap", "trim", "off", "jemalloc", "glibc-keep", "baseline")
# glibc reads these at start-up (a process you start yourself). Setting either turns off glibc's
# adjustment of its thresholds, so both are given: blocks up to 32 MiB come from the heap (where
# the adjustment ends up anyway), and free() never hands the heap's top back (4 GiB).
GLIBC_KEEP_ENV = {"MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "4294967296"}


def find_jemalloc() -> Optional[str]:
    """The path of libjemalloc.so.2 if the dynamic linker knows it, else None."""
    import ctypes.util

    name = ctypes.util.find_library("jemalloc")
    if name is None:
        return None
    for folder in (
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/usr/lib",
        "/usr/local/lib",
    ):
        if Path(folder, name).exists():
            return str(Path(folder, name))
    return name


def parse_args() -> argparse.Namespace:
    parser = cli.benchmark_parser(__doc__, smoke="tiny sizes: checks that it runs")
    parser.add_argument(
        "--modes", default="mmap,trim,off,jemalloc", help="comma-separated, first is the reference"
    )
    parser.add_argument(
        "--rounds", type=common.positive_int, default=2, help="children per setting"
    )
    parser.add_argument(
        "--passes", type=common.positive_int, default=2, help="timed passes per child"
    )
    parser.add_argument(
        "--n-long", type=common.positive_int, default=10, help="texts of --long-words"
    )
    parser.add_argument("--long-words", type=common.positive_int, default=2000)
    parser.add_argument("--n-short", type=common.positive_int, default=1500, help="CoNLL sentences")
    parser.add_argument(
        "--baseline-root", type=Path, help='for mode "baseline": the other checkout\'s root'
    )
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.modes = args.modes.split(",")
    if set(args.modes) - set(MODES):
        parser.error(f"--modes: choose from {', '.join(MODES)}")
    root = args.baseline_root
    if "baseline" in args.modes and not (root and (root / "spacy_bert_tasks").is_dir()):
        parser.error("--modes baseline: give --baseline-root, a checkout of this repository")
    if args.smoke:
        args.rounds, args.passes, args.n_long, args.long_words, args.n_short = 1, 1, 2, 200, 40
    return args


def child(args) -> Dict[str, float]:
    """Words/s of each text set, in the mode asked; printed as JSON."""
    from harness import texts as bench_texts

    common.pin_threads(args.threads)
    # "baseline": the other checkout's own default (None leaves the factory's setting).
    release_heap = {"jemalloc": "off", "glibc-keep": "off", "baseline": None}.get(
        args.child, args.child
    )
    nlp = common.build_spacy_pipeline(["ner", "textcat"], release_heap=release_heap)
    found = {}
    sets = {
        "long": bench_texts.long_texts(args.n_long, args.long_words),
        "short": bench_texts.conll_sentences(args.n_short),
    }
    for name, texts in sets.items():
        words = common.count_words(texts)
        list(nlp.pipe(texts[:3]))  # warm-up: thread pools, first allocations
        rates = []
        for _ in range(args.passes):
            gc.collect()
            start = time.perf_counter()
            sum(1 for _ in nlp.pipe(texts, batch_size=1000))
            rates.append(words / (time.perf_counter() - start))
        found[name] = max(rates)
    return found


def main() -> None:
    args = parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return
    jemalloc = find_jemalloc()
    modes = [m for m in args.modes if m != "jemalloc" or jemalloc]
    runs: Dict[str, List[Dict[str, float]]] = {mode: [] for mode in modes}
    sizes = [
        "--passes",
        args.passes,
        "--n-long",
        args.n_long,
        "--long-words",
        args.long_words,
        "--n-short",
        args.n_short,
        "--threads",
        args.threads,
    ]
    for _ in range(args.rounds):
        for mode in modes:
            # The child imports this checkout's package, as the parent does from its root,
            # or the baseline checkout's.
            root = str(Path(__file__).resolve().parents[1])
            if mode == "baseline":
                root = str(args.baseline_root.resolve())
            env = dict(
                os.environ,
                HF_HUB_OFFLINE="1",
                PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]),
            )
            if mode == "jemalloc":
                env["LD_PRELOAD"] = jemalloc
            if mode == "glibc-keep":
                env.update(GLIBC_KEEP_ENV)
            out = subprocess.run(
                [sys.executable, __file__, *map(str, sizes), "--child", mode],
                capture_output=True,
                text=True,
                env=env,
            )
            if out.returncode:
                sys.exit(f"the {mode} child failed:\n{out.stderr[-3000:]}")
            runs[mode].append(json.loads(out.stdout.strip().splitlines()[-1]))
    best = {m: {k: max(r[k] for r in runs[m]) for k in ("long", "short")} for m in modes}
    base = modes[0]
    rows = [
        [mode]
        + [
            f"{best[mode][name]:,.0f} ({best[mode][name] / best[base][name]:.2f}x)"
            for name in ("long", "short")
        ]
        for mode in modes
    ]
    print(
        f"{args.threads} threads; {args.n_long} texts of {args.long_words} words, "
        f"{args.n_short} CoNLL sentences; best of {args.rounds} processes x {args.passes} passes; "
        f"ratios to {base}"
        + (
            ""
            if jemalloc or "jemalloc" not in args.modes
            else "; jemalloc skipped: libjemalloc.so.2 not found"
        )
    )
    print(
        common.markdown_table(["release_heap", "long texts words/s", "short texts words/s"], rows)
    )
    if args.json:
        common.write_json(
            args.json, {"runs": runs, "best": best, "threads": args.threads, "jemalloc": jemalloc}
        )


if __name__ == "__main__":
    main()
