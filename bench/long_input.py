"""Long input: a 1,000,000-character doc through all three heads, and a 100,000-word QA context.

For each stage: time, the peak resident memory during it (sampled) and the memory left after it,
and the checks that nothing was cut silently:
- doc: the encoder's windows cover every token, every visible token has wordpieces, no window
  is longer than the encoder's limit (only then would spacy-transformers truncate), and the
  heads' output is valid (harness/checks.doc_problems) with entities to the very end;
- QA: the windows' context parts cover every visible character of the context, and every
  answer is a valid span of it.
Exits 1 when a check fails. spaCy refuses texts over `nlp.max_length` (1,000,000 by default)
with an error, so the doc stage uses exactly that many characters.

Usage: python bench/long_input.py [--chars 1000000] [--qa-words 100000] [--threads N]
"""

import argparse
import sys
import time
import warnings

from harness import cli, common
from harness.memory import PeakRss, rss_mb


def parse_args() -> argparse.Namespace:
    parser = cli.benchmark_parser(__doc__)
    parser.add_argument("--chars", type=common.positive_int, default=1_000_000)
    parser.add_argument("--qa-words", type=common.positive_int, default=100_000)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    common.pin_threads(args.threads)  # before numpy / torch load
    from harness import soak
    from harness.checks import (
        answer_group_problems,
        doc_problems,
        encoder_coverage,
        prose,
        prose_words,
        qa_coverage,
    )

    nlp, ner_labels, cat_labels = soak.three_head_pipeline()
    nlp.max_length = max(nlp.max_length, args.chars)
    encoder = "embedded MiniLM-L6-H384"
    print(f"{encoder}, {args.threads} threads; RSS after loading the pipeline: {rss_mb():,.0f} MB")
    failures = []

    text = prose(args.chars, seed=0)
    doc = nlp.make_doc(text)
    doc._.question = "Who announced the championship?"
    coverage = encoder_coverage(nlp, doc)
    with warnings.catch_warnings(record=True) as caught, PeakRss() as peak:
        warnings.simplefilter("always")
        start = time.perf_counter()
        doc = nlp(doc)
        seconds = time.perf_counter() - start
    last_ent = doc.ents[-1].end_char if doc.ents else 0
    found = {
        "threads": args.threads,
        "versions": common.versions(),
        "doc": {
            "chars": len(text),
            "tokens": len(doc),
            "seconds": seconds,
            "peak_rss_mb": peak.mb,
            "entities": len(doc.ents),
            "last_entity_end": last_ent,
            "coverage": coverage,
        },
    }
    print(
        f"\ndoc of {len(text):,} chars, {len(doc):,} tokens, all three heads: {seconds:,.1f} s, "
        f"peak RSS {peak.mb:,.0f} MB, after {rss_mb():,.0f} MB\n"
        f"  encoder windows: {coverage}\n"
        f"  {len(doc.ents):,} entities, the last ending at char {last_ent:,}; {len(doc.spans['answers'])} answers; "
        f"warnings: {sorted({str(w.message)[:100] for w in caught}) or 'none'}"
    )
    failures += doc_problems(doc, text, ner_labels=ner_labels, cat_labels=cat_labels)
    if coverage["uncovered"] or coverage["unencoded"] or coverage["max_window"] > coverage["limit"]:
        failures.append(f"the encoder does not see the whole doc: {coverage}")
    if last_ent < 0.99 * len(text):
        failures.append(
            f"no entity in the last 1% of the doc (last ends at {last_ent:,}): was its end seen?"
        )
    del doc

    context = nlp.make_doc(prose_words(args.qa_words, seed=1))
    context._.question = "Which company reported a million shares?"
    coverage = qa_coverage(nlp, context)
    questions = ["Which company reported a million shares?", "Who was president?"]
    with PeakRss() as peak:
        start = time.perf_counter()
        groups = nlp.get_pipe("qa").ask([context], [questions])[0]
        seconds = time.perf_counter() - start
    best = [(g[0].start_char, g[0].text[:40]) if len(g) else None for g in groups]
    found["qa"] = {
        "words": args.qa_words,
        "chars": len(context.text),
        "questions": len(questions),
        "seconds": seconds,
        "peak_rss_mb": peak.mb,
        "coverage": coverage,
    }
    print(
        f"\nQA context of {args.qa_words:,} words ({len(context.text):,} chars), {len(questions)} questions "
        f"(ask): {seconds:,.1f} s, peak RSS {peak.mb:,.0f} MB, after {rss_mb():,.0f} MB\n"
        f"  QA windows: {coverage}\n  best answers (char, text): {best}"
    )
    failures += [p for group in groups for p in answer_group_problems(context, group)]
    if coverage["uncovered"] or coverage["max_window"] > coverage["limit"]:
        failures.append(f"the QA windows do not cover the whole context: {coverage}")

    print(f"\npeak RSS of the process: {common.peak_rss_mb():,.0f} MB")
    for failure in failures[:20]:
        print(f"FAIL: {failure}", file=sys.stderr)
    if args.json:
        common.write_json(
            args.json, {**found, "peak_rss_mb": common.peak_rss_mb(), "failures": failures}
        )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
