"""What building a packed Linear's kernels by doubling costs: seconds and memory, once per process.

The packed graph pads each call's rows to one of 88 sizes and, the first time a call meets a
doubling (2^(k-1) to 2^k rows), has oneDNN build the kernels of every size in it by a matmul of
that many zero rows per size (spacy_bert_tasks/encoder/packed.py, `doubling_sizes`). This
times that build, doubling by doubling, for the four Linear weight shapes of a BERT layer
(Q/K/V fused, attention output, feed-forward in with its GELU, feed-forward out), at the sizes
of two encoders. Kernels depend on the shapes, not the weights, so random weights measure it.

For each doubling: the first call of its largest size (builds the doubling: its own kernels as
before, and the other sizes' matmuls), the same call again (nothing to build), and the memory in
use that the first call added (glibc's `mallinfo2`; the kernels). "First minus again" is what a
process pays once for that doubling, next to what that call always costs.

Usage: python bench/kernel_build.py [--encoders minilm,bert-base] [--max-rows 4096] [--threads N]
       [--json OUT]
       python bench/kernel_build.py --smoke
"""

import time
from typing import Any, Dict, List, Tuple

from harness import cli, common

# hidden size, feed-forward size
ENCODERS = {"minilm": (384, 1536), "bert-base": (768, 3072), "smoke": (12, 20)}


def layer_shapes(hidden: int, intermediate: int) -> List[Tuple[int, int, Any]]:
    """(in, out, GELU) of each packed Linear shape in a BERT layer (the pooler's is the second)."""
    return [
        (hidden, 3 * hidden, None),
        (hidden, hidden, None),
        (hidden, intermediate, "none"),
        (intermediate, hidden, None),
    ]


def doubling_tops(max_rows: int) -> List[int]:
    """1, 2, 4, ... up to `max_rows` (a power of two): the largest size of each doubling."""
    return [1 << k for k in range(max_rows.bit_length()) if 1 << k <= max_rows]


def measure_encoder(hidden: int, intermediate: int, max_rows: int) -> List[Dict[str, Any]]:
    import torch

    from spacy_bert_tasks.encoder import heap, packed

    torch.manual_seed(0)
    linears = [
        packed.PackedLinear(torch.nn.Linear(n_in, n_out), gelu=gelu)
        for n_in, n_out, gelu in layer_shapes(hidden, intermediate)
    ]

    def call_all(rows: int) -> float:
        start = time.perf_counter()
        for linear in linears:
            linear(torch.zeros(rows, linear.in_features))
        return time.perf_counter() - start

    found = []
    with torch.inference_mode():
        for top in doubling_tops(max_rows):
            usage = heap.heap_usage()
            first = call_all(top)
            added = heap.heap_usage()
            again = call_all(top)
            found.append(
                {
                    "rows": f"{top // 2 + 1}-{top}" if top > 2 else str(top),
                    "sizes": len(packed.doubling_sizes(top)),
                    "first_s": first,
                    "again_s": again,
                    "in_use_mb": None if usage is None else (added[0] - usage[0]) / 2**20,
                }
            )
    return found


def measure(args) -> Dict[str, Any]:
    encoders = {name: measure_encoder(*ENCODERS[name], args.max_rows) for name in args.encoders}
    return {
        "versions": common.versions(),
        "threads": args.threads,
        "args": cli.arguments(args),
        "encoders": encoders,
    }


def table(report: Dict[str, Any]) -> str:
    rows = []
    for name, doublings in report["encoders"].items():
        hidden, intermediate = ENCODERS[name]
        for d in doublings + [total(doublings)]:
            rows.append(
                [
                    f"{name} ({hidden}, {intermediate})",
                    d["rows"],
                    str(d["sizes"]),
                    f"{d['first_s']:.3f}",
                    f"{d['again_s']:.3f}",
                    f"{d['first_s'] - d['again_s']:+.3f}",
                    "-" if d["in_use_mb"] is None else f"{d['in_use_mb']:.1f}",
                ]
            )
    headers = ["encoder shapes", "rows", "sizes", "first call s", "again s", "once", "kernels MB"]
    return common.markdown_table(headers, rows, text_columns=(0, 1))


def total(doublings: List[Dict[str, Any]]) -> Dict[str, Any]:
    """The sum over every doubling: a process that meets them all."""
    mbs = [d["in_use_mb"] for d in doublings]
    return {
        "rows": "all",
        "sizes": sum(d["sizes"] for d in doublings),
        "first_s": sum(d["first_s"] for d in doublings),
        "again_s": sum(d["again_s"] for d in doublings),
        "in_use_mb": None if None in mbs else sum(mbs),
    }


def main() -> None:
    parser = cli.benchmark_parser(__doc__, smoke="tiny shapes, up to 64 rows: checks that it runs")
    parser.add_argument(
        "--encoders",
        type=lambda text: [name for name in text.split(",") if name],
        default=["minilm", "bert-base"],
        help=f"comma-separated, of {', '.join(ENCODERS)}",
    )
    parser.add_argument(
        "--max-rows",
        type=common.positive_int,
        default=4096,
        help="a power of two (the encoder's wordpieces per call: 4,096)",
    )
    args = parser.parse_args()
    if args.smoke:
        args.encoders, args.max_rows = ["smoke"], 64
    unknown = [name for name in args.encoders if name not in ENCODERS]
    if unknown or args.max_rows & (args.max_rows - 1):
        parser.error(f"unknown encoders {unknown}, or --max-rows not a power of two")

    def render(report: Dict[str, Any]) -> None:
        print(
            cli.headline(report, "each doubling's first call builds its sizes' kernels"),
            table(report),
            sep="\n",
        )

    cli.run(args, measure, render)


if __name__ == "__main__":
    main()
