"""Memory soak: 50,000 docs through `nlp.pipe` (all three heads), resident memory after warm-up.

A fixed pool of distinct texts is cycled, a share of the docs asking a question: once every text
has been seen (during the warm-up), spaCy's StringStore stops growing, so what still grows is a
leak, not vocabulary. Each output doc is checked (harness/checks.doc_problems) and dropped.
RSS is sampled every `--every` docs, after a garbage collection so that the samples show what is
kept, not when the collector last ran. Growth = (RSS at the end - RSS after warm-up) / RSS after
warm-up; exits 1 above `--max-growth` percent or when a doc fails its checks. Also printed, not
bounded: the least-squares trend of the samples from warm-up on (percent per 10,000 docs), which
one low sample (a trim just before it) moves far less than it moves the growth.

Usage: python bench/memory_soak.py [--n-docs 50000] [--n-texts 2000] [--warmup 5000]
       [--every 2500] [--question-share 0.2] [--batch-size 256] [--max-growth 5] [--threads N]
       [--release-heap trim|mmap|off] [--inference-graph eager|packed|compiled]
For jemalloc, start it as LD_PRELOAD=libjemalloc.so.2 python bench/memory_soak.py --release-heap off.
"""

import argparse
import gc
import os
import sys
import time
from typing import Iterator, List, Tuple

from harness import cli, common
from harness.memory import PeakRss, rss_mb


def parse_args() -> argparse.Namespace:
    parser = cli.benchmark_parser(__doc__)
    parser.add_argument("--n-docs", type=common.positive_int, default=50_000)
    parser.add_argument(
        "--n-texts", type=common.positive_int, default=2_000, help="distinct texts, cycled"
    )
    parser.add_argument(
        "--warmup", type=common.positive_int, default=5_000, help="docs before the start sample"
    )
    parser.add_argument(
        "--every", type=common.positive_int, default=2_500, help="docs between samples"
    )
    parser.add_argument(
        "--question-share", type=float, default=0.2, help="share of docs asking a question"
    )
    parser.add_argument("--batch-size", type=common.positive_int, default=256)
    parser.add_argument("--max-growth", type=float, default=5.0, help="percent")
    parser.add_argument(
        "--release-heap",
        choices=("trim", "mmap", "off"),
        default="trim",
        help="the encoder's release_heap mode (trim: the default)",
    )
    cli.add_graph_option(
        parser, "--inference-graph", "the encoder's inference_graph (packed: the default)"
    )
    args = parser.parse_args()
    if args.warmup >= args.n_docs or args.warmup < args.n_texts:
        parser.error("expected --n-texts <= --warmup < --n-docs: every text is seen in the warm-up")
    return args


def docs_stream(nlp, pairs: List[Tuple[str, str]], n_docs: int, question_share: float) -> Iterator:
    """`n_docs` fresh docs cycling over `pairs`; every 1/question_share-th one asks its question."""
    step = round(1 / question_share) if question_share > 0 else 0
    for i in range(n_docs):
        text, question = pairs[i % len(pairs)]
        doc = nlp.make_doc(text)
        if step and i % step == 0:
            doc._.question = question
        yield doc


def main() -> int:
    args = parse_args()
    common.pin_threads(args.threads)  # before numpy / torch load
    from harness import soak
    from harness.checks import doc_problems

    nlp, ner_labels, cat_labels = soak.three_head_pipeline(release_heap=args.release_heap)
    nlp.get_pipe("transformer").set_inference_graph(args.inference_graph)
    pairs = soak.short_texts(args.n_texts, seed=0)
    encoder = "embedded MiniLM-L6-H384"
    print(
        f"{encoder}, {args.threads} threads; {args.n_docs:,} docs cycling {len(pairs):,} texts, "
        f"question share {args.question_share}, batch size {args.batch_size}, release_heap "
        f"{args.release_heap}{' (jemalloc)' if 'jemalloc' in os.environ.get('LD_PRELOAD', '') else ''}, "
        f"inference_graph {args.inference_graph}; "
        f"RSS {rss_mb():,.0f} MB"
    )
    samples: List[Tuple[int, float, int]] = []  # (docs done, RSS MB, strings in the vocab)
    problems: List[str] = []
    n_entities = n_answered = 0
    start_time = time.perf_counter()
    stream = docs_stream(nlp, pairs, args.n_docs, args.question_share)
    with PeakRss(interval=0.05) as peak:
        for done, doc in enumerate(nlp.pipe(stream, batch_size=args.batch_size), start=1):
            problems += doc_problems(doc, ner_labels=ner_labels, cat_labels=cat_labels)
            n_entities += len(doc.ents)
            n_answered += len(doc.spans.get("answers", ())) > 0
            if done % args.every == 0 or done in (args.warmup, args.n_docs):
                gc.collect()
                samples.append((done, rss_mb(), len(nlp.vocab.strings)))
                print(
                    f"  {done:>7,} docs  RSS {samples[-1][1]:8,.1f} MB  strings {samples[-1][2]:,}  "
                    f"{time.perf_counter() - start_time:7,.0f} s",
                    flush=True,
                )
    start = next(rss for done, rss, _ in samples if done == args.warmup)
    end = samples[-1][1]
    growth = 100 * (end - start) / start
    highest = max(rss for done, rss, _ in samples if done >= args.warmup)
    # Informational: the bound stays on `growth`. A leak shows in the slope too.
    trend = soak.trend_percent([(done, rss) for done, rss, _ in samples if done >= args.warmup])
    print(
        f"\nafter warm-up ({args.warmup:,} docs): {start:,.1f} MB; end ({args.n_docs:,} docs): {end:,.1f} MB; "
        f"growth {growth:+.2f}% (highest sample after warm-up {highest:,.1f} MB, "
        f"{100 * (highest - start) / start:+.2f}%); peak RSS during the run {peak.mb:,.1f} MB, "
        f"process peak {common.peak_rss_mb():,.1f} MB\n"
        f"trend after warm-up (least squares over its samples): {trend:+.2f}% per 10,000 docs\n"
        f"{n_entities:,} entities, {n_answered:,} docs answered; "
        f"{time.perf_counter() - start_time:,.0f} s"
    )
    for problem in problems[:20]:
        print(f"FAIL: {problem}", file=sys.stderr)
    if args.json:
        common.write_json(
            args.json,
            {
                "threads": args.threads,
                "versions": common.versions(),
                "args": cli.arguments(args),
                "samples": [{"docs": d, "rss_mb": r, "strings": n} for d, r, n in samples],
                "growth_percent": growth,
                "trend_percent_per_10000_docs": trend,
                "peak_rss_mb": peak.mb,
                "entities": n_entities,
                "answered": n_answered,
                "problems": problems[:20],
            },
        )
    if growth > args.max_growth:
        print(
            f"FAIL: RSS grew {growth:.2f}% after warm-up (limit {args.max_growth}%)",
            file=sys.stderr,
        )
    return 1 if problems or growth > args.max_growth else 0


if __name__ == "__main__":
    sys.exit(main())
