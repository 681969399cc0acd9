"""The encoder's achieved FLOP rate inside `nlp.pipe`, as a share of this machine's matmul peak.

The NER+textcat pipeline runs over short texts (CoNLL sentences) and long ones (N-word slices
of SQuAD contexts). Hooks on the encoder's torch module record every forward call: the shape of
each padded batch, each window's real length, and the time spent inside. The FLOPs of a BERT
forward follow from its config (see `layer_flops`); two counts are kept:

- useful: over each window's real wordpieces (what the texts need);
- executed: over the padded batch shapes (what torch actually multiplies).

The peak is the best rate of `torch.mm` on large square fp32 matrices, in this process, with the
same threads; also measured: torch.mm at the encoder's own feed-forward shape, a ceiling that
small matrices can reach. The headline is useful FLOPs / wall time of the whole `nlp.pipe` pass
(tokenizing, windowing, heads and all), as a share of the peak.

A third row passes CoNLL sentences one per call (`batch_size=1`, as many services call a
pipeline): each matmul then has as many rows as one sentence has wordpieces, and a third peak,
torch.mm at the feed-forward shape of one 32-wordpiece window, shows what such thin matrices
can reach on this machine.

--inference-graph sets the encoder's graph: packed (the default, as the encoder's: Linear
weights packed once for oneDNN, spacy_bert_tasks/encoder/packed.py), eager (the module as is) or
compiled (torch.compile with frozen weights, compiled.py); the same FLOPs are counted. --call-cost N
sets what the encoder's chunking (encoder/chunks.py) counts one more call as, to sweep it.

Usage: python bench/flops.py [--n-short 768] [--n-long 20] [--n-single 300] [--threads N]
       [--repeats 3] [--matmul-size 4096] [--inference-graph eager|packed|compiled] [--call-cost N]
       [--json OUT.json]
       python bench/flops.py --smoke
"""

import argparse
import time
from typing import Any, Dict, List, Sequence, Tuple

from harness import cli, common

ROWS = (
    ("short", "short texts (CoNLL sentences)"),
    ("long", "long texts (SQuAD contexts)"),
    ("single", "one text per call (CoNLL sentences, batch_size=1)"),
)


def layer_flops(length: int, *, hidden: int, intermediate: int) -> int:
    """Multiply-adds x 2 of one BERT layer on one sequence of `length` wordpieces.

    Projections Q, K, V and the attention output (4 h x h matmuls) and the feed-forward pair
    (h x ff, ff x h): 2 * n * (4h^2 + 2h*ff). Attention scores QK^T and their product with V:
    2 * n^2 * h each, 4 * n^2 * h. Embeddings, LayerNorm, softmax, GELU and the pooler are left
    out: element-wise work or one row per window, under 1% for MiniLM-sized windows.
    """
    return 2 * length * (4 * hidden * hidden + 2 * hidden * intermediate) + 4 * length**2 * hidden


def encoder_flops(lengths: Sequence[int], *, hidden: int, intermediate: int, layers: int) -> int:
    """FLOPs of the whole encoder on sequences of the given lengths (one per window)."""
    return layers * sum(layer_flops(n, hidden=hidden, intermediate=intermediate) for n in lengths)


def padded_flops(shapes: Sequence[Tuple[int, int]], **dims: int) -> int:
    """FLOPs of the encoder on padded batches, each (rows, padded length): what is executed."""
    return sum(rows * encoder_flops([length], **dims) for rows, length in shapes)


def matmul_flops(m: int, k: int, n: int) -> int:
    """FLOPs of an (m x k) @ (k x n) product."""
    return 2 * m * k * n


def share_of_peak(rate: float, peak: float) -> float:
    """`rate` as a percentage of `peak` (both in the same unit)."""
    if peak <= 0:
        raise ValueError(f"Expected a positive peak rate, got {peak}.")
    return 100.0 * rate / peak


def encoder_dims(config) -> Dict[str, int]:
    """The sizes `encoder_flops` needs, from a Hugging Face BERT config."""
    return {
        "hidden": config.hidden_size,
        "intermediate": config.intermediate_size,
        "layers": config.num_hidden_layers,
    }


def parse_args() -> argparse.Namespace:
    parser = cli.benchmark_parser(__doc__, smoke="a few texts: checks it runs")
    parser.add_argument("--n-short", type=common.positive_int, default=768, help="CoNLL sentences")
    parser.add_argument("--n-long", type=common.positive_int, default=20, help="long texts")
    parser.add_argument("--long-words", type=common.positive_int, default=2000)
    parser.add_argument(
        "--n-single", type=common.positive_int, default=300, help="CoNLL sentences, one per call"
    )
    parser.add_argument("--batch-size", type=common.positive_int, default=1000, help="nlp.pipe")
    parser.add_argument("--repeats", type=common.positive_int, default=3)
    parser.add_argument("--matmul-size", type=common.positive_int, default=4096)
    parser.add_argument(
        "--release-heap",
        choices=("trim", "mmap", "off"),
        default="trim",
        help="the encoder's release_heap mode (trim: the default; see heap_speed.py)",
    )
    parser.add_argument(
        "--call-cost",
        type=common.positive_int,
        help="the encoder's chunking cost of one more call, in padded wordpieces "
        "(spacy_bert_tasks/encoder/chunks.py; default: its CALL_COST_WORDPIECES)",
    )
    cli.add_graph_option(
        parser,
        "--inference-graph",
        "the encoder's inference_graph (compiled: paid in each row's warm-up pass)",
    )
    parser.add_argument(
        "--spans",
        choices=("strided", "wordpiece"),
        default="strided",
        help="the encoder's windows (see scaling.py)",
    )
    args = parser.parse_args()
    if args.smoke:
        args.n_short, args.n_long, args.long_words, args.n_single = 16, 2, 300, 4
        args.repeats, args.matmul_size = 1, 512
    return args


def matmul_rate(m: int, k: int, n: int, *, min_seconds: float = 1.0) -> float:
    """Best FLOP/s of torch.mm on random fp32 (m x k) @ (k x n), over at least `min_seconds`."""
    import torch

    a, b = torch.randn(m, k), torch.randn(k, n)
    out = torch.empty(m, n)
    torch.mm(a, b, out=out)  # warm-up: thread pool and caches
    best, spent = float("inf"), 0.0
    while spent < min_seconds:
        start = time.perf_counter()
        torch.mm(a, b, out=out)
        seconds = time.perf_counter() - start
        best, spent = min(best, seconds), spent + seconds
    return matmul_flops(m, k, n) / best


class ForwardRecorder:
    """Records each encoder pass: padded shape, real lengths, seconds inside.

    It wraps the `predict` of the encoder's thinc shim (the call that runs the torch module on
    one padded batch) rather than hooking the module: a compiled module (--inference-graph
    compiled) must not run Python hooks, and both graphs are then timed the same way.
    """

    def __init__(self, shim) -> None:
        self.calls: List[Dict[str, Any]] = []
        self._shim = shim
        predict = shim.predict

        def recorded(inputs):
            self._before(inputs.args, inputs.kwargs)
            start = time.perf_counter()
            output = predict(inputs)
            self.calls[-1]["seconds"] = time.perf_counter() - start
            return output

        shim.predict = recorded  # an instance attribute: the shim's own method again on remove

    def _before(self, args, kwargs) -> None:
        mask = kwargs.get("attention_mask")
        ids = kwargs.get("input_ids", args[0] if args else None)
        self.calls.append(
            {
                "shape": tuple(ids.shape),
                "lengths": mask.sum(dim=1).tolist()
                if mask is not None
                else [ids.shape[1]] * len(ids),
            }
        )

    def reset(self) -> None:
        self.calls = []

    def remove(self) -> None:
        del self._shim.predict


def measure_texts(
    nlp, recorder: ForwardRecorder, texts: List[str], args, dims, batch_size: int
) -> Dict[str, Any]:
    """Timed `nlp.pipe` passes over `texts`, with the FLOPs of what the encoder computed."""
    import gc
    import resource

    list(nlp.pipe(texts[: max(1, len(texts) // 4)], batch_size=batch_size))  # warm-up
    passes = []
    for _ in range(args.repeats):
        recorder.reset()
        gc.collect()
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        start = time.perf_counter()
        for _ in nlp.pipe(texts, batch_size=batch_size):
            pass
        seconds = time.perf_counter() - start
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
        lengths = [n for call in recorder.calls for n in call["lengths"]]
        passes.append(
            {
                "pipe_seconds": seconds,
                "forward_seconds": sum(call["seconds"] for call in recorder.calls),
                "useful_flops": encoder_flops(lengths, **dims),
                "executed_flops": padded_flops([call["shape"] for call in recorder.calls], **dims),
                "windows": len(lengths),
                "wordpieces": sum(lengths),
                "padded_wordpieces": sum(r * n for r, n in (c["shape"] for c in recorder.calls)),
                "forward_calls": len(recorder.calls),
                # Pages the process touched for the first time (fresh or handed-back memory):
                # each is a trip into the kernel, whose cost depends on the host.
                "minor_page_faults": faults,
            }
        )
    median = sorted(passes, key=lambda p: p["pipe_seconds"])[len(passes) // 2]
    return {
        "n_texts": len(texts),
        "n_words": common.count_words(texts),
        "passes": passes,
        **median,
        "useful_gflops_per_s": median["useful_flops"] / median["pipe_seconds"] / 1e9,
        "executed_gflops_per_s_in_forward": (
            median["executed_flops"] / median["forward_seconds"] / 1e9
        ),
        "forward_share_of_pipe": median["forward_seconds"] / median["pipe_seconds"],
    }


def measure(args) -> Dict[str, Any]:
    import torch
    from harness import texts as bench_texts
    from scaling import SPANS

    from spacy_bert_tasks.encoder import chunks

    if args.call_cost is not None:
        chunks.CALL_COST_WORDPIECES = args.call_cost

    nlp = common.build_spacy_pipeline(
        ["ner", "textcat"], release_heap=args.release_heap, get_spans=SPANS[args.spans]
    )
    nlp.get_pipe("transformer").set_inference_graph(args.inference_graph)
    encoder, _ = nlp.get_pipe("transformer").hf_encoder()
    dims = encoder_dims(encoder.config)
    by_row = {
        "short": common.load_texts(args.n_short),
        "long": bench_texts.long_texts(args.n_long, args.long_words),
        "single": common.load_texts(args.n_single),
    }
    batch_sizes = {"short": args.batch_size, "long": args.batch_size, "single": 1}
    size = args.matmul_size
    # The encoder's largest matmul, on a batch of 1024 wordpieces: (1024 x hidden) @ (hidden x ff).
    ffn = (1024, dims["hidden"], dims["intermediate"])
    # One CoNLL sentence is about 20 wordpieces: a window of 32 is a generous single call.
    ffn_single = (32, dims["hidden"], dims["intermediate"])
    shapes = {"square": (size, size, size), "encoder_ffn": ffn, "encoder_ffn_single": ffn_single}
    peaks = {key: matmul_rate(*shape) / 1e9 for key, shape in shapes.items()}
    recorder = ForwardRecorder(nlp.get_pipe("transformer").model.shim)
    rows = {
        key: measure_texts(nlp, recorder, found, args, dims, batch_sizes[key])
        for key, found in by_row.items()
    }
    recorder.remove()
    # Measured again after the passes, the best of the two: a busy spell of the machine during
    # one measurement would otherwise lower the peak and flatter the encoder.
    peaks = {key: max(peaks[key], matmul_rate(*shape) / 1e9) for key, shape in shapes.items()}
    for row in rows.values():
        row["useful_share_of_peak"] = share_of_peak(row["useful_gflops_per_s"], peaks["square"])
        row["forward_share_of_peak"] = share_of_peak(
            row["executed_gflops_per_s_in_forward"], peaks["square"]
        )
        row["padding_share"] = 1 - row["wordpieces"] / max(1, row["padded_wordpieces"])
    return {
        "versions": common.versions(),
        "threads": args.threads,
        "torch_threads": torch.get_num_threads(),
        "args": cli.arguments(args),
        "encoder": dims,
        "call_cost_wordpieces": chunks.CALL_COST_WORDPIECES,
        "peak_gflops_per_s": peaks,
        "matmul_shapes": {key: list(shape) for key, shape in shapes.items()},
        "rows": rows,
    }


def print_report(report: Dict[str, Any]) -> None:
    peaks, dims = report["peak_gflops_per_s"], report["encoder"]
    size = report["matmul_shapes"]["square"][0]
    print(
        f"torch {report['versions']['torch']}, {report['torch_threads']} threads; chunking call "
        f"cost {report.get('call_cost_wordpieces', '?')} wordpieces; encoder "
        f"{dims['layers']} layers, hidden {dims['hidden']}, ff {dims['intermediate']}\n"
        f"matmul peak (fp32 torch.mm {size}x{size}): {peaks['square']:,.1f} GFLOP/s; at the encoder's "
        f"feed-forward shape {'x'.join(map(str, report['matmul_shapes']['encoder_ffn']))}: "
        f"{peaks['encoder_ffn']:,.1f} GFLOP/s; at one 32-wordpiece window's "
        f"{'x'.join(map(str, report['matmul_shapes']['encoder_ffn_single']))}: "
        f"{peaks['encoder_ffn_single']:,.1f} GFLOP/s\n"
    )
    rows = []
    for key, label in ROWS:
        row = report["rows"][key]
        rows.append(
            [
                label,
                f"{row['n_texts']:,}",
                f"{row['n_words'] / row['n_texts']:,.0f}",
                f"{row['windows']:,}",
                f"{row['padding_share']:.0%}",
                f"{row['useful_gflops_per_s']:,.1f}",
                f"{row['useful_share_of_peak']:.0f}%",
                f"{row['forward_share_of_pipe']:.0%}",
                f"{row['executed_gflops_per_s_in_forward']:,.1f}",
                f"{row['forward_share_of_peak']:.0f}%",
                f"{row['minor_page_faults'] / row['n_words']:.1f}",
            ]
        )
    headers = [
        "texts",
        "n",
        "words/text",
        "windows",
        "padding",
        "GFLOP/s in nlp.pipe",
        "% of peak",
        "time in forward",
        "GFLOP/s in forward (padded)",
        "% of peak",
        "page faults per word",
    ]
    print(common.markdown_table(headers, rows))
    print(
        "\nGFLOP/s in nlp.pipe: FLOPs of the real wordpieces / wall time of the whole pass (the "
        "headline); in forward: FLOPs of the padded batches / time inside the encoder's forward; "
        "page faults: minor faults of the median pass (first touches of memory), per word."
    )


def main() -> None:
    cli.run(parse_args(), measure, print_report)


if __name__ == "__main__":
    main()
