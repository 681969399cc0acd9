"""Compare trained NER pipelines (e.g. bert_ner vs spaCy's transition `ner`) on one dev set.

Prints, per pipeline: entity P/R/F on the dev .spacy file (spaCy's scorer) and words/s of
`nlp.pipe` on its texts, timed interleaved in one run.

    python bench/ner_heads.py DEV.spacy NAME=MODEL_DIR [NAME=MODEL_DIR ...] [--repeats 3]
"""

import sys
from pathlib import Path
from typing import Any, Dict

from harness import cli, common


def main() -> None:
    parser = cli.benchmark_parser(__doc__, threads=2)
    parser.add_argument("dev", type=Path, help=".spacy file with gold entities")
    parser.add_argument("models", nargs="+", help="NAME=PATH of a trained pipeline")
    parser.add_argument("--repeats", type=common.positive_int, default=3)
    parser.add_argument(
        "--max-batch-items",
        type=common.positive_int,
        help="override the encoder's max_batch_items (pipelines saved with older defaults)",
    )
    cli.run(parser.parse_args(), measure, render)


def measure(args) -> Dict[str, Any]:
    """Score and time every pipeline on the dev docs; RETURNS (Dict[str, Any]): the report."""
    import spacy
    from spacy.tokens import DocBin
    from spacy.training import Example

    pipelines = {}
    for spec in args.models:
        name, _, path = spec.partition("=")
        if not path:
            sys.exit(f"expected NAME=PATH, got {spec!r}")
        nlp = spacy.load(path)
        if args.max_batch_items:
            for _, component in nlp.pipeline:
                if "max_batch_items" in getattr(component, "cfg", {}):
                    component.cfg["max_batch_items"] = args.max_batch_items
        pipelines[name] = nlp
    first = next(iter(pipelines.values()))
    gold = list(DocBin().from_disk(args.dev).get_docs(first.vocab))
    texts = [doc.text for doc in gold]
    n_words = common.count_words(texts)
    systems = {
        name: (lambda nlp=nlp: list(nlp.pipe(texts, batch_size=1000)))
        for name, nlp in pipelines.items()
    }
    times = common.time_interleaved(systems, repeats=args.repeats)
    results = {}
    for name, nlp in pipelines.items():
        scores = nlp.evaluate([Example(nlp.make_doc(doc.text), doc) for doc in gold])
        speed = common.summarise(times[name], n_words=n_words, n_texts=len(texts))
        results[name] = {key: scores[key] for key in ("ents_p", "ents_r", "ents_f")} | speed
    return {
        "docs": len(texts),
        "words": n_words,
        "threads": args.threads,
        "repeats": args.repeats,
        "args": cli.arguments(args),
        "pipelines": results,
    }


def render(report: Dict[str, Any]) -> None:
    rows = [
        [
            name,
            f"{100 * r['ents_p']:.2f}",
            f"{100 * r['ents_r']:.2f}",
            f"{100 * r['ents_f']:.2f}",
            f"{r['words_per_s']:,.0f}",
        ]
        for name, r in report["pipelines"].items()
    ]
    print(
        f"{report['docs']} docs, {report['words']} words, {report['threads']} threads, "
        f"median of {report['repeats']}"
    )
    print(common.markdown_table(["pipeline", "ents P", "ents R", "ents F", "words/s"], rows))


if __name__ == "__main__":
    main()
