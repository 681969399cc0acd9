"""Rows/s of `annotate` on 20,000 rows: nlp.pipe in one process against the local engine and
the Ray engine at equal cores, in one run.

    nlp.pipe, 1 process x T threads       docs made from the rows, no file I/O (the ceiling)
    annotate --engine local (T threads)   Parquet in, Parquet out, model loading included
    annotate --engine ray, 1 worker x T   the same through Ray Data (cluster started beforehand)
    annotate --engine ray, T workers x 1

Rows: CoNLL-2003 sentences (train, then valid), then SQuAD questions as plain texts, and
--n-qa SQuAD (question, context) pairs that the QA head answers, shuffled with a fixed seed.
The pipeline: encoder (embedded MiniLM) + bert_ner + bert_textcat + bert_qa from the generated
config, initialized on synthetic examples (random heads: speed does not depend on training),
saved to a temporary folder that every system loads. One pass per system (a pass is minutes).

Usage: python bench/annotate_speed.py [--n-rows 20000] [--n-qa 100] [--threads 2] [--json OUT]
       python bench/annotate_speed.py --smoke
"""

import argparse
import random
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

from harness import cli, common

BATCH_SIZE = 256


def parse_args() -> argparse.Namespace:
    parser = cli.benchmark_parser(__doc__, smoke="200 rows: checks that it runs", threads=2)
    parser.add_argument("--n-rows", type=common.positive_int, default=20000)
    parser.add_argument("--n-qa", type=int, default=100, help="rows with a SQuAD question")
    parser.add_argument("--batch-size", type=common.positive_int, default=BATCH_SIZE)
    args = parser.parse_args()
    if args.smoke:
        args.n_rows, args.n_qa = 200, 10
    if not 0 <= args.n_qa <= args.n_rows:
        parser.error("--n-qa must be between 0 and --n-rows")
    return args


def make_rows(n_rows: int, n_qa: int) -> List[Dict[str, Any]]:
    """Rows {"id", "text", "question"}: short texts, then QA pairs, shuffled (seed 0)."""
    from harness import texts as bench_texts

    n_plain = n_rows - n_qa
    questions = common.load_squad_questions(max(n_qa, 1) + 3000, articles="0-31")
    sentences = bench_texts.conll_sentences(min(n_plain, 17291))
    sentences += [q for q, _, _ in questions[n_qa : n_qa + n_plain - len(sentences)]]
    if len(sentences) < n_plain:
        raise SystemExit(f"error: only {len(sentences)} plain texts; lower --n-rows")
    rows = [{"text": text, "question": None} for text in sentences]
    rows += [{"text": context, "question": q} for q, context, _ in questions[:n_qa]]
    random.Random(0).shuffle(rows)
    return [{"id": i, **row} for i, row in enumerate(rows)]


def run_nlp_pipe(model: Path, rows, found: Dict[str, Any]) -> float:
    """Seconds of list(nlp.pipe(docs)) after a short warm-up (model loaded beforehand; its
    loading time goes to found["model_load_s"])."""
    import spacy

    from spacy_bert_tasks.qa.extensions import install_qa_extensions

    install_qa_extensions()
    start = time.perf_counter()
    nlp = spacy.load(model)
    found["model_load_s"] = time.perf_counter() - start

    def docs():
        for row in rows:
            doc = nlp.make_doc(row["text"])
            doc._.question = row["question"]
            yield doc

    list(nlp.pipe([nlp.make_doc(r["text"]) for r in rows[:50]]))
    start = time.perf_counter()
    for _ in nlp.pipe(docs(), batch_size=BATCH_SIZE):
        pass
    return time.perf_counter() - start


def run_annotate(source: Path, model: Path, folder: Path, name: str, **options) -> Dict[str, Any]:
    from spacy_bert_tasks.annotate import AnnotateOptions, annotate_files

    summary = annotate_files(
        source, folder / f"{name}.parquet", model, AnnotateOptions(progress=False, **options)
    )
    return summary.as_dict()


def main() -> None:
    cli.run(parse_args(), measure, lambda results: print(report_text(results)))


def measure(args: argparse.Namespace) -> Dict[str, Any]:
    """Every system over the same rows; RETURNS (Dict[str, Any]): the results the report shows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from spacy_bert_tasks.annotate.ray_engine import ray_session

    rows = make_rows(args.n_rows, args.n_qa)
    results: Dict[str, Any] = {
        "rows": len(rows),
        "qa_rows": args.n_qa,
        "threads": args.threads,
        "words": common.count_words(r["text"] for r in rows),
        "versions": common.versions(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = folder / "pipeline"
        common.build_spacy_pipeline(["ner", "textcat", "qa"]).to_disk(model)
        source = folder / "rows.parquet"
        pq.write_table(pa.Table.from_pylist(rows), source)
        systems: Dict[str, Dict[str, Any]] = {}
        seconds = run_nlp_pipe(model, rows, results)
        systems["nlp_pipe"] = {"seconds": seconds, "rows_per_s": len(rows) / seconds}
        common_options = {"batch_size": args.batch_size}
        systems["local"] = run_annotate(
            source, model, folder, "local", threads_per_worker=args.threads, **common_options
        )
        start = time.perf_counter()
        # One logical CPU more than the cores, for Ray Data's reading tasks (as the CLI does).
        with ray_session(num_cpus=args.threads + 1):
            results["ray_start_s"] = time.perf_counter() - start
            systems["ray_1x"] = run_annotate(
                source,
                model,
                folder,
                "ray_1x",
                engine="ray",
                workers=1,
                threads_per_worker=args.threads,
                **common_options,
            )
            systems["ray_nx1"] = run_annotate(
                source,
                model,
                folder,
                "ray_nx1",
                engine="ray",
                workers=args.threads,
                threads_per_worker=1,
                **common_options,
            )
        results["same_output"] = same_outputs(folder, ["local", "ray_1x", "ray_nx1"])
        results["driver_io_rows_per_s"] = driver_io_rate(source, folder / "local.parquet", folder)
    results["systems"] = systems
    return results


def driver_io_rate(source: Path, annotated: Path, folder: Path) -> float:
    """Rows/s of what the CLI's driver does per row besides the model, on one core: read the
    input rows, write the annotated rows (already made) through the Parquet writer."""
    import pyarrow.parquet as pq

    from spacy_bert_tasks.annotate.inputs import read_rows
    from spacy_bert_tasks.annotate.outputs import open_output, table_to_rows

    done = table_to_rows(pq.read_table(annotated))
    start = time.perf_counter()
    n_read = sum(1 for _ in read_rows([source]))
    with open_output(folder / "io.parquet", "parquet") as writer:
        for i in range(0, len(done), BATCH_SIZE):
            writer.write(done[i : i + BATCH_SIZE])
    return n_read / (time.perf_counter() - start)


def same_outputs(folder: Path, names: List[str]) -> Dict[str, bool]:
    """Whether each Ray output has the local engine's entities, answers and errors, and scores
    within 1e-5."""
    import pyarrow.parquet as pq

    from spacy_bert_tasks.annotate.outputs import table_to_rows

    def key(row):
        ents = [(e["start_char"], e["end_char"], e["label"]) for e in row["ents"] or []]
        return (row["id"], ents, row["answer"], row["error"])

    def scores(row):
        values = [e["score"] for e in row["ents"] or []] + list((row["cats"] or {}).values())
        return values + ([row["answer_score"]] if row["answer_score"] is not None else [])

    local = table_to_rows(pq.read_table(folder / f"{names[0]}.parquet"))
    found = {}
    for name in names[1:]:
        other = table_to_rows(pq.read_table(folder / f"{name}.parquet"))
        found[name] = len(other) == len(local) and all(
            key(a) == key(b) and all(abs(x - y) <= 1e-5 for x, y in zip(scores(a), scores(b)))
            for a, b in zip(local, other)
        )
    return found


def report_text(results: Dict[str, Any]) -> str:
    """The header line, the table and the notes below it (printed, and in docs/benchmarks.md)."""
    systems, threads = results["systems"], results["threads"]
    labels = {
        "nlp_pipe": f"nlp.pipe, 1 process x {threads} threads (no I/O, model loaded)",
        "local": f"annotate --engine local, {threads} threads",
        "ray_1x": f"annotate --engine ray, 1 worker x {threads} threads",
        "ray_nx1": f"annotate --engine ray, {threads} workers x 1 thread",
    }
    rows = []
    for name, label in labels.items():
        rate = systems[name]["rows_per_s"]
        overhead = ray_overhead(results, name)
        rows.append(
            [
                label,
                f"{rate:,.1f}",
                f"{systems[name]['seconds']:,.1f}",
                f"{rate / systems['nlp_pipe']['rows_per_s']:.2f}x",
                "" if overhead is None else f"{100 * overhead:+.1f}%",
            ]
        )
    table = common.markdown_table(
        ["system", "rows/s", "seconds", "vs nlp.pipe", "Ray overhead vs local"], rows
    )
    return "\n".join(
        [
            f"{results['rows']:,} rows ({results['qa_rows']:,} with a question), {results['words']:,} words; "
            f"{threads} cores; the annotate rows include loading the model (Ray: starting the actors), "
            f"not the Ray cluster's start ({results['ray_start_s']:.1f} s).",
            "",
            table,
            "",
            "Ray output equal to local (entities, answers, errors; scores within 1e-5): "
            + ", ".join(
                f"{name} {'yes' if same else 'NO'}" for name, same in results["same_output"].items()
            )
            + f". Model load (spacy.load): {results['model_load_s']:.1f} s; the driver's reading and "
            f"writing alone: {results['driver_io_rows_per_s']:,.0f} rows/s on one core.",
        ]
    )


def ray_overhead(results: Dict[str, Any], name: str) -> Any:
    """1 - rows/s of a Ray row / rows/s of the local engine (same cores); None for other rows."""
    if not name.startswith("ray"):
        return None
    systems = results["systems"]
    return 1 - systems[name]["rows_per_s"] / systems["local"]["rows_per_s"]


if __name__ == "__main__":
    main()
