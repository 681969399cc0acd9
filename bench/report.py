"""Run every benchmark and accuracy run, then write docs/benchmarks.md: one command.

    python bench/report.py                 # everything, full size: hours on 2 cores
    python bench/report.py --reuse         # keep every result already measured by the same command
    python bench/report.py --smoke         # everything tiny (minutes): checks the whole chain
    python bench/report.py --reuse --only pipe_speed,flops   # rerun some steps, reuse the rest
    python bench/report.py --render-only   # rewrite the page from the results there are
    python bench/report.py --corpus-only   # build the benchmark corpus alone (page untouched)

Each step is one script of bench/ run as a subprocess with --json; its output goes to
RESULTS/logs/STEP.log and its numbers to RESULTS/STEP.json (cache.py says when they are reused).
A failed step is reported and the others still run; the page shows what is missing. Trainings
are resumable at the granularity of a run: spacy_finetune.py keeps a finished training.

Full size writes bench/results/full/ and docs/benchmarks.md (+ docs/img/); --smoke writes
bench/results/smoke/ with its page and plots inside, never over the real page.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Tuple

from harness import cache, common, corpus

REPO = corpus.BENCH.parent
# Training steps of each run; the joint model trains on all three corpora for their sum.
STEPS = {"ner": 300, "textcat": 200, "qa": 600}


class Step(NamedTuple):
    name: str
    command: List[str]  # "python" first: run with this interpreter, shown as typed
    what: str
    # Steps whose output this one reads (a trained model): when one of them runs again, this
    # step's stored result is stale even though its command, the cache key, is unchanged.
    reads: Tuple[str, ...] = ()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="every step tiny: minutes")
    parser.add_argument("--reuse", action="store_true", help="reuse results of the same commands")
    parser.add_argument("--only", help="comma-separated steps to run (others: reused or left out)")
    parser.add_argument("--render-only", action="store_true", help="run nothing, write the page")
    parser.add_argument(
        "--corpus-only",
        action="store_true",
        help="build the benchmark corpus (--corpus) if it is not complete, then stop: the page "
        "is not rewritten",
    )
    parser.add_argument("--results", type=Path, help="default bench/results/{full,smoke}")
    parser.add_argument("--corpus", type=Path, default=corpus.CORPUS)
    parser.add_argument("--out", type=Path, help="default docs/benchmarks.md (smoke: in RESULTS)")
    parser.add_argument(
        "--notes",
        type=Path,
        default=REPO / "docs" / "benchmarks_notes.json",
        help="explanations of missed targets, by target id (JSON)",
    )
    parser.add_argument("--threads", type=common.positive_int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--steps",
        default=",".join(f"{k}={v}" for k, v in STEPS.items()),
        help="training steps per task, e.g. ner=300,textcat=200,qa=600",
    )
    parser.add_argument("--list", action="store_true", help="print the steps and their commands")
    args = parser.parse_args()
    kind = "smoke" if args.smoke else "full"
    args.results = args.results or corpus.BENCH / "results" / kind
    args.out = args.out or (
        args.results / "benchmarks.md" if args.smoke else REPO / "docs" / "benchmarks.md"
    )
    args.img = args.out.parent / "img"
    args.steps = {k: int(v) for k, v in (part.split("=") for part in args.steps.split(","))}
    return args


def rel(path: Path) -> str:
    """A path as typed from the repository root (relative when inside it)."""
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def plan(args) -> List[Step]:
    """Every step, in the order they run: speed first (quick), the long trainings last."""
    res, smoke = args.results, ["--smoke"] if args.smoke else []
    threads = ["--threads", str(args.threads)]
    data = ["--corpus", rel(args.corpus)]

    def bench(name: str, script: str, extra: List[str], what: str, reads=()) -> Step:
        command = [
            "python",
            f"bench/{script}",
            *extra,
            *threads,
            "--json",
            rel(res / f"{name}.json"),
        ]
        return Step(name, command, what, tuple(reads))

    quick_pipe = ["--n-texts", "32", "--repeats", "1"] if args.smoke else []
    quick_qa = ["--n-questions", "16", "--repeats", "1"] if args.smoke else []
    qa_model = res / "train" / "qa" / "training" / "model-last"
    steps = [
        bench("pipe_speed", "pipe_speed.py", quick_pipe, "prediction speed, NER and textcat"),
        bench("peak_rss", "peak_rss.py", smoke, "peak memory"),
        bench("flops", "flops.py", smoke, "encoder FLOP rate"),
        bench(
            "scaling", "scaling.py", smoke + ["--plot", rel(args.img / "scaling.png")], "scaling"
        ),
        bench("train_speed", "train_speed.py", smoke + data, "training speed"),
        bench(
            "annotate_speed", "annotate_speed.py", smoke, "batch annotation, local and Ray engines"
        ),
        bench("pretrain_speed", "pretrain_speed.py", smoke, "pre-training speed"),
    ]

    def n_steps(n: int) -> List[str]:  # --smoke sets its own few steps
        return [] if args.smoke else ["--steps", str(n)]

    for task in ("qa", "ner", "textcat"):
        out = ["--output", rel(res / "train" / task)]
        steps.append(
            bench(
                f"spacy_{task}",
                "spacy_finetune.py",
                ["--tasks", task, *n_steps(args.steps[task]), *out, *data, *smoke],
                f"accuracy: spacy train, {task}",
            )
        )
        if task == "qa":  # the reduced-precision rows are scored with the trained QA model
            steps.append(
                bench(
                    "qa_speed",
                    "qa_speed.py",
                    quick_qa + ["--model", rel(qa_model), "--precisions", "fp32,bf16,int8"],
                    "prediction speed, QA",
                    reads=["spacy_qa"],
                )
            )
    for task in ("ner", "textcat", "qa"):
        steps.append(
            bench(
                f"hf_{task}",
                "hf_finetune.py",
                ["--task", task, *n_steps(args.steps[task]), *data, *smoke],
                f"accuracy: Hugging Face fine-tune, {task}",
            )
        )
    joint = ["--tasks", "ner,textcat,qa", *n_steps(sum(args.steps.values()))]
    steps.append(
        bench(
            "spacy_joint",
            "spacy_finetune.py",
            joint + ["--output", rel(res / "train" / "joint"), *data, *smoke],
            "accuracy: spacy train, joint",
        )
    )
    steps.append(
        bench(
            "pretrain_effect",
            "pretrain_effect.py",
            smoke + ["--output", rel(res / "pretrain")],
            "continued pre-training: perplexity, fine-tuning from MiniLM and the adapted encoder",
        )
    )
    return steps


def run_logged(command: List[str], log: Path, *, append: bool = False) -> int:
    """Run a command from the repository root, its output to the console and to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a" if append else "w", encoding="utf8") as out:
        out.write(f"$ {cache.display_command(command)}\n")
        process = subprocess.Popen(
            [sys.executable] + command[1:],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        for line in process.stdout:
            sys.stdout.write("  " + line)
            out.write(line)
        return process.wait()


def make_corpus(args) -> None:
    if corpus.is_complete(args.corpus) and not (args.only and "corpus" in args.only):
        return
    print(f"== corpus: {rel(args.corpus)}", flush=True)
    args.corpus.mkdir(parents=True, exist_ok=True)
    log = args.results / "logs" / "corpus.log"
    log.unlink(missing_ok=True)
    (args.corpus / corpus.DONE).unlink(missing_ok=True)
    for command in corpus.build_commands(args.corpus):
        if run_logged(command, log, append=True) != 0:
            raise SystemExit(f"error: making the corpus failed: {cache.display_command(command)}")
    (args.corpus / corpus.DONE).write_text("every file of the corpus is written\n", encoding="utf8")


def run_steps(args, steps: List[Step]) -> Dict[str, Optional[dict]]:
    """Run (or reuse) each step; RETURNS each step's record (.meta.json), None if not run."""
    metas: Dict[str, Optional[dict]] = {}
    ran = set()
    for step in steps:
        result = args.results / f"{step.name}.json"
        named = args.only is not None and step.name in args.only
        stale_input = any(name in ran for name in step.reads)
        wanted = args.only is None or named or stale_input
        reusable = cache.cached_result(result, step.command) is not None and not stale_input
        # --only names what to measure again: a step named there runs even if it could be reused.
        if args.render_only or not wanted or (args.reuse and reusable and not named):
            metas[step.name] = cache.read_json(cache.meta_path(result))
            state = "reused" if reusable else "not run"
            print(f"== {step.name}: {state}", flush=True)
            continue
        print(f"== {step.name}: {cache.display_command(step.command)}", flush=True)
        ran.add(step.name)
        cache.forget(result)
        start = time.perf_counter()
        code = run_logged(step.command, args.results / "logs" / f"{step.name}.log")
        metas[step.name] = cache.record_run(
            result, step.command, returncode=code, seconds=time.perf_counter() - start
        )
        if code != 0:
            print(
                f"== {step.name} FAILED (exit {code}): see {rel(args.results / 'logs')}/{step.name}.log"
            )
    return metas


def main() -> None:
    args = parse_args()
    args.only = set(args.only.split(",")) if args.only else None
    steps = plan(args)
    if args.list:
        for step in steps:
            print(f"{step.name:14} {cache.display_command(step.command)}")
        return
    unknown = (args.only or set()) - {s.name for s in steps} - {"corpus"}
    if unknown:
        raise SystemExit(f"error: unknown steps {sorted(unknown)}; see --list")
    if args.corpus_only:  # other benchmarks read the corpus; docs/benchmarks.md stays as it is
        make_corpus(args)
        return
    common.pin_threads(args.threads)  # for the machine description; each step pins its own
    if not args.render_only:
        make_corpus(args)
    metas = run_steps(args, steps)
    import report_md

    results = {
        s.name: cache.cached_result(args.results / f"{s.name}.json", s.command) for s in steps
    }
    page = report_md.render(
        results=results,
        metas=metas,
        commands={s.name: cache.display_command(s.command) for s in steps},
        notes=cache.read_json(args.notes) or {},
        img=args.img,
        page=args.out,
        smoke=args.smoke,
        threads=args.threads,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(page, encoding="utf8")
    failed = [name for name, meta in metas.items() if meta and meta.get("returncode")]
    print(f"\nwrote {rel(args.out)}" + (f"; failed steps: {', '.join(failed)}" if failed else ""))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
