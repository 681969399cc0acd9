"""Joint against single-task training at equal per-task exposure: does sharing the encoder cost
any task accuracy?

For each seed, four trainings with the package's defaults, each budgeted in epochs by
init-config (`--epochs E --train CORPUS`), on the same per-task subsets of the train files:

    ner, textcat, qa   one head each, E epochs of its own subset
    joint              `init-config --tasks ner,textcat,qa`, E epochs of the three subsets
                       together (a folder of the three files, spaCy's default batcher)

spaCy's training loop passes over its whole corpus once per epoch, so in E epochs the joint
model sees each task's docs as often as the single-task model of that task does: exposure is
equal by construction (the step counts printed show it: the joint run's steps are about the sum
of the three single runs'). That joint run is also the default joint recipe, so one comparison
answers both questions: is the joint model within 0.5 point of each single-task model at equal
exposure, and is the default joint run within 1.0.

model-last of each run is scored on each of its tasks' whole dev files (spacy_finetune.score):
ents_f (CoNLL dev), cats_accuracy (SST-2 held out), qa_f1 (SQuAD dev articles).

Resumable: a finished training (its done.json) is reused; scoring runs again.

Usage: python bench/joint.py [--seeds 0,1] [--epochs 2] [--train-docs ner=2000,textcat=4000,qa=400]
       [--json OUT.json]
       python bench/joint.py --smoke
"""

import argparse
import json
import statistics
from pathlib import Path
from typing import Any, Dict, List

import spacy_finetune
from harness import cli, common, corpus

KEYS = {"ner": "ents_f", "textcat": "cats_accuracy", "qa": "qa_f1"}
TASKS = tuple(KEYS)


def train_docs(value: str) -> Dict[str, int]:
    """`ner=2000,textcat=4000,qa=400`: the first N docs of each task's train file."""
    limits = {}
    for part in value.split(","):
        task, _, count = part.partition("=")
        if task not in KEYS or not count:
            raise argparse.ArgumentTypeError(f"expected TASK=N for each of {TASKS}, got {part!r}")
        limits[task] = common.positive_int(count)
    if set(limits) != set(TASKS):
        raise argparse.ArgumentTypeError(f"give a count for each of {', '.join(TASKS)}")
    return limits


def parse_args() -> argparse.Namespace:
    parser = cli.benchmark_parser(__doc__, smoke="a few docs per task, one seed")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds")
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument(
        "--train-docs", type=train_docs, default=train_docs("ner=2000,textcat=4000,qa=400")
    )
    parser.add_argument("--max-dev-docs", type=common.positive_int, help="first N of each dev file")
    parser.add_argument("--train-eval-docs", type=common.positive_int, default=100)
    parser.add_argument("--corpus", type=Path, default=corpus.CORPUS, help="see corpus.py")
    parser.add_argument("--output", type=Path, default=corpus.BENCH / "results" / "joint")
    args = parser.parse_args()
    args.seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    if args.smoke:
        args.seeds, args.epochs = args.seeds[:1], 1.0
        args.train_docs = {"ner": 20, "textcat": 20, "qa": 6}
        args.max_dev_docs, args.train_eval_docs = 10, 5
        args.output = args.output / "smoke"
    return args


def run(args, seed: int, tasks: List[str], folders: Dict[str, Path]) -> Dict[str, Any]:
    """Train one model on `tasks` for args.epochs epochs of their subsets; score model-last.

    folders: the seed's subset folders ("train", "dev"), which hold every task's file.
    """
    name = "joint" if len(tasks) > 1 else tasks[0]
    run_args = argparse.Namespace(
        **{**vars(args), "tasks": tasks, "output": args.output / f"seed{seed}" / name}
    )
    # One task reads its own file of the folders, the joint model the folders themselves.
    paths = {
        split: folder if len(tasks) > 1 else corpus.corpus_file(folder, tasks[0], split)
        for split, folder in folders.items()
    }
    record = spacy_finetune.train(
        run_args,
        paths=paths,
        budget=["--epochs", f"{args.epochs:g}", "--train", str(paths["train"])],
        train_overrides=["--system.seed", str(seed)],
    )
    model = run_args.output / "training" / "model-last"
    log = (run_args.output / "training" / "train_log.jsonl").read_text().splitlines()
    return {
        **record,
        "steps": json.loads(log[-1])["step"] if log else None,
        "epochs_done": json.loads(log[-1])["epoch"] if log else None,
        "scores": spacy_finetune.score(model, run_args),
    }


def measure(args: argparse.Namespace) -> Dict[str, Any]:
    seeds = {}
    for seed in args.seeds:
        # Every task's subsets, written once per seed; all four runs read them.
        subsets = {"tasks": list(TASKS), "max_train_docs": args.train_docs}
        subsets["output"] = args.output / f"seed{seed}"
        folders = spacy_finetune.prepare_corpora(argparse.Namespace(**{**vars(args), **subsets}))
        runs = {task: run(args, seed, [task], folders) for task in TASKS}
        runs["joint"] = run(args, seed, list(TASKS), folders)
        seeds[str(seed)] = runs
    return {"versions": common.versions(), "args": cli.arguments(args), "seeds": seeds}


def render(report: Dict[str, Any]) -> None:
    args = report["args"]
    rows, diffs = [], {task: [] for task in TASKS}
    for seed, runs in report["seeds"].items():
        for task, key in KEYS.items():
            single = 100 * runs[task]["scores"][task][key]
            joint = 100 * runs["joint"]["scores"][task][key]
            diffs[task].append(joint - single)
            rows.append(
                [
                    seed,
                    f"{task} ({key})",
                    f"{single:.2f}",
                    f"{joint:.2f}",
                    f"{joint - single:+.2f}",
                    f"{runs[task]['steps']} / {runs['joint']['steps']}",
                    f"{runs[task]['train_seconds']:.0f} / {runs['joint']['train_seconds']:.0f}",
                ]
            )
    print(
        f"\n{args['epochs']:g} epochs of {args['train_docs']} train docs per task, "
        f"{args['threads']} threads; model-last on each task's dev file\n"
    )
    header = ["seed", "task", "single", "joint", "joint - single", "steps (single / joint)"]
    print(common.markdown_table(header + ["train s (single / joint)"], rows))
    for task, values in diffs.items():
        spread = f" ± {statistics.stdev(values):.2f}" if len(values) > 1 else ""
        print(f"{task}: joint - single {statistics.mean(values):+.2f}{spread} over seeds")


if __name__ == "__main__":
    cli.run(parse_args(), measure, render)
