"""int8 sensitivity sweep: which encoder layers to keep in fp32 so int8 loses <= 1 point.

Loads a trained pipeline with only the encoder and one task's head (`--task ner`: NER on its
dev .spacy file, ents F; `--task qa`: span QA, SQuAD F1), then scores and times, in one run,
fp32, full int8 and int8 with each candidate group of Linear layers kept in fp32
(`int8_fp32_layers`): each layer's FFN output projection, each layer's FFN input projection,
all of either, all attention output projections, the first / last layer, and the layers whose
FFN output helped most on their own, together. Each setting's score and speed come from the
same `nlp.evaluate` pass (spaCy times the pipeline alone: its "speed"); the passes of all
settings are interleaved round by round (`--repeats`), and the median speed is reported, with
the lowest and highest of the rounds' own ratios to fp32. `--speed-only` times just fp32 and
int8, for a speed check in more rounds than a whole sweep can afford.
The recommendation is the fastest setting within `--budget` points of fp32; of settings
within 5% of its speed (timing noise), the one that keeps the fewest layers in fp32.

Every int8 row quantizes activations with `--activation-range` (`int8_activation_range`: by
default "auto", 8 bits on CPUs with VNNI, else 7), and one more row, full int8 with the other
range, shows what that bit is worth on the model.

The fp32 rows run the encoder's `--inference-graph` (by default the package default, packed,
whatever the saved config says); unless that is eager, one more row runs fp32 eager.

    python bench/int8_sweep.py --model training/model-best --task ner \
        [--dev DEV.spacy] [--max-dev-docs 1000] [--repeats 2] [--activation-range auto] \
        [--inference-graph packed] [--no-per-layer | --speed-only] [--json out.json]

By default the dev file is the fixed split of bench/harness/corpus.py (CoNLL-2003 valid for
ner, SQuAD articles 26-31 for qa).
"""

import argparse
import statistics
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

from harness import cli, common, corpus

HEADS = {"ner": "bert_ner", "qa": "bert_qa"}  # the head factory each task keeps
SCORE_KEYS = {"ner": "ents_f", "qa": "qa_f1"}
UNITS = {"ner": "words/s", "qa": "questions/s"}
FP32 = "fp32"
# fp32 rows run the encoder's --inference-graph (the package default, packed); int8 ignores it.
# With another graph, this row adds fp32 run eager, the fp32 the int8 targets were set against.
FP32_EAGER = "fp32, eager graph"
INT8 = "int8"

# A candidate: (its name in the table, inference_precision, int8_fp32_layers,
# int8_activation_range).
Setting = Tuple[str, str, Tuple[str, ...], str]
BITS = {"full": "8-bit", "reduced": "7-bit"}
# Speeds within this share of the fastest count as tied (one quiet pass of the same setting
# varies by a few percent on 2 cores).
TIE = 0.05


def main() -> None:
    parser = cli.benchmark_parser(__doc__, smoke="8 dev docs, 1 round, whole-model groups only")
    parser.add_argument("--model", type=Path, required=True, help="a trained pipeline")
    parser.add_argument("--task", choices=sorted(HEADS), required=True)
    parser.add_argument("--dev", type=Path, help="the task's dev .spacy file (default: the split)")
    parser.add_argument("--corpus", type=Path, default=corpus.CORPUS, help="the splits' folder")
    parser.add_argument("--max-dev-docs", type=common.positive_int, help="the first N dev docs")
    parser.add_argument("--repeats", type=common.positive_int, default=2, help="timed rounds")
    parser.add_argument("--budget", type=float, default=1.0, help="points of score int8 may lose")
    parser.add_argument("--top", type=int, default=3, help="combine the N best single layers")
    parser.add_argument(
        "--no-per-layer",
        action="store_true",
        help="only the whole-model groups (and --fp32-layers): a confirming run on a full dev set",
    )
    parser.add_argument(
        "--speed-only",
        action="store_true",
        help="only fp32 and int8: a speed check in many rounds (with --repeats 7, say)",
    )
    parser.add_argument(
        "--fp32-layers",
        nargs="+",
        metavar="PATTERN",
        help="one more row: int8 with these int8_fp32_layers patterns (e.g. a sweep's choice)",
    )
    parser.add_argument(
        "--activation-range",
        choices=["auto", "full", "reduced"],
        default="auto",
        help="int8_activation_range of the int8 rows (auto: full on CPUs with VNNI)",
    )
    cli.add_graph_option(
        parser, "--inference-graph", "the encoder's inference_graph in the fp32 rows"
    )
    cli.run(parser.parse_args(), measure, render)


def whole_model_groups(n_layers: int, activation_range: str) -> List[Setting]:
    """fp32, full int8 with either activation range, and int8 with groups spanning the model
    kept fp32; the int8 rows but one quantize activations with `activation_range` (resolved:
    "full" or "reduced")."""
    last = n_layers - 1
    other = "reduced" if activation_range == "full" else "full"
    groups = [
        (INT8, ()),
        ("int8, FFN out fp32", ("encoder.layer.*.output.dense",)),
        ("int8, FFN in fp32", ("encoder.layer.*.intermediate.dense",)),
        ("int8, attention out fp32", ("encoder.layer.*.attention.output.dense",)),
        ("int8, layer 0 fp32", ("encoder.layer.0",)),
        (f"int8, layer {last} fp32", (f"encoder.layer.{last}",)),
        (f"int8, layers 0+{last} fp32", ("encoder.layer.0", f"encoder.layer.{last}")),
    ]
    return (
        [(FP32, FP32, (), activation_range)]
        + [(name, INT8, layers, activation_range) for name, layers in groups[:1]]
        + [(f"int8, {BITS[other]} activations", INT8, (), other)]
        + [(name, INT8, layers, activation_range) for name, layers in groups[1:]]
    )


def per_layer_groups(n_layers: int, activation_range: str) -> List[Setting]:
    """int8 with one layer's FFN output, or FFN input, projection kept fp32."""
    settings = []
    for i in range(n_layers):
        layers = (f"encoder.layer.{i}.output.dense",)
        settings.append((f"int8, L{i} FFN out fp32", INT8, layers, activation_range))
    for i in range(n_layers):
        layers = (f"encoder.layer.{i}.intermediate.dense",)
        settings.append((f"int8, L{i} FFN in fp32", INT8, layers, activation_range))
    return settings


def best_single_layers(
    results: Dict[str, Dict[str, Any]], top: int, activation_range: str
) -> List[Setting]:
    """int8 with the FFN outputs of the `top` best single-layer rows kept fp32 together (2..top).

    results: name -> {"score", "fp32_layers"} of the rows measured so far.
    """
    singles = [
        (row["score"], row["fp32_layers"][0])
        for name, row in results.items()
        if " FFN out fp32" in name and name.startswith("int8, L")
    ]
    ranked = [layer for _, layer in sorted(singles, key=lambda pair: -pair[0])]
    combos = []
    for k in range(2, min(top, len(ranked)) + 1):
        layers = tuple(sorted(ranked[:k]))
        names = "+".join(layer.split(".")[2] for layer in layers)
        combos.append((f"int8, L{names} FFN out fp32", INT8, layers, activation_range))
    return combos


def recommend(rows: Dict[str, Dict[str, Any]], budget: float, tie: float = TIE) -> str:
    """The setting to pick: within `budget` points of fp32, as fast as the fastest such row
    (within `tie`, a share of its speed), and of those the one keeping the fewest layers fp32.

    Rows whose speeds differ by less than the timing noise are tied: picking the fastest of
    them would follow noise, and fewer fp32 layers is the simpler, smaller setting.
    rows: name -> {"score": points, "speed": items/s, "fp32_layers": names (default none)};
        must hold FP32.
    tie (float): Speeds at least (1 - tie) x the fastest row's count as equal.
    """
    floor = rows[FP32]["score"] - budget
    within = [
        name for name, row in rows.items() if row["score"] >= floor - 1e-9 and name != FP32_EAGER
    ]
    fastest = max(rows[name]["speed"] for name in within)
    tied = [name for name in within if rows[name]["speed"] >= (1 - tie) * fastest]
    return min(
        tied, key=lambda name: (len(rows[name].get("fp32_layers", ())), -rows[name]["speed"])
    )


def load_task_pipeline(model: Path, task: str):
    """The pipeline at `model` with only its encoder(s) and the task's head."""
    import spacy
    from spacy import util

    config = util.load_config(model / "config.cfg")
    wanted = {"bert_transformer", HEADS[task]}
    factories = {
        name: config["components"][name].get("factory") for name in config["nlp"]["pipeline"]
    }
    if HEADS[task] not in factories.values():
        raise SystemExit(f"error: {model} has no {HEADS[task]} component (it has {factories})")
    exclude = [name for name, factory in factories.items() if factory not in wanted]
    nlp = spacy.load(model, exclude=exclude)
    encoders = [c for _, c in nlp.pipeline if hasattr(c, "set_inference_precision")]
    if len(encoders) != 1:
        raise SystemExit(f"error: expected one bert_transformer in {model}, found {len(encoders)}")
    return nlp, encoders[0]


def read_task_dev(args: argparse.Namespace, nlp) -> Tuple[Path, List]:
    """`args.task`'s dev file (`--dev`, or the fixed split) and its first `--max-dev-docs` docs
    (8 with `--smoke`), for QA only those asking a question. RAISES SystemExit: none left."""
    dev_path = args.dev or corpus.corpus_file(args.corpus, args.task, "dev")
    dev_docs = corpus.read_docs(dev_path, 8 if args.smoke else args.max_dev_docs, nlp.vocab)
    if args.task == "qa":
        dev_docs = [doc for doc in dev_docs if doc._.question is not None]
    if not dev_docs:
        raise SystemExit(f"error: {dev_path} has no {args.task} dev docs")
    return dev_path, dev_docs


def make_examples(nlp, dev_docs: Sequence, task: str) -> List:
    """Fresh dev examples (evaluate writes into the predicted docs, so each pass needs new ones)."""
    from spacy.training import Example

    from spacy_bert_tasks.qa.corpus import qa_example

    if task == "qa":
        return [qa_example(nlp, doc) for doc in dev_docs]
    return [Example(nlp.make_doc(doc.text), doc) for doc in dev_docs]


def run_setting(
    nlp, encoder, setting: Setting, dev_docs, task: str, graph: str
) -> Dict[str, float]:
    """One scored, timed pass of `setting`; the converted copy is built and warmed up first."""
    from spacy_bert_tasks.encoder.precision import invalidate_reduced_copies

    name, precision, layers, activation_range = setting
    encoder.set_inference_graph("eager" if name == FP32_EAGER else graph)
    encoder.set_inference_precision(precision, layers, activation_range)
    nlp.evaluate(make_examples(nlp, dev_docs[:8], task))  # convert, warm up: not timed
    examples = make_examples(nlp, dev_docs, task)
    faults_before = minor_page_faults()
    scores = nlp.evaluate(examples)
    faults = minor_page_faults() - faults_before
    invalidate_reduced_copies(encoder.model.shim)  # free the copy: one in memory at a time
    n_words = sum(len(eg.predicted) for eg in examples)
    seconds = n_words / scores["speed"]
    items = len(examples) if task == "qa" else n_words
    return {
        "score": 100 * (scores[SCORE_KEYS[task]] or 0.0),
        "speed": items / seconds,
        "page_faults": faults,
    }


def minor_page_faults() -> int:
    """This process's minor page faults so far: memory the OS handed it, touched for the first
    time (after a trim, say: encoder/heap.py)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def sweep(
    nlp, encoder, settings: List[Setting], dev_docs, task: str, repeats: int, graph: str
) -> Dict:
    """Every setting scored, and timed in `repeats` interleaved rounds (median speed); fp32 rows
    run the encoder's `graph`."""
    runs: Dict[str, List[Dict[str, float]]] = {name: [] for name, *_ in settings}
    for round_ in range(repeats):
        for setting in settings:
            runs[setting[0]].append(run_setting(nlp, encoder, setting, dev_docs, task, graph))
            if round_ == 0:
                row = runs[setting[0]][0]
                print(f"  {setting[0]}: {row['score']:.2f}, {row['speed']:,.1f}", flush=True)
    results = {}
    for name, precision, layers, activation_range in settings:
        scores = {run["score"] for run in runs[name]}
        if max(scores) - min(scores) > 1e-6:  # int8 kernels are deterministic on one machine
            print(f"warning: {name}: the score varied between rounds: {sorted(scores)}")
        results[name] = {
            "precision": precision,
            "fp32_layers": list(layers),
            "activation_range": activation_range if precision == INT8 else None,
            "score": statistics.median(run["score"] for run in runs[name]),
            "speed": statistics.median(run["speed"] for run in runs[name]),
            "speeds": [run["speed"] for run in runs[name]],
            "page_faults": statistics.median(run["page_faults"] for run in runs[name]),
        }
    return results


def measure(args: argparse.Namespace) -> Dict[str, Any]:
    """Sweep the candidate settings; RETURNS (Dict[str, Any]): the report."""
    from spacy_bert_tasks.encoder.int8_activations import cpu_has_vnni, resolve_activation_range

    activation_range = resolve_activation_range(args.activation_range)
    nlp, encoder = load_task_pipeline(args.model, args.task)
    dev_path, dev_docs = read_task_dev(args, nlp)
    repeats = 1 if args.smoke else args.repeats
    n_layers = encoder.model.shim._model.config.num_hidden_layers
    per_layer = not (args.smoke or args.no_per_layer or args.speed_only)
    settings = whole_model_groups(n_layers, activation_range)
    if args.speed_only:
        settings = [setting for setting in settings if setting[0] in (FP32, INT8)]
    elif args.inference_graph != "eager":
        settings.insert(1, (FP32_EAGER, FP32, (), activation_range))
    if per_layer:
        settings += per_layer_groups(n_layers, activation_range)
    if args.fp32_layers:
        settings.append(
            ("int8, given layers fp32", INT8, tuple(args.fp32_layers), activation_range)
        )
    print(f"{len(settings)} settings, {len(dev_docs)} dev docs, {repeats} rounds", flush=True)
    graph = args.inference_graph
    results = sweep(nlp, encoder, settings, dev_docs, args.task, repeats, graph)
    if per_layer:  # the best single layers together, now that they are known
        combos = best_single_layers(results, args.top, activation_range)
        results.update(sweep(nlp, encoder, combos, dev_docs, args.task, repeats, graph))
    return {
        "task": args.task,
        "model": str(args.model),
        "dev": str(dev_path),
        "dev_docs": len(dev_docs),
        "layers": n_layers,
        "versions": common.versions(),
        "threads": args.threads,
        "quantized_engine": quantized_engine(),
        "cpu_has_vnni": cpu_has_vnni(),
        "activation_range": activation_range,
        "inference_graph": args.inference_graph,
        "args": cli.arguments(args),
        "repeats": repeats,
        "budget": args.budget,
        "results": results,
        "recommendation": recommend(results, args.budget),
    }


def quantized_engine() -> str:
    import torch

    return torch.backends.quantized.engine


def table(report: Dict[str, Any]) -> str:
    """The rows side by side with fp32: score, loss, speed, speed-up (of the medians, and, for
    rows timed in rounds, the lowest and highest of each round's, where a round runs every
    setting once, and the minor page faults of a timed pass, median)."""
    rows = report["results"]
    base = rows[FP32]
    in_rounds = all("speeds" in row and "page_faults" in row for row in rows.values())

    def per_round(row: Dict[str, Any]) -> List[str]:
        if not in_rounds:  # int8_outliers.py's rows: one pass each
            return []
        ratios = [speed / base_speed for speed, base_speed in zip(row["speeds"], base["speeds"])]
        return [f"{min(ratios):.2f}-{max(ratios):.2f}x", f"{row['page_faults'] / 1000:,.0f}k"]

    cells = [
        [
            name + (" (recommended)" if name == report["recommendation"] else ""),
            f"{row['score']:.2f}",
            f"{row['score'] - base['score']:+.2f}",
            f"{row['speed']:,.1f}",
            f"{row['speed'] / base['speed']:.2f}x",
        ]
        + per_round(row)
        for name, row in rows.items()
    ]
    score = SCORE_KEYS[report["task"]]
    headers = ["setting", score, "vs fp32", UNITS[report["task"]], "vs fp32"]
    return common.markdown_table(headers + (["rounds", "faults"] if in_rounds else []), cells)


def render(report: Dict[str, Any]) -> None:
    details = (
        f"{report['task']} on {report['dev_docs']} docs of {report['dev']}; model {report['model']} "
        f"({report['layers']} layers); engine {report['quantized_engine']}; fp32 rows "
        f"{report['inference_graph']} unless named; int8 rows with "
        f"{BITS[report['activation_range']]} activations unless named; "
        f"median of {report['repeats']} interleaved rounds"
    )
    print(cli.headline(report, details))
    print(table(report))
    chosen = report["results"][report["recommendation"]]
    print(
        f"\nrecommended (within {report['budget']} point of fp32; the fastest, or among rows "
        f"within {TIE:.0%} of its speed the fewest fp32 layers): "
        f'{report["recommendation"]}: inference_precision = "{chosen["precision"]}", '
        f"int8_fp32_layers = {chosen['fp32_layers']}"
        + (
            f', int8_activation_range = "{chosen["activation_range"]}"'
            if chosen["precision"] == INT8
            else ""
        )
    )


if __name__ == "__main__":
    main()
