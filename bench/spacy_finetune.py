"""This package's side of the accuracy table: `spacy train` with an `init-config` config, scored on
the fixed dev sets. The peer of bench/hf_finetune.py.

    python -m spacy_bert_tasks init-config OUT/config.cfg --tasks TASKS --max-steps STEPS
    python -m spacy_bert_tasks train OUT/config.cfg --output OUT/training
        --paths.train ... --paths.dev ...

then `model-last` (not model-best: the dev sets below are the test sets here, so nothing is
chosen on them) is scored on each task's whole dev file with the pipeline's own scorers, on the
gold tokens as hf_finetune.py reads them: `ents_p/r/f` (CoNLL dev), `cats_accuracy` (SST-2 held
out), `qa_exact/qa_f1` (SQuAD dev articles, official metrics; QA docs are read with the
package's reader so questions reach the model). Several tasks train one joint model on all
their train files (a folder of links).

The dev set `spacy train` evaluates on while training is the first --train-eval-docs docs of
each dev file: it only prints progress (model-last is scored) and the full sets would cost an
evaluation's time at every checkpoint.

Resumable: training that finished (OUT/training/done.json) is not run again; the scoring is.
`spacy train` itself cannot resume: an interrupted training starts over.

Usage: python bench/spacy_finetune.py --tasks ner [--steps 400] [--output DIR] [--json OUT]
       python bench/spacy_finetune.py --tasks ner,textcat,qa --smoke
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from harness import cli, common, corpus

TASKS = ("ner", "textcat", "qa")
SCORES = {  # what report.py reads, per task
    "ner": ("ents_p", "ents_r", "ents_f"),
    "textcat": ("cats_accuracy", "cats_macro_f"),
    "qa": ("qa_exact", "qa_f1", "qa_total"),
}


def parse_args() -> argparse.Namespace:
    parser = cli.benchmark_parser(__doc__, smoke="a few steps on a few docs")
    parser.add_argument("--tasks", required=True, help="comma-separated: ner, textcat, qa")
    parser.add_argument("--corpus", type=Path, default=corpus.CORPUS, help="see corpus.py")
    parser.add_argument("--steps", type=common.positive_int, default=400)
    parser.add_argument("--output", type=Path, help="default bench/results/train/TASKS")
    parser.add_argument(
        "--max-train-docs", type=common.positive_int, help="first N of each train file"
    )
    parser.add_argument("--max-dev-docs", type=common.positive_int, help="first N of each dev file")
    parser.add_argument("--train-eval-docs", type=common.positive_int, default=200)
    args = parser.parse_args()
    args.tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    if not args.tasks or not set(args.tasks) <= set(TASKS):
        parser.error(f"--tasks: expected some of {','.join(TASKS)}, got {args.tasks}")
    if args.smoke:
        args.steps, args.max_train_docs, args.max_dev_docs, args.train_eval_docs = 4, 40, 30, 10
    args.output = args.output or corpus.BENCH / "results" / "train" / "_".join(args.tasks)
    return args


def prepare_corpora(args) -> Dict[str, Path]:
    """paths.train and paths.dev for `spacy train`: a file for one task, a folder of several.

    args.max_train_docs and args.train_eval_docs: None (all), a count, or a count per task.
    """
    paths = {}
    for split, limits in (("train", args.max_train_docs), ("dev", args.train_eval_docs)):
        folder = args.output / "corpus" / split
        files = []
        for task in args.tasks:
            limit = limits.get(task) if isinstance(limits, dict) else limits
            source = corpus.corpus_file(args.corpus, task, split)
            target = folder / source.name
            files.append(corpus.write_subset(source, limit, target))
        if len(files) == 1:
            paths[split] = files[0]
            continue
        folder.mkdir(parents=True, exist_ok=True)
        for file in files:  # links to the full files: spaCy reads every .spacy file in a folder
            link = folder / file.name
            if file.parent != folder and not link.exists():
                link.symlink_to(file.resolve())
        paths[split] = folder
    return paths


def train(
    args,
    paths: Optional[Dict[str, Path]] = None,
    budget: Optional[List[str]] = None,
    train_overrides: Sequence[str] = (),
) -> Dict[str, Any]:
    """Run init-config and spacy train unless a finished run is there; RETURNS its record.

    paths: paths.train and paths.dev (default: prepare_corpora(args)); budget: init-config's
    budget options (default: --max-steps args.steps); train_overrides: spacy train's overrides.
    """
    done = args.output / "training" / "done.json"
    paths = paths or prepare_corpora(args)
    config = args.output / "config.cfg"
    budget = budget or ["--max-steps", str(args.steps)]
    commands = [
        ["python", "-m", "spacy_bert_tasks", "init-config", str(config)]
        + ["--tasks", ",".join(args.tasks), *budget],
        [
            "python",
            "-m",
            "spacy_bert_tasks",  # spacy train, plus training/train_log.jsonl
            "train",
            str(config),
            "--output",
            str(args.output / "training"),
            "--paths.train",
            str(paths["train"]),
            "--paths.dev",
            str(paths["dev"]),
            *train_overrides,
        ],
    ]
    if done.is_file():
        record = json.loads(done.read_text(encoding="utf8"))
        if record.get("commands") == commands:
            print(f"reusing the finished training in {done.parent}")
            return record
    start = time.perf_counter()
    for command in commands:
        print("$", " ".join(command), flush=True)
        subprocess.run([sys.executable] + command[1:], check=True)
    record = {"commands": commands, "train_seconds": time.perf_counter() - start}
    common.write_json(done, record)
    return record


def score(model: Path, args) -> Dict[str, Dict[str, Any]]:
    """Each task's scores of the pipeline at `model` on that task's dev file."""
    import spacy

    from spacy_bert_tasks.qa.corpus import qa_example

    nlp = spacy.load(model)
    scores = {}
    for task in args.tasks:
        dev = corpus.read_docs(
            corpus.corpus_file(args.corpus, task, "dev"), args.max_dev_docs, nlp.vocab
        )
        start = time.perf_counter()
        examples = [
            qa_example(nlp, doc) if doc._.question is not None else example(nlp, doc) for doc in dev
        ]
        found = nlp.evaluate(examples)
        scores[task] = {key: found.get(key) for key in SCORES[task]}
        scores[task]["dev_docs"] = len(dev)
        scores[task]["eval_seconds"] = time.perf_counter() - start
        print(
            task, ", ".join(f"{k} {v:.4f}" for k, v in scores[task].items() if isinstance(v, float))
        )
    return scores


def example(nlp, reference):
    """An NER or textcat dev example on the gold tokens, as hf_finetune.py reads them."""
    from spacy.tokens import Doc
    from spacy.training import Example

    words = [token.text for token in reference]
    spaces = [bool(token.whitespace_) for token in reference]
    return Example(Doc(nlp.vocab, words=words, spaces=spaces), reference)


def main() -> None:
    # The pinned threads reach spacy train's process too, through the environment.
    cli.run(parse_args(), measure, lambda report: print(json.dumps(report["scores"], indent=2)))


def measure(args: argparse.Namespace) -> Dict[str, Any]:
    """Train (or reuse a finished training), then score; RETURNS (Dict[str, Any]): the report."""
    record = train(args)
    model = args.output / "training" / "model-last"
    return {
        "tasks": args.tasks,
        "versions": common.versions(),
        "threads": args.threads,
        "args": cli.arguments(args),
        **record,
        "model": str(model),
        "scores": score(model, args),
    }


if __name__ == "__main__":
    main()
