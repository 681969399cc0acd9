"""ONNX Runtime, the engine issue 15 named as a candidate for int8, against this package's torch
copies, on the encoder calls of a real evaluation.

The calls are recorded as bench/encoder_replay.py records them (one `nlp.evaluate` pass of the
task: `--task ner`, CoNLL sentences; `--task qa`, SQuAD question-context pairs; `--task long`,
`nlp.pipe` over long texts) and replayed call by call on four encoders in turn (`--repeats` rounds; each encoder's time is the sum of its
per-call medians):

- torch fp32: the packed copy, as predictions run by default;
- torch int8: the int8 copy (`inference_precision = "int8"`);
- ORT fp32: the module exported to ONNX (`torch.onnx.export`), then fused by ONNX Runtime's
  BERT optimizer (one Attention node per layer, SkipLayerNormalization, BiasGelu,
  EmbedLayerNormalization), run by its CPU execution provider;
- ORT int8: that graph after ONNX Runtime's dynamic quantization (int8 weights per channel,
  8-bit activations: QAttention, DynamicQuantizeMatMul).

Each gets the same threads (ONNX Runtime's without spin-waiting, which would take the cores
from the next engine in the rotation). `max_abs_diff` is the largest difference from the fp32
module's hidden states on a real position of the first calls. Converting (export, optimizing,
quantizing) is timed apart: a process would pay it once per model.

It needs `onnxruntime` and `onnx` (`pip install -e ".[bench]"`); the package does not.

    python bench/onnxruntime_engine.py --model training/model-best --task qa
        [--dev DEV.spacy] [--max-dev-docs 300] [--long-texts 6 --long-words 1000]
        [--repeats 3] [--threads N] [--json OUT.json]
"""

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict

from encoder_replay import build_copies, record_task_calls, replay
from harness import cli, common, corpus

ENGINES = ("torch fp32", "torch int8", "ORT fp32", "ORT int8")
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def main() -> None:
    parser = cli.benchmark_parser(__doc__, smoke="8 dev docs, 1 round")
    parser.add_argument("--model", type=Path, required=True, help="a trained pipeline")
    parser.add_argument("--task", choices=["ner", "qa", "long"], required=True)
    parser.add_argument("--dev", type=Path, help="the task's dev .spacy file (default: the split)")
    parser.add_argument("--corpus", type=Path, default=corpus.CORPUS, help="the splits' folder")
    parser.add_argument("--max-dev-docs", type=common.positive_int, help="the first N dev docs")
    parser.add_argument("--repeats", type=common.positive_int, default=3, help="replay rounds")
    parser.add_argument("--long-texts", type=common.positive_int, default=6)
    parser.add_argument("--long-words", type=common.positive_int, default=1000)
    cli.run(parser.parse_args(), measure, render)


def export_onnx(module, sample: Dict[str, Any], folder: Path) -> Dict[str, Any]:
    """The module as ONNX files in `folder`: "fp32" (fused) and "int8"; and seconds per step."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers import optimizer

    class HiddenStates(torch.nn.Module):  # ONNX graphs return tensors, not HF output objects
        def __init__(self, bert) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    seconds = {}
    start = time.perf_counter()
    exported, fused, int8 = folder / "encoder.onnx", folder / "fused.onnx", folder / "int8.onnx"
    dynamic = {name: {0: "windows", 1: "length"} for name in (*INPUTS, "hidden")}
    with torch.no_grad():
        torch.onnx.export(
            HiddenStates(module).eval(),
            tuple(feed(sample)[name] for name in INPUTS),
            str(exported),
            input_names=list(INPUTS),
            output_names=["hidden"],
            dynamic_axes=dynamic,
            opset_version=17,
            dynamo=False,
        )
    seconds["export"] = time.perf_counter() - start
    start = time.perf_counter()
    config = module.config
    optimized = optimizer.optimize_model(
        str(exported),
        model_type="bert",
        num_heads=config.num_attention_heads,
        hidden_size=config.hidden_size,
    )
    fusions = {k: v for k, v in optimized.get_fused_operator_statistics().items() if v}
    optimized.save_model_to_file(str(fused))
    seconds["optimize"] = time.perf_counter() - start
    start = time.perf_counter()
    quantize_dynamic(
        str(fused),
        str(int8),
        per_channel=True,
        reduce_range=False,  # 8-bit activations, as int8_activation_range "full"
        weight_type=QuantType.QInt8,
        # the fused contrib ops carry no shape-inferred types; their outputs are fp32
        extra_options={"DefaultTensorType": 1},
    )
    seconds["quantize"] = time.perf_counter() - start
    return {"fp32": fused, "int8": int8, "seconds": seconds, "fusions": fusions}


def feed(kwargs: Dict[str, Any]) -> Dict[str, Any]:
    """The recorded call's inputs as the exported graph takes them (int64; segment ids 0 when
    the call had none)."""
    import torch

    ids = kwargs["input_ids"]
    return {
        name: (kwargs[name] if kwargs.get(name) is not None else torch.zeros_like(ids)).long()
        for name in INPUTS
    }


def ort_runner(path: Path, threads: int) -> Callable[..., Any]:
    """A callable taking a recorded call's arguments, returning the hidden states (torch)."""
    import onnxruntime
    import torch

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # ONNX Runtime's threads otherwise spin for a while after each run, taking the cores from
    # the engine that runs next in the replay's rotation.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def run(*args, **kwargs):
        inputs = {name: value.numpy() for name, value in feed(kwargs).items()}
        return torch.from_numpy(session.run(None, inputs)[0])

    return run


def max_abs_diff(module, engine: Callable[..., Any], calls) -> float:
    """The largest difference from `module`'s hidden states on a real position."""
    import torch

    worst = 0.0
    with torch.inference_mode():
        for args, kwargs in calls:
            expected = module(*args, **kwargs).last_hidden_state
            got = engine(*args, **kwargs)
            got = getattr(got, "last_hidden_state", got)
            real = kwargs["attention_mask"].bool()
            worst = max(worst, (got - expected)[real].abs().max().item())
    return worst


def measure(args: argparse.Namespace) -> Dict[str, Any]:
    recorded = record_task_calls(args)
    module, calls = recorded["module"], recorded["calls"]
    copies = build_copies(module)
    with tempfile.TemporaryDirectory() as folder:
        onnx = export_onnx(module, calls[0][1], Path(folder))
        engines = {
            "torch fp32": copies["fp32"],
            "torch int8": copies["int8"],
            "ORT fp32": ort_runner(onnx["fp32"], args.threads),
            "ORT int8": ort_runner(onnx["int8"], args.threads),
        }
        diffs = {name: max_abs_diff(module, engine, calls[:5]) for name, engine in engines.items()}
        seconds = replay(engines, calls, 1 if args.smoke else args.repeats)
    return {
        "task": args.task,
        "model": str(args.model),
        "dev": recorded["dev"],
        "dev_docs": recorded["dev_docs"],
        "calls": len(calls),
        "wordpieces": sum(kwargs["input_ids"].numel() for _, kwargs in calls),
        "repeats": 1 if args.smoke else args.repeats,
        "threads": args.threads,
        "versions": {**common.versions(), **onnx_versions()},
        "convert_seconds": onnx["seconds"],
        "fusions": onnx["fusions"],
        "seconds": seconds,
        "max_abs_diff": diffs,
    }


def onnx_versions() -> Dict[str, str]:
    from importlib.metadata import version

    return {name: version(name) for name in ("onnxruntime", "onnx")}


def render(report: Dict[str, Any]) -> None:
    seconds, diffs = report["seconds"], report["max_abs_diff"]
    base = seconds["torch fp32"]
    print(
        f"## Encoder calls of a {report['task']} evaluation on four engines: {report['calls']} "
        f"calls, {report['wordpieces']:,} padded wordpieces, {report['dev_docs']} dev docs\n"
    )
    print("| engine | seconds | speed-up over torch fp32 | max abs diff from the module |")
    print("| --- | ---: | ---: | ---: |")
    for name in ENGINES:
        print(f"| {name} | {seconds[name]:.3f} | {base / seconds[name]:.2f}x | {diffs[name]:.1e} |")
    convert = report["convert_seconds"]
    print(
        f"\nConverting for ONNX Runtime: export {convert['export']:.1f} s, optimize "
        f"{convert['optimize']:.1f} s, quantize {convert['quantize']:.1f} s; fused nodes "
        f"{report['fusions']} (sum of per-call medians of {report['repeats']} rounds)."
    )


if __name__ == "__main__":
    main()
