"""What `release_heap` costs in prediction speed: NER+textcat words/s with it on and off.

The setting is process-wide (glibc's mmap threshold), so each setting runs in its own fresh
interpreter, alternately (on, off, on, off...) so that a slow spell of the machine hits both.
Each child builds the NER+textcat pipeline (as pipe_speed.py), warms up, and times `nlp.pipe`
over long texts (SQuAD slices) and short ones (CoNLL sentences), best of --passes.

Usage: python bench/heap_speed.py [--rounds 2] [--passes 2] [--threads N] [--json OUT]
       python bench/heap_speed.py --smoke
"""
import argparse
import gc
import json
import os
import subprocess
import sys
import time
from typing import Dict, List

from harness import cli, common

SETTINGS = ("on", "off")


def parse_args() -> argparse.Namespace:
    parser = cli.benchmark_parser(__doc__, smoke="tiny sizes: checks that it runs")
    parser.add_argument("--rounds", type=common.positive_int, default=2, help="children per setting")
    parser.add_argument("--passes", type=common.positive_int, default=2, help="timed passes per child")
    parser.add_argument("--n-long", type=common.positive_int, default=10, help="texts of --long-words")
    parser.add_argument("--long-words", type=common.positive_int, default=2000)
    parser.add_argument("--n-short", type=common.positive_int, default=1500, help="CoNLL sentences")
    parser.add_argument("--child", choices=SETTINGS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.passes, args.n_long, args.long_words, args.n_short = 1, 1, 2, 200, 40
    return args


def child(args) -> Dict[str, float]:
    """Words/s of each text set, with release_heap set as asked; printed as JSON."""
    from harness import texts as bench_texts

    common.pin_threads(args.threads)
    nlp = common.build_spacy_pipeline(["ner", "textcat"], release_heap=args.child == "on")
    found = {}
    sets = {"long": bench_texts.long_texts(args.n_long, args.long_words),
            "short": bench_texts.conll_sentences(args.n_short)}
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
    runs: Dict[str, List[Dict[str, float]]] = {setting: [] for setting in SETTINGS}
    sizes = ["--passes", args.passes, "--n-long", args.n_long, "--long-words", args.long_words,
             "--n-short", args.n_short, "--threads", args.threads]
    for _ in range(args.rounds):
        for setting in SETTINGS:
            out = subprocess.run([sys.executable, __file__, *map(str, sizes), "--child", setting],
                                 capture_output=True, text=True, check=True,
                                 env=dict(os.environ, HF_HUB_OFFLINE="1"))
            runs[setting].append(json.loads(out.stdout.strip().splitlines()[-1]))
    best = {s: {k: max(r[k] for r in runs[s]) for k in ("long", "short")} for s in SETTINGS}
    rows = [[f"{name} texts", f"{best['on'][name]:,.0f}", f"{best['off'][name]:,.0f}",
             f"{best['on'][name] / best['off'][name]:.2f}x"] for name in ("long", "short")]
    print(f"{args.threads} threads; {args.n_long} texts of {args.long_words} words, "
          f"{args.n_short} CoNLL sentences; best of {args.rounds} processes x {args.passes} passes")
    print(common.markdown_table(["texts", "release_heap on (words/s)", "off (words/s)", "on / off"], rows))
    if args.json:
        common.write_json(args.json, {"runs": runs, "best": best, "threads": args.threads})


if __name__ == "__main__":
    main()
