"""Equal wall-clock: this package's default recipe against a standard HF fine-tune of the same
encoder on the same data, given the same training time, one task at a time.

For each seed:

1. HF: `hf_finetune.py --recipe standard` (AdamW 5e-5, warm-up 10% then linear decay, 32
   examples per batch (16 for QA), 2 epochs CoNLL / 1 SST-2 / 2 SQuAD), scored on the whole dev
   file at --hf-eval-points evenly spaced steps. Its JSON is kept (--hf-json, `{seed}` and
   `{task}` filled in) and read instead of training again when it is there: an expensive
   reference runs once. Its train_seconds is the budget B.
2. Ours: `init-config --tasks TASK` (the package's defaults) and `spacy train` in this process
   (harness/timed_train.py). A short calibration run (--calibration-steps, same config and
   overrides) measures our first step and seconds per step; max_steps is then the most that fit
   B, with init-config's evaluation spacing for it (harness/wallclock.py). Training also stops
   once B is spent (after that step), so a calibration that under-estimates our step time
   cannot give us more time than HF; "our steps" then reads "N of max_steps".
   `--override KEY VALUE` passes config overrides (recipe variants) to both runs.
3. model-last is scored on the whole dev file with the pipeline's scorers
   (spacy_finetune.score).

The numbers, each on the task's held-out dev file (CoNLL dev, SST-2 held-out 2,000, SQuAD dev
articles) and key (ents_f, cats_accuracy, qa_f1), in points (x 100):

    HF            the HF model's final score; HF s: its training seconds (= the budget B)
    ours          model-last's score after training within B; ours s: its training seconds
    diff          ours - HF
    HF to reach   training seconds at HF's first evaluation point that reached HF's final
                  score (with one evaluation point: B)
    ours to reach training seconds at our first evaluation that reached HF's final score; None
                  if none did. Our evaluations run on the first --train-eval-docs dev docs (all by
                  default, the final score's set); on a subset this reading is approximate.

Training seconds on both sides exclude model loading, evaluation and (ours) checkpoint saves.

Usage: python bench/head_to_head.py --task textcat [--seeds 0,1,2] [--json OUT.json]
       [--hf-json PATH] [--override training.optimizer.learn_rate.initial_rate 1e-4]
       python bench/head_to_head.py --task textcat --smoke
"""

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict

import spacy_finetune
from harness import cli, common, corpus, wallclock

KEYS = {"ner": "ents_f", "textcat": "cats_accuracy", "qa": "qa_f1"}
RESULTS = corpus.BENCH / "results" / "h2h"


def parse_args() -> argparse.Namespace:
    parser = cli.benchmark_parser(__doc__, smoke="a few docs, a few seconds of budget")
    parser.add_argument("--task", choices=KEYS, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", help="comma-separated seeds (replaces --seed)")
    parser.add_argument("--corpus", type=Path, default=corpus.CORPUS, help="see corpus.py")
    parser.add_argument("--output", type=Path, default=RESULTS, help="runs go here")
    parser.add_argument(
        "--hf-json", help="the HF run's JSON, read if there, else written ({task}, {seed})"
    )
    parser.add_argument("--hf-eval-points", type=common.positive_int, default=4)
    parser.add_argument("--calibration-steps", type=common.positive_int, default=50)
    parser.add_argument(
        "--override",
        nargs=2,
        action="append",
        default=[],
        metavar=("KEY", "VALUE"),
        help="our config override, e.g. training.optimizer.learn_rate.initial_rate 1e-4",
    )
    parser.add_argument("--max-train-docs", type=common.positive_int)
    parser.add_argument("--max-dev-docs", type=common.positive_int)
    parser.add_argument("--train-eval-docs", type=common.positive_int, help="default: all")
    args = parser.parse_args()
    args.seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else [args.seed]
    args.tasks = [args.task]  # what spacy_finetune's helpers read
    if args.smoke:
        args.max_train_docs, args.max_dev_docs, args.train_eval_docs = 40, 30, 10
        args.calibration_steps, args.hf_eval_points = 2, 2
        args.output = args.output / "smoke"
    args.hf_json = args.hf_json or str(args.output / "hf_{task}_seed{seed}.json")
    return args


def run_hf(args, seed: int) -> Dict[str, Any]:
    """The HF standard fine-tune's report for `seed`: read from --hf-json, else trained."""
    path = Path(args.hf_json.format(task=args.task, seed=seed))
    if path.is_file():
        print(f"reading the HF run from {path}")
        return json.loads(path.read_text(encoding="utf8"))
    command = [sys.executable, str(corpus.BENCH / "hf_finetune.py"), "--task", args.task]
    command += ["--recipe", "standard", "--seed", str(seed), "--corpus", str(args.corpus)]
    command += ["--eval-points", str(args.hf_eval_points), "--threads", str(args.threads)]
    command += ["--json", str(path)]
    for flag in ("max_train_docs", "max_dev_docs"):
        if getattr(args, flag):
            command += ["--" + flag.replace("_", "-"), str(getattr(args, flag))]
    if args.smoke:  # 10 steps of 8 docs: a budget that fits our first steps
        command += ["--smoke", "--epochs", "2"]
    print("$", " ".join(command[1:]), flush=True)
    subprocess.run(command, check=True)
    return json.loads(path.read_text(encoding="utf8"))


def run_ours(args, seed: int, budget: float) -> Dict[str, Any]:
    """Calibrate, train our default recipe within `budget` training seconds, score model-last."""
    from harness.timed_train import train_timed
    from spacy import util
    from spacy.cli._util import parse_config_overrides

    out = args.output / f"{args.task}_seed{seed}"
    finetune_args = argparse.Namespace(**{**vars(args), "output": out})
    paths = spacy_finetune.prepare_corpora(finetune_args)
    tiny_dev = corpus.write_subset(
        corpus.corpus_file(args.corpus, args.task, "dev"), 10, out / "corpus" / "calibration.spacy"
    )
    overrides = parse_config_overrides([part for pair in args.override for part in pair])
    overrides = {**overrides, "paths.train": str(paths["train"]), "system.seed": seed}

    calibration = init_config(args, out / "calibration.cfg", args.calibration_steps)
    timed = train_timed(
        calibration,
        out / "calibration",
        {**overrides, "paths.dev": str(tiny_dev), **every(args.calibration_steps)},
    )
    first, last = timed["step_seconds"][0], timed["step_seconds"][-1]
    per_step = (last - first) / args.calibration_steps
    schedule = wallclock.budget_schedule(budget, per_step, first)
    config = init_config(args, out / "config.cfg", schedule.max_steps)
    written = util.load_config(config)["training"]
    if (written["max_steps"], written["eval_frequency"]) != tuple(schedule):
        raise SystemExit(
            f"error: init-config wrote max_steps {written['max_steps']}, eval_frequency "
            f"{written['eval_frequency']} in {config}; expected {tuple(schedule)}"
        )
    print(
        f"budget {budget:.0f} s: first step {first:.2f} s, then {per_step:.3f} s/step -> "
        f"max_steps {schedule.max_steps}, evaluated every {schedule.eval_frequency}",
        flush=True,
    )
    # The budget also stops training outright (after the step that spends it): a calibration
    # that under-estimates our step time must not buy us more training time than HF had.
    timed = train_timed(
        config, out / "training", {**overrides, "paths.dev": str(paths["dev"])}, stop_after=budget
    )
    steps_run = len(timed["step_seconds"]) - 1  # spaCy's steps count from 0
    if steps_run < schedule.max_steps:
        print(
            f"the budget stopped training at step {steps_run} of {schedule.max_steps}", flush=True
        )
    scores = spacy_finetune.score(out / "training" / "model-last", finetune_args)[args.task]
    return {
        "calibration": {"first_step_seconds": first, "seconds_per_step": per_step},
        "max_steps": schedule.max_steps,
        "steps_run": steps_run,
        "eval_frequency": schedule.eval_frequency,
        "overrides": args.override,
        **timed,
        "scores": scores,
    }


def init_config(args, path: Path, steps: int) -> Path:
    """Our defaults: the config `init-config --tasks TASK --max-steps STEPS` writes."""
    command = [sys.executable, "-m", "spacy_bert_tasks", "init-config", str(path)]
    subprocess.run(command + ["--tasks", args.task, "--max-steps", str(steps)], check=True)
    return path


def every(steps: int) -> Dict[str, int]:
    """Overrides for a run of exactly `steps` steps, evaluated once at the end (and at step 0)."""
    return {"training.max_steps": steps, "training.eval_frequency": steps}


def compare(task: str, hf: Dict[str, Any], ours: Dict[str, Any]) -> Dict[str, Any]:
    """The row of one seed: scores in points, seconds, time to reach HF's final score."""
    key = KEYS[task]
    target = hf["scores"][key]
    hf_curve = hf.get("curve") or [{"train_seconds": hf["train_seconds"], "scores": hf["scores"]}]
    return {
        "hf": 100 * target,
        "hf_seconds": hf["train_seconds"],
        "ours": 100 * ours["scores"][key],
        "ours_seconds": ours["train_seconds"],
        "diff": 100 * (ours["scores"][key] - target),
        # our last evaluation within HF's training seconds (on the --train-eval-docs set; for a
        # run that overshot the budget)
        "ours_within_budget": wallclock.score_within(ours["curve"], key, hf["train_seconds"]),
        "hf_to_reach": wallclock.time_to_reach(hf_curve, key, target),
        "ours_to_reach": wallclock.time_to_reach(ours["curve"], key, target),
        "ours_steps": ours["max_steps"],
        "ours_steps_run": ours.get("steps_run", ours["max_steps"]),
    }


def measure(args: argparse.Namespace) -> Dict[str, Any]:
    runs = {}
    for seed in args.seeds:
        hf = run_hf(args, seed)
        ours = run_ours(args, seed, hf["train_seconds"])
        runs[seed] = {"hf": hf, "ours": ours, "row": compare(args.task, hf, ours)}
    diffs = [run["row"]["diff"] for run in runs.values()]
    return {
        "task": args.task,
        "key": KEYS[args.task],
        "versions": common.versions(),
        "threads": args.threads,
        "args": cli.arguments(args),
        "runs": runs,
        "mean_diff": statistics.mean(diffs),
        "stdev_diff": statistics.stdev(diffs) if len(diffs) > 1 else None,
    }


def render(report: Dict[str, Any]) -> None:
    def seconds(value):
        return "never" if value is None else f"{value:,.0f}"

    def steps(row):
        run, planned = row.get("ours_steps_run", row["ours_steps"]), row["ours_steps"]
        return str(planned) if run >= planned else f"{run} of {planned}"

    rows = []
    for seed, run in report["runs"].items():
        row = run["row"]
        rows.append(
            [str(seed), f"{row['hf']:.2f}", seconds(row["hf_seconds"]), f"{row['ours']:.2f}"]
            + [seconds(row["ours_seconds"]), f"{row['diff']:+.2f}"]
            + [seconds(row["hf_to_reach"]), seconds(row["ours_to_reach"]), steps(row)]
        )
    print(cli.headline(report, f"{report['task']}, {report['key']} on the held-out dev file"))
    header = [
        "seed",
        "HF",
        "HF s",
        "ours",
        "ours s",
        "diff",
        "HF s to reach HF",
        "ours s to reach HF",
    ]
    print(common.markdown_table(header + ["our steps"], rows))
    spread = report["stdev_diff"]
    print(
        f"\nmean diff {report['mean_diff']:+.2f} points" + (f" (sd {spread:.2f})" if spread else "")
    )


def main() -> None:
    cli.run(parse_args(), measure, render)


if __name__ == "__main__":
    main()
