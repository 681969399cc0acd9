"""The encoder alone, on the calls a real evaluation makes: fp32 (packed) against int8, each as
predictions run it and as a baseline: without the fused self-attention, or with it but without
its blocks path (spacy_bert_tasks/encoder/fused_attention.py).

A whole-pipeline timing on 2 shared cores moves 5-10% between runs, as much as the effects
measured here. So this script records the encoder calls (the padded chunks the encoder's module
gets) of one `nlp.evaluate` pass of the task (`--task ner`: CoNLL sentences; `--task qa`: SQuAD
question-context pairs, int8_sweep.py's split and pipeline loading; `--task long`: `nlp.pipe`
over --long-texts texts of --long-words words through every head but QA, the pipeline's own
windows), then replays them on four inference copies of the module, call by call in turn
(`--repeats` rounds), and sums each copy's per-call medians:

- fp32: the packed copy (packed.py), as predictions run by default;
- int8: the int8 copy (int8_layers.py, 8-bit activations where the CPU has VNNI);
- each as the --baseline: "unfused", the same copies with Hugging Face's self-attention modules
  (and, for int8, its out-of-place GELU), as before fused_attention.py; or "sdpa", the fused
  copies with PyTorch's attention kernel for every window above SHORT_WINDOW, as before the
  blocks path (`attention_in_blocks`).

Each copy's weights are read from memory again at each call, as the copies run in turn, which
costs the larger fp32 weights more than int8's: read the int8/fp32 ratios with int8_sweep.py's
whole-pipeline ones, and the speed-ups over the baseline (same copy) as this script's finding.

The pipeline around the encoder (tokenizing, windows, the heads) is not timed: int8_sweep.py
times the whole pipeline.

    python bench/encoder_replay.py --model training/model-best --task ner
        [--dev DEV.spacy] [--max-dev-docs 1500] [--baseline unfused|sdpa] [--repeats 5]
        [--long-texts 6 --long-words 1000] [--threads N] [--json OUT.json]
"""

import argparse
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

from harness import cli, common, corpus
from harness import texts as bench_texts
from int8_sweep import load_task_pipeline, make_examples, read_task_dev

COPIES = ("fp32", "int8", "fp32, baseline", "int8, baseline")
BASELINES = ("unfused", "sdpa")


def main() -> None:
    parser = cli.benchmark_parser(__doc__, smoke="8 dev docs, 1 round")
    parser.add_argument("--model", type=Path, required=True, help="a trained pipeline")
    parser.add_argument("--task", choices=["ner", "qa", "long"], required=True)
    parser.add_argument("--dev", type=Path, help="the task's dev .spacy file (default: the split)")
    parser.add_argument("--corpus", type=Path, default=corpus.CORPUS, help="the splits' folder")
    parser.add_argument("--max-dev-docs", type=common.positive_int, help="the first N dev docs")
    parser.add_argument("--repeats", type=common.positive_int, default=5, help="replay rounds")
    parser.add_argument("--baseline", choices=BASELINES, default="unfused")
    parser.add_argument("--long-texts", type=common.positive_int, default=6)
    parser.add_argument("--long-words", type=common.positive_int, default=1000)
    cli.run(parser.parse_args(), measure, render)


def record_calls(nlp, module, examples=None, texts=None) -> List[Tuple[tuple, dict]]:
    """The (args, kwargs) of every call of `module` while `nlp` evaluates `examples` (or, with
    `texts`, runs `nlp.pipe` over them)."""
    import torch

    calls: List[Tuple[tuple, dict]] = []
    forward = module.forward

    def recording(*args, **kwargs):
        kept = {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()}
        calls.append((tuple(a.clone() for a in args), kept))
        return forward(*args, **kwargs)

    module.forward = recording
    try:
        if texts is not None:
            for _ in nlp.pipe(texts):
                pass
        else:
            nlp.evaluate(examples)
    finally:
        del module.forward  # the class's forward again
    return calls


def build_copies(module, baseline: str = "unfused") -> Dict[str, Any]:
    """COPIES of `module`. The "unfused" baseline is built with fusion switched off; the "sdpa"
    one is fused, with the blocks path switched off (BLOCKED_WINDOW 0)."""
    from spacy_bert_tasks.encoder import int8_layers, packed
    from spacy_bert_tasks.encoder.fused_attention import FusedSelfAttention
    from spacy_bert_tasks.encoder.inference_copy import inference_copy

    def build(fused: bool) -> Dict[str, Any]:
        saved = (packed.fuse_self_attention, int8_layers.fuse_self_attention)
        saved_gelu = int8_layers.gelu_in_place
        if not fused:
            packed.fuse_self_attention = int8_layers.fuse_self_attention = _no_fusion
            int8_layers.gelu_in_place = _no_fusion
        try:
            return {
                "fp32": packed.packed_copy(module),
                "int8": int8_layers.quantize_dynamic_int8(inference_copy(module), (), "auto"),
            }
        finally:
            packed.fuse_self_attention, int8_layers.fuse_self_attention = saved
            int8_layers.gelu_in_place = saved_gelu

    if baseline not in BASELINES:
        raise ValueError(f"baseline must be one of {BASELINES}, not {baseline!r}")
    copies, baselines = build(True), build(baseline == "sdpa")
    if baseline == "sdpa":
        for copy in baselines.values():
            for sub in copy.modules():
                if isinstance(sub, FusedSelfAttention):
                    sub.blocked_window = 0
    return {**copies, **{f"{name}, baseline": copy for name, copy in baselines.items()}}


def _no_fusion(module, skip=()) -> int:
    return 0


def replay(copies: Dict[str, Callable], calls, repeats: int) -> Dict[str, float]:
    """Seconds per copy: the sum over calls of each call's median time."""
    import torch

    times: Dict[str, List[List[float]]] = {name: [[] for _ in calls] for name in copies}
    with torch.inference_mode():
        for copy in copies.values():  # warm-up: first calls pack and allocate
            for args, kwargs in calls[:3]:
                copy(*args, **kwargs)
        for _ in range(repeats):
            for index, (args, kwargs) in enumerate(calls):
                for name, copy in copies.items():  # in turn: drift hits every copy alike
                    start = time.perf_counter()
                    copy(*args, **kwargs)
                    times[name][index].append(time.perf_counter() - start)
    return {name: sum(statistics.median(call) for call in per) for name, per in times.items()}


def record_task_calls(args: argparse.Namespace) -> Dict[str, Any]:
    """The encoder calls of `args.task` on `args.model` (see the module docstring): the module
    ("module"), its calls ("calls"), what they came from ("dev", "dev_docs")."""
    if args.task == "long":
        nlp, encoder = load_long_text_pipeline(args.model)
        n_texts, n_words = (2, 300) if args.smoke else (args.long_texts, args.long_words)
        inputs = {"texts": bench_texts.long_texts(n_texts, n_words)}
        dev, n_dev = f"{n_texts} texts of {n_words} words (bench/harness/texts.py)", n_texts
    else:
        nlp, encoder = load_task_pipeline(args.model, args.task)
        dev_path, dev_docs = read_task_dev(args, nlp)
        inputs = {"examples": make_examples(nlp, dev_docs, args.task)}
        dev, n_dev = str(dev_path), len(dev_docs)
    encoder.set_inference_graph("eager")  # record on the module itself
    module = encoder.model.shim._model
    calls = record_calls(nlp, module, **inputs)
    return {"module": module, "calls": calls, "dev": dev, "dev_docs": n_dev}


def measure(args: argparse.Namespace) -> Dict[str, Any]:
    recorded = record_task_calls(args)
    module, calls = recorded["module"], recorded["calls"]
    copies = build_copies(module, args.baseline)
    seconds = replay(copies, calls, 1 if args.smoke else args.repeats)
    return {
        "task": args.task,
        "model": str(args.model),
        "dev": recorded["dev"],
        "dev_docs": recorded["dev_docs"],
        "baseline": args.baseline,
        "calls": len(calls),
        "wordpieces": sum(kwargs["input_ids"].numel() for _, kwargs in calls),
        "widths": sorted({int(kwargs["input_ids"].shape[1]) for _, kwargs in calls}),
        "repeats": 1 if args.smoke else args.repeats,
        "threads": args.threads,
        "versions": common.versions(),
        "seconds": seconds,
    }


def load_long_text_pipeline(model: Path):
    """The pipeline at `model` without its QA heads (which long texts without a question skip)."""
    import spacy
    from spacy import util

    config = util.load_config(model / "config.cfg")
    qa = [
        name
        for name in config["nlp"]["pipeline"]
        if config["components"][name].get("factory") == "bert_qa"
    ]
    nlp = spacy.load(model, exclude=qa)
    encoders = [c for _, c in nlp.pipeline if hasattr(c, "set_inference_precision")]
    if len(encoders) != 1:
        raise SystemExit(f"error: expected one bert_transformer in {model}, found {len(encoders)}")
    return nlp, encoders[0]


def render(report: Dict[str, Any]) -> None:
    seconds = report["seconds"]
    baseline = BASELINE_LABELS[report.get("baseline", "unfused")]
    print(
        f"## Encoder calls of a {report['task']} evaluation, replayed: {report['calls']} calls, "
        f"{report['wordpieces']:,} padded wordpieces, {report['dev_docs']} dev docs\n"
    )
    print("| copies | fp32 (s) | int8 (s) | int8 speed-up over fp32 |")
    print("| --- | ---: | ---: | ---: |")
    for label, suffix in (("as predictions run", ""), (baseline, ", baseline")):
        fp32, int8 = seconds["fp32" + suffix], seconds["int8" + suffix]
        print(f"| {label} | {fp32:.3f} | {int8:.3f} | {fp32 / int8:.2f}x |")
    print(
        f"\nSpeed-up over the baseline ({baseline}): "
        f"fp32 {seconds['fp32, baseline'] / seconds['fp32']:.3f}x, "
        f"int8 {seconds['int8, baseline'] / seconds['int8']:.3f}x "
        f"(sum of per-call medians of {report['repeats']} rounds)."
    )


BASELINE_LABELS = {
    "unfused": "unfused (HF's attention)",
    "sdpa": "fused, PyTorch's kernel above SHORT_WINDOW (no blocks)",
}


if __name__ == "__main__":
    main()
