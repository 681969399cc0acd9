"""Recipe settings one at a time: the same training as bench/spacy_finetune.py, with config
overrides per variant, scored on the task's whole dev file; one row per variant with its score
and training time.

Variants (each against `base`, the config init-config writes):

    base       init-config's config (Adam.v2, warm-up 10% then linear decay)
    thinc      the encoder stepped through thinc (torch_encoder = false): the "before" of the step
    llrd       layer_lr_decay = 0.9
    ema        use_averages = true (evaluate and save the moving average)
    no-warmup  warmup_steps = 0 (decay only)
    patience   [training] patience = 2 evaluations' worth of steps (early stopping)
    mean-pool  textcat only: the doc vector is the mean of the final wordpiece states, not [CLS]
    cls-pool   textcat only: the doc vector is the final [CLS] state

Usage: python bench/recipe.py --task textcat --steps 200 --variants base,llrd [--seed 0]
       [--json OUT.json]
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import spacy_finetune
from harness import cli, common, corpus

VARIANTS: Dict[str, List[str]] = {
    "base": [],
    "thinc": ["--training.optimizer.torch_encoder", "false"],
    "llrd": ["--training.optimizer.layer_lr_decay", "0.9"],
    "ema": ["--training.optimizer.use_averages", "true"],
    "no-warmup": ["--training.optimizer.learn_rate.warmup_steps", "0"],
    "patience": [],  # set from the evaluation spacing in main
    "mean-pool": ["--components.textcat.model.tok2vec.pooling", "mean"],
    "cls-pool": ["--components.textcat.model.tok2vec.pooling", "cls"],
}


def parse_args() -> argparse.Namespace:
    parser = cli.benchmark_parser(__doc__)
    parser.add_argument("--task", default="textcat", choices=spacy_finetune.TASKS)
    parser.add_argument("--variants", default="base,llrd,ema")
    parser.add_argument("--steps", type=common.positive_int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--corpus", type=Path, default=corpus.CORPUS)
    parser.add_argument("--max-train-docs", type=common.positive_int)
    parser.add_argument("--max-dev-docs", type=common.positive_int)
    parser.add_argument("--train-eval-docs", type=common.positive_int, default=200)
    parser.add_argument("--output", type=Path, default=corpus.BENCH / "results" / "recipe")
    args = parser.parse_args()
    args.variants = [v for v in args.variants.split(",") if v]
    unknown = set(args.variants) - set(VARIANTS)
    if unknown:
        parser.error(f"--variants: unknown {sorted(unknown)}; choose from {', '.join(VARIANTS)}")
    args.tasks = [args.task]
    return args


def run_variant(args, variant: str) -> Dict:
    from spacy import util

    out = args.output / f"{args.task}_{variant}_seed{args.seed}"
    finetune_args = argparse.Namespace(**{**vars(args), "output": out})
    paths = spacy_finetune.prepare_corpora(finetune_args)
    config = out / "config.cfg"
    python = [sys.executable, "-m", "spacy_bert_tasks"]
    subprocess.run(
        python + ["init-config", str(config), "--tasks", args.task, "--max-steps", str(args.steps)],
        check=True,
    )
    overrides = list(VARIANTS[variant])
    if variant == "patience":
        every = util.load_config(config)["training"]["eval_frequency"]
        overrides = ["--training.patience", str(2 * every)]
    command = python + [
        "train",
        str(config),
        "--output",
        str(out / "training"),
        "--paths.train",
        str(paths["train"]),
        "--paths.dev",
        str(paths["dev"]),
        "--system.seed",
        str(args.seed),
        *overrides,
    ]
    start = time.perf_counter()
    subprocess.run(command, check=True)
    seconds = time.perf_counter() - start
    log = [
        json.loads(line) for line in (out / "training" / "train_log.jsonl").read_text().splitlines()
    ]
    scores = spacy_finetune.score(out / "training" / "model-last", finetune_args)[args.task]
    return {
        "overrides": overrides,
        "train_seconds": seconds,
        "last_step": log[-1]["step"],
        "scores": scores,
        "command": " ".join(command[1:]),
    }


def main() -> None:
    args = parse_args()
    key = spacy_finetune.SCORES[args.task][0]

    def measure(args: argparse.Namespace) -> Dict[str, Any]:
        rows = {variant: run_variant(args, variant) for variant in args.variants}
        return {"args": cli.arguments(args), "rows": rows}

    def render(report: Dict[str, Any]) -> None:
        rows, table = report["rows"], []
        base = rows.get("base")
        for variant, found in rows.items():
            delta = f"{100 * (found['scores'][key] - base['scores'][key]):+.2f}" if base else "-"
            cost = f"{found['train_seconds'] / base['train_seconds']:.2f}x" if base else "-"
            table.append(
                [
                    variant,
                    f"{100 * found['scores'][key]:.2f}",
                    delta,
                    f"{found['train_seconds']:.0f}",
                    cost,
                    str(found["last_step"]),
                ]
            )
        print(
            f"\n{args.task}, {args.steps} steps, seed {args.seed}, {args.threads} threads; {key} on the dev file\n"
        )
        print(
            common.markdown_table(
                ["variant", key, "vs base", "train s", "time vs base", "last step"], table
            )
        )

    cli.run(args, measure, render)


if __name__ == "__main__":
    main()
