"""int8 activation outliers: each Linear's input channels, and what 8-bit or smoothed inputs buy.

Why int8 loses points on some models: torch's dynamic int8 Linear quantizes each batch's input
with one scale per tensor, so a few channels far larger than the rest (BERT's LayerNorm outputs
and GELU outputs have them) leave the other channels few levels. This script, on a trained
pipeline with one task's head (`--task ner|qa`, as bench/int8_sweep.py loads it):

1. records every encoder Linear's per-input-channel max |x| over `--calibration` docs (by
   default the task's TRAIN split: never the dev docs it scores) and prints, per layer, the
   largest channel against the median one;
2. scores and times, in one nlp.evaluate pass each, on the dev docs: fp32; int8 with 7-bit
   activations (torch's x86 default) and with 8-bit ones (`int8_activation_range`); and int8
   (8-bit) after SmoothQuant (Xiao et al. 2022) with each `--alphas` value: every Linear's
   input divided by s_j = max|X_j|^alpha / max|W_j|^(1-alpha) and its weight columns
   multiplied by s (exact in fp32; the attention output projection's 1/s folded into the value
   projection, the others' a multiply before the Linear), over all Linear layers or the FFN
   input projections alone; and the fp32 model smoothed with the first alpha, unquantized, as
   a check that smoothing alone changes nothing.

SmoothQuant is measured here, not offered by the package (docs/benchmarks.md, "int8
activations", says why).

    python bench/int8_outliers.py --model MODEL --task qa [--calibration TRAIN.spacy] \
        [--max-calibration-docs 128] [--max-dev-docs 300] [--alphas 0.5 0.8] [--json out.json]
"""

import argparse
import copy
import statistics
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from harness import cli, common, corpus
from int8_sweep import HEADS, SCORE_KEYS, load_task_pipeline, make_examples, table

# The Linear layers of a BERT layer, by the part of the name after "encoder.layer.N.".
QKV = ("attention.self.query", "attention.self.key", "attention.self.value")
ATTENTION_OUT = "attention.output.dense"
FFN_IN = "intermediate.dense"
FFN_OUT = "output.dense"


def main() -> None:
    parser = cli.benchmark_parser(__doc__, smoke="8 calibration and 8 dev docs, one alpha")
    parser.add_argument("--model", type=Path, required=True, help="a trained pipeline")
    parser.add_argument("--task", choices=sorted(HEADS), required=True)
    parser.add_argument("--dev", type=Path, help="the task's dev .spacy file (default: the split)")
    parser.add_argument("--calibration", type=Path, help="docs to calibrate on (default: train)")
    parser.add_argument("--corpus", type=Path, default=corpus.CORPUS, help="the splits' folder")
    parser.add_argument("--max-dev-docs", type=common.positive_int, help="the first N dev docs")
    parser.add_argument("--max-calibration-docs", type=common.positive_int, default=128)
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.5, 0.8])
    cli.run(parser.parse_args(), measure, render)


def input_maxima(nlp, encoder, docs: Sequence, task: str) -> Dict[str, Any]:
    """Every encoder Linear's per-input-channel max |x| over a fp32 pass of `docs`."""
    import torch

    module = encoder.model.shim._model
    maxima: Dict[str, torch.Tensor] = {}

    def recorder(name: str):
        def record(_module, inputs) -> None:
            x = inputs[0].detach()
            channel_max = x.reshape(-1, x.shape[-1]).abs().amax(0)
            found = maxima.get(name)
            maxima[name] = channel_max if found is None else torch.maximum(found, channel_max)

        return record

    hooks = [
        sub.register_forward_pre_hook(recorder(name))
        for name, sub in module.named_modules()
        if isinstance(sub, torch.nn.Linear)
    ]
    graph = encoder.inference_graph
    try:
        encoder.set_inference_precision("fp32")
        encoder.set_inference_graph("eager")  # the hooks are on the module's own Linear layers
        nlp.evaluate(make_examples(nlp, docs, task))
    finally:
        encoder.set_inference_graph(graph)
        for hook in hooks:
            hook.remove()
    return maxima


def outlier_rows(maxima: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Per encoder Linear input: the largest channel's max |x|, the median channel's, the ratio."""
    rows = []
    for name, channel_max in maxima.items():
        if name.endswith(QKV[1:]):  # the query's input is theirs too
            continue
        median = float(channel_max.median())
        largest = float(channel_max.max())
        top = channel_max.argsort(descending=True)[:3].tolist()
        rows.append(
            {
                "linear": name,
                "max": largest,
                "median": median,
                "ratio": largest / median,
                "top": top,
            }
        )
    return rows


def _smoothed_linear(inverse_scale, linear):
    import torch

    class SmoothedInput(torch.nn.Module):
        """x * (1 / s) before the Linear whose weight columns were multiplied by s."""

        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("inverse_scale", inverse_scale)
            self.linear = linear

        def forward(self, x):
            return self.linear(x * self.inverse_scale)

    return SmoothedInput()


def smoothed_copy(module, maxima: Dict[str, Any], alpha: float, ffn_in_only: bool):
    """A copy of the BERT module with SmoothQuant scales folded in (exact in fp32)."""
    import torch

    smoothed = copy.deepcopy(module).eval()
    for param in smoothed.parameters():
        param.requires_grad_(False)

    def scale(name: str, weights: Sequence) -> Any:
        # s_j = max|X_j|^alpha / max|W_j|^(1-alpha), over every weight reading the input.
        weight_max = torch.stack([w.abs().amax(0) for w in weights]).amax(0).clamp(min=1e-5)
        s = maxima[name].clamp(min=1e-5).pow(alpha) / weight_max.pow(1 - alpha)
        s = s.clamp(min=1e-5)
        for w in weights:
            w.mul_(s)
        return s

    with torch.no_grad():
        for i, layer in enumerate(smoothed.encoder.layer):
            prefix = f"encoder.layer.{i}."
            ffn_in = layer.intermediate.dense
            s = scale(prefix + FFN_IN, [ffn_in.weight])
            layer.intermediate.dense = _smoothed_linear(1 / s, ffn_in)
            if ffn_in_only:
                continue
            attention = layer.attention.self
            qkv = [attention.query, attention.key, attention.value]
            s = scale(prefix + QKV[0], [lin.weight for lin in qkv])
            for part, lin in zip(("query", "key", "value"), qkv):
                setattr(attention, part, _smoothed_linear(1 / s, lin))
            # The attention output reads softmax(QK) V: V's output channel j scales it exactly.
            s = scale(prefix + ATTENTION_OUT, [layer.attention.output.dense.weight])
            value = qkv[2]
            value.weight.div_(s[:, None])
            value.bias.div_(s)
            ffn_out = layer.output.dense
            s = scale(prefix + FFN_OUT, [ffn_out.weight])
            layer.output.dense = _smoothed_linear(1 / s, ffn_out)
    return smoothed


def score_module(nlp, encoder, module, dev_docs, task: str) -> Dict[str, float]:
    """Score and time the dev docs with `module` (None: the fp32 model) as the encoder."""
    from spacy_bert_tasks.encoder.inference_copy import weights_key
    from spacy_bert_tasks.encoder.precision import invalidate_reduced_copies

    shim = encoder.model.shim
    if module is None:
        encoder.set_inference_precision("fp32")
    else:
        # The int8 predictor runs whatever copy it holds while the weights it came from do not
        # change: hand it this one.
        encoder.set_inference_precision("int8", [], "reduced")
        predictor = shim.reduced_predictor()
        predictor._copy, predictor._key = module, weights_key(shim._model)
    nlp.evaluate(make_examples(nlp, dev_docs[:8], task))  # warm up: not timed
    examples = make_examples(nlp, dev_docs, task)
    start = time.perf_counter()
    scores = nlp.evaluate(examples)
    seconds = time.perf_counter() - start
    invalidate_reduced_copies(shim)
    items = len(examples) if task == "qa" else sum(len(eg.predicted) for eg in examples)
    return {"score": 100 * (scores[SCORE_KEYS[task]] or 0.0), "speed": items / seconds}


def measure(args: argparse.Namespace) -> Dict[str, Any]:
    from spacy_bert_tasks.encoder.int8_layers import quantize_dynamic_int8

    nlp, encoder = load_task_pipeline(args.model, args.task)
    dev_path = args.dev or corpus.corpus_file(args.corpus, args.task, "dev")
    calibration_path = args.calibration or corpus.corpus_file(args.corpus, args.task, "train")
    n_dev, n_calibration = (8, 8) if args.smoke else (args.max_dev_docs, args.max_calibration_docs)
    dev_docs = _task_docs(dev_path, n_dev, nlp, args.task)
    calibration = _task_docs(calibration_path, n_calibration, nlp, args.task)
    alphas = args.alphas[:1] if args.smoke else args.alphas
    maxima = input_maxima(nlp, encoder, calibration, args.task)
    module = encoder.model.shim._model

    def int8(copy_of, activation_range):
        return quantize_dynamic_int8(copy_of, (), activation_range)

    candidates = [
        ("fp32", lambda: None),
        ("int8, 7-bit activations", lambda: int8(copy.deepcopy(module).eval(), "reduced")),
        ("int8, 8-bit activations", lambda: int8(copy.deepcopy(module).eval(), "full")),
    ]
    for alpha in alphas:
        for only, label in ((False, "all Linear"), (True, "FFN in only")):
            candidates.append(
                (
                    f"int8 8-bit, SmoothQuant alpha {alpha} ({label})",
                    lambda a=alpha, o=only: int8(smoothed_copy(module, maxima, a, o), "full"),
                )
            )
    candidates.append(
        (
            f"fp32 smoothed, alpha {alphas[0]}",
            lambda: smoothed_copy(module, maxima, alphas[0], False),
        )
    )
    print(f"{len(candidates)} rows, {len(calibration)} calibration docs, {len(dev_docs)} dev docs")
    results = {}
    for name, build in candidates:
        results[name] = score_module(nlp, encoder, build(), dev_docs, args.task)
        print(f"  {name}: {results[name]['score']:.2f}, {results[name]['speed']:,.1f}", flush=True)
    return {
        "task": args.task,
        "model": str(args.model),
        "dev": str(dev_path),
        "dev_docs": len(dev_docs),
        "calibration": str(calibration_path),
        "calibration_docs": len(calibration),
        "versions": common.versions(),
        "threads": args.threads,
        "args": cli.arguments(args),
        "outliers": outlier_rows(maxima),
        "results": results,
    }


def _task_docs(path: Path, limit: Optional[int], nlp, task: str) -> List:
    docs = corpus.read_docs(path, None, nlp.vocab)
    if task == "qa":
        docs = [doc for doc in docs if doc._.question is not None]
    if not docs:
        raise SystemExit(f"error: {path} has no {task} docs")
    return docs[:limit] if limit else docs


def render(report: Dict[str, Any]) -> None:
    details = (
        f"{report['task']}; channel maxima over {report['calibration_docs']} docs of "
        f"{report['calibration']}; scored on {report['dev_docs']} docs of {report['dev']}; "
        f"model {report['model']}"
    )
    print(cli.headline(report, details))
    cells = [
        [
            row["linear"] + (" (and key, value)" if row["linear"].endswith(QKV[0]) else ""),
            f"{row['max']:.2f}",
            f"{row['median']:.2f}",
            f"{row['ratio']:.1f}",
            ", ".join(map(str, row["top"])),
        ]
        for row in report["outliers"]
    ]
    headers = ["Linear input", "largest channel", "median channel", "ratio", "largest channels"]
    print(common.markdown_table(headers, cells))
    ratios = [row["ratio"] for row in report["outliers"]]
    print(f"\nmedian ratio {statistics.median(ratios):.1f}, largest {max(ratios):.1f}\n")
    print(table({**report, "recommendation": None}))  # fp32, then each row beside it


if __name__ == "__main__":
    main()
