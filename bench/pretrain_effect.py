"""Does continued pre-training help? Held-out perplexity, then the same fine-tuning budget from
MiniLM and from the adapted encoder, on two domains (WNUT-17 tweets, SST-2 movie reviews).

Parts (each cached in OUTPUT, so the whole comparison is one resumable command):

1. corpus: WNUT-17 train / dev (`convert conll`); SST-2 train shuffled with seed 0 (`convert
   textcat`): the first --sst2-dev sentences are the dev set, the next --sst2-train the labelled
   fine-tuning set, and the next --sst2-raw (which include those, never the dev ones) the raw
   text. The raw text of WNUT-17 is its train tweets: task-adaptive pre-training (Gururangan et
   al. 2020) on text the fine-tuning also sees, never on dev text.
2. pretrain: `python -m spacy_bert_tasks pretrain` per domain, --pretrain-steps each:
   `head` (--freeze-encoder at --head-learn-rate: MiniLM as it is, with a fitted masked-LM head:
   the perplexity baseline, since MiniLM ships no head), `mlm` (the adapted encoder), and for WNUT-17 `nsp`
   (masked-LM + next-sentence prediction on sentence pairs of the tweets).
3. finetune: `init-config --tasks ner` on WNUT-17 / `--tasks textcat` on SST-2 with --encoder
   MiniLM or the adapted encoder, `spacy train`'s loop for --ner-steps / --textcat-steps at
   --learn-rate, one run per --seeds; the last weights scored on the whole dev set.

Usage: python bench/pretrain_effect.py [--parts corpus,pretrain,finetune] [--seeds 0,1]
       [--output bench/results/pretrain] [--threads N] [--json OUT.json]
       python bench/pretrain_effect.py --smoke     # tiny sizes: checks that it runs
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

from harness import cli, common, corpus

DATASETS = common.SHARED / "datasets"
WNUT = DATASETS / "wnut17"
SST2 = DATASETS / "sst2" / "train.tsv"
MINILM = "embedded:all-MiniLM-L6-v2"
PRETRAIN_RUNS = {  # name -> (domain, extra pretrain options)
    "wnut-head": ("wnut", ["--freeze-encoder"]),
    "wnut-mlm": ("wnut", []),
    "wnut-nsp": ("wnut", ["--nsp"]),
    "sst2-head": ("sst2", ["--freeze-encoder"]),
    "sst2-mlm": ("sst2", []),
}
FINETUNE = {  # task -> (domain, starts: MiniLM or a pretrain run)
    "ner": ("wnut", ["minilm", "wnut-mlm", "wnut-nsp"]),
    "textcat": ("sst2", ["minilm", "sst2-mlm"]),
}
SCORE = {"ner": "ents_f", "textcat": "cats_accuracy"}


def parse_args() -> argparse.Namespace:
    parser = cli.benchmark_parser(__doc__, smoke="tiny sizes: checks that it runs")
    parser.add_argument("--parts", default="corpus,pretrain,finetune")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated pretrain runs / fine-tune starts to do now (default all)",
    )
    parser.add_argument(
        "--output", type=Path, default=Path(__file__).resolve().parent / "results" / "pretrain"
    )
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--pretrain-steps", type=common.positive_int, default=200)
    parser.add_argument("--max-length", type=common.positive_int, default=64)
    parser.add_argument("--batch-tokens", type=common.positive_int, default=2048)
    parser.add_argument("--pretrain-learn-rate", type=float, default=1e-4)
    parser.add_argument(
        "--head-learn-rate",
        type=float,
        default=1e-3,
        help="the head-only baseline: a fresh head learns faster than an encoder adapts",
    )
    parser.add_argument("--ner-steps", type=common.positive_int, default=150)
    parser.add_argument("--textcat-steps", type=common.positive_int, default=100)
    parser.add_argument(
        "--learn-rate", type=float, default=1e-4, help="fine-tuning (init-config --learn-rate)"
    )
    parser.add_argument("--sst2-dev", type=common.positive_int, default=1000)
    parser.add_argument("--sst2-train", type=common.positive_int, default=2000)
    parser.add_argument("--sst2-raw", type=common.positive_int, default=20000)
    args = parser.parse_args()
    if args.smoke:
        args.pretrain_steps, args.ner_steps, args.textcat_steps, args.seeds = 2, 2, 2, "0"
        args.sst2_dev, args.sst2_train, args.sst2_raw = 50, 100, 300
        args.output = args.output.with_name(args.output.name + "-smoke")
    args.parts = [p for p in args.parts.split(",") if p]
    args.only = [p for p in args.only.split(",") if p]
    args.seeds = [int(s) for s in args.seeds.split(",")]
    return args


def run(command: List[str], args) -> None:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        **{var: str(args.threads) for var in common.THREAD_ENV_VARS},
    }
    print("$", " ".join(command), flush=True)
    subprocess.run(command, check=True, env=env)


def make_corpus(args) -> Dict[str, Path]:
    folder = args.output / "corpus"
    files = {
        "wnut_train": folder / "wnut_train.spacy",
        "wnut_dev": folder / "wnut_dev.spacy",
        "wnut_raw": folder / "wnut_raw.txt",
        "sst2_dev": folder / "sst2_dev.spacy",
        "sst2_train": folder / "sst2_train.spacy",
        "sst2_raw": folder / "sst2_raw.txt",
    }
    if "corpus" not in args.parts or all(path.exists() for path in files.values()):
        return files
    folder.mkdir(parents=True, exist_ok=True)
    convert = [sys.executable, "-m", "spacy_bert_tasks", "convert"]
    run(convert + ["conll", str(WNUT / "wnut17train.conll"), str(files["wnut_train"])], args)
    run(convert + ["conll", str(WNUT / "emerging.dev.conll"), str(files["wnut_dev"])], args)
    textcat = convert + [
        "textcat",
        str(SST2),
        "--label-names",
        "0=NEGATIVE,1=POSITIVE",
        "--shuffle-seed",
        "0",
    ]
    run(textcat + [str(files["sst2_dev"]), "--limit", str(args.sst2_dev)], args)
    run(
        textcat
        + [str(files["sst2_train"]), "--skip", str(args.sst2_dev), "--limit", str(args.sst2_train)],
        args,
    )
    raw = folder / "sst2_raw.spacy"
    run(textcat + [str(raw), "--skip", str(args.sst2_dev), "--limit", str(args.sst2_raw)], args)
    # Raw text as a user has it: one tweet / review sentence per line.
    files["sst2_raw"].write_text(
        "".join(doc.text + "\n" for doc in corpus.read_docs(raw)), encoding="utf8"
    )
    files["wnut_raw"].write_text(
        "".join(doc.text + "\n" for doc in corpus.read_docs(files["wnut_train"])), encoding="utf8"
    )
    return files


def pretrain(name: str, files: Dict[str, Path], args) -> Path:
    domain, extra = PRETRAIN_RUNS[name]
    out_dir = args.output / "encoders" / name
    if (
        (out_dir / "pretrain_meta.json").exists()
        or "pretrain" not in args.parts
        or (args.only and name not in args.only)
    ):
        return out_dir
    started = time.perf_counter()
    run(
        [
            sys.executable,
            "-m",
            "spacy_bert_tasks",
            "pretrain",
            str(files[f"{domain}_raw"]),
            str(out_dir),
            "--encoder",
            MINILM,
            "--max-steps",
            str(args.pretrain_steps),
            "--max-length",
            str(args.max_length),
            "--batch-tokens",
            str(args.batch_tokens),
            "--learn-rate",
            str(args.head_learn_rate if "--freeze-encoder" in extra else args.pretrain_learn_rate),
            "--eval-every",
            str(args.pretrain_steps),
            "--checkpoint-every",
            "1000000",
            "--txt-layout",
            "lines",
            *extra,
        ],
        args,
    )
    meta = json.loads((out_dir / "pretrain_meta.json").read_text())
    meta["wall_seconds"] = time.perf_counter() - started
    (out_dir / "pretrain_meta.json").write_text(json.dumps(meta, indent=2))
    return out_dir


def finetune(task: str, start: str, seed: int, files: Dict[str, Path], args) -> None:
    """Train `task` from `start` for the fixed budget; score the last weights on the whole dev set."""
    result_path = args.output / "finetune" / f"{task}-{start}-seed{seed}.json"
    if (
        result_path.exists()
        or "finetune" not in args.parts
        or (args.only and start not in args.only)
    ):
        return
    from spacy import util
    from spacy.training import Corpus
    from spacy.training.initialize import init_nlp
    from spacy.training.loop import train

    from spacy_bert_tasks.config import generate_config

    domain = FINETUNE[task][0]
    encoder = MINILM if start == "minilm" else str(args.output / "encoders" / start)
    steps = args.ner_steps if task == "ner" else args.textcat_steps
    folder = args.output / "finetune" / f"{task}-{start}-seed{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    # spaCy evaluates at step 0 and every eval_frequency: on a few docs only, to save time;
    # the score below is the whole dev set's.
    small_dev = corpus.write_subset(
        files[f"{domain}_dev"], 20, args.output / "corpus" / f"{domain}_dev_first20.spacy"
    )
    config = generate_config([task], encoder=encoder, max_steps=steps, learn_rate=args.learn_rate)
    config_path = folder / "config.cfg"
    config.to_disk(config_path)
    overrides = {
        "paths.train": str(files[f"{domain}_train"]),
        "paths.dev": str(small_dev),
        "system.seed": seed,
        "training.eval_frequency": steps,
    }
    started = time.perf_counter()
    nlp = init_nlp(util.load_config(config_path, overrides=overrides, interpolate=False))
    train(nlp, None, stdout=open(os.devnull, "w"), stderr=sys.stderr)
    train_seconds = time.perf_counter() - started
    dev = list(Corpus(str(files[f"{domain}_dev"]))(nlp))
    scores = nlp.evaluate(dev)
    found = {
        "task": task,
        "start": start,
        "encoder": encoder,
        "seed": seed,
        "steps": steps,
        "learn_rate": args.learn_rate,
        "score": scores[SCORE[task]],
        "scores": {k: v for k, v in scores.items() if isinstance(v, (int, float))},
        "dev_docs": len(dev),
        "train_seconds": train_seconds,
    }
    result_path.write_text(json.dumps(found, indent=2))
    print(
        f"{task} from {start}, seed {seed}: {SCORE[task]} {found['score']:.4f} ({train_seconds:.0f} s)",
        flush=True,
    )


def collect(args) -> Dict[str, Any]:
    """Every result there is in OUTPUT: pretrain runs by name, fine-tuning runs in a list."""
    pretrain_runs = {}
    for name in PRETRAIN_RUNS:
        meta_path = args.output / "encoders" / name / "pretrain_meta.json"
        if meta_path.exists():
            meta = json.loads(meta_path.read_text())
            pretrain_runs[name] = {
                key: meta.get(key)
                for key in (
                    "heldout_perplexity_before",
                    "heldout_perplexity_after",
                    "steps",
                    "train_words_per_second",
                    "wall_seconds",
                    "docs",
                )
            }
    folder = args.output / "finetune"
    finetune_runs = (
        [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
        if folder.exists()
        else []
    )
    sizes = {
        key: getattr(args, key)
        for key in (
            "pretrain_steps",
            "max_length",
            "batch_tokens",
            "pretrain_learn_rate",
            "head_learn_rate",
            "ner_steps",
            "textcat_steps",
            "learn_rate",
            "sst2_dev",
            "sst2_train",
            "sst2_raw",
            "seeds",
        )
    }
    return {"sizes": sizes, "pretrain": pretrain_runs, "finetune": finetune_runs}


def tables(found: Dict[str, Any]) -> str:
    """The perplexity and fine-tuning tables, as Markdown (also for docs/benchmarks.md)."""
    sizes = found["sizes"]
    rows = [
        [
            name,
            f"{run['heldout_perplexity_before']:,.0f}",
            f"{run['heldout_perplexity_after']:.2f}",
            str(run["steps"]),
            f"{run['train_words_per_second']:,.0f}",
            f"{run.get('wall_seconds') or 0:.0f}",
        ]
        for name, run in found["pretrain"].items()
    ]
    text = [
        f"Held-out perplexity (5% of each domain's docs, fixed masks, windows of {sizes['max_length']} tokens, batches of "
        f"{sizes['batch_tokens']} padded tokens; 'before' has BERT's freshly initialized head; `-head`: encoder frozen, "
        f"head trained at {sizes['head_learn_rate']}; `-mlm` / `-nsp`: everything trained at {sizes['pretrain_learn_rate']}):",
        "",
        common.markdown_table(["run", "before", "after", "steps", "words/s", "seconds"], rows),
        "",
    ]
    rows = []
    for task, (_, starts) in FINETUNE.items():
        for start in starts:
            runs = sorted(
                (r for r in found["finetune"] if r["task"] == task and r["start"] == start),
                key=lambda r: r["seed"],
            )
            if runs:
                scores = [100 * r["score"] for r in runs]
                rows.append(
                    [
                        task,
                        start,
                        ", ".join(f"{s:.2f}" for s in scores),
                        f"{sum(scores) / len(scores):.2f}",
                        str(runs[0]["steps"]),
                        f"{sum(r['train_seconds'] for r in runs) / len(runs):.0f}",
                    ]
                )
    text += [
        f"Fine-tuning with the same budget from each start (learn rate {sizes['learn_rate']}; one score per seed run, "
        f"seeds from 0); "
        f"NER: WNUT-17 dev entity F1 (1,009 docs); textcat: accuracy on {sizes['sst2_dev']:,} held-out SST-2 train "
        f"sentences, {sizes['sst2_train']:,} to train:",
        "",
        common.markdown_table(
            ["task", "start", "score per seed", "mean", "steps", "seconds"],
            rows,
            text_columns=(0, 1, 2),
        ),
    ]
    return "\n".join(text)


def main() -> None:
    cli.run(parse_args(), measure, lambda found: print("\n" + tables(found)))


def measure(args: argparse.Namespace) -> Dict[str, Any]:
    """Pre-train, fine-tune from each start with each seed; RETURNS what collect finds."""
    files = make_corpus(args)
    for name in PRETRAIN_RUNS:
        pretrain(name, files, args)
    for task, (_, starts) in FINETUNE.items():
        for start in starts:
            for seed in args.seeds:
                finetune(task, start, seed, files, args)
    return collect(args)


if __name__ == "__main__":
    main()
