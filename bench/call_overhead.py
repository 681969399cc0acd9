"""The pipeline's cost outside the encoder, per doc, against HF token-classification's.

Both encoders are replaced by a stub that returns zeros of the right shape, so what is timed is
everything a call pays besides the transformer itself: spaCy's tokenizer, windows, the encoder's
tokenization and alignment, padding, the heads and their decoding on our side; HF's
tokenization, chunking and aggregation on the other. It answers where a slow `nlp(text)` or a
slow long doc loses time that HF does not, without the encoder's noise on top.

    short: --n-short CoNLL sentences, nlp.pipe(batch_size=1) and the HF pipeline's batch_size=1
    long:  --long-docs docs of each of --lengths words (SQuAD contexts), as in scaling.py's
           length curve (spaCy's wordpiece windows; HF with stride 32, batch 32)

Each point: both systems, --repeats times, the order alternating; median milliseconds per doc.

Usage: python bench/call_overhead.py [--n-short 1000] [--lengths 1000,5000] [--long-docs 10]
       [--repeats 3] [--threads N] [--json OUT]
       python bench/call_overhead.py --smoke
"""

import statistics
from typing import Any, Callable, Dict, Sequence

from harness import cli, common

HF_STRIDE = 32


def stub_encoders(nlp, hf) -> None:
    """Make both encoders return zeros at once: our BertModel and HF's token classifier."""
    import torch
    from transformers.modeling_outputs import (
        BaseModelOutputWithPoolingAndCrossAttentions,
        TokenClassifierOutput,
    )

    width = nlp.get_pipe("transformer").width
    n_labels = hf.model.config.num_labels

    def ours(input_ids=None, **_):
        rows, length = input_ids.shape
        return BaseModelOutputWithPoolingAndCrossAttentions(
            last_hidden_state=torch.zeros(rows, length, width),
            pooler_output=torch.zeros(rows, width),
        )

    def theirs(input_ids=None, **_):
        rows, length = input_ids.shape
        return TokenClassifierOutput(logits=torch.zeros(rows, length, n_labels))

    nlp.get_pipe("transformer").model.transformer.forward = ours
    hf.model.forward = theirs


def ms_per_doc(runs: Dict[str, Callable[[], Any]], n_docs: int, repeats: int) -> Dict[str, Any]:
    """Median milliseconds per doc of each run, the order alternating between repeats (the
    caller has warmed every run up)."""
    times = common.time_interleaved(runs, repeats=repeats, warm_up=False, alternate=True)
    times = {name: [seconds * 1000 / n_docs for seconds in t] for name, t in times.items()}
    found: Dict[str, Any] = {name: statistics.median(t) for name, t in times.items()}
    found["all"] = times
    found["n_docs"] = n_docs
    return found


def measure(args) -> Dict[str, Any]:
    from harness import texts as bench_texts
    from scaling import build_systems

    nlp, hf = build_systems("wordpiece")
    stub_encoders(nlp, hf)

    def point(texts: Sequence[str], batch: int, hf_batch: int, **hf_extra) -> Dict[str, Any]:
        runs = {
            "spacy": lambda: sum(1 for _ in nlp.pipe(texts, batch_size=batch)),
            "hf": lambda: hf(list(texts), batch_size=hf_batch, **hf_extra),
        }
        for run in runs.values():  # first-call costs (lexemes, allocations) paid here
            run()
        return ms_per_doc(runs, len(texts), args.repeats)

    points = {"batch 1, CoNLL sentences": point(bench_texts.conll_sentences(args.n_short), 1, 1)}
    for n_words in args.lengths:
        texts = bench_texts.long_texts(args.long_docs, n_words)
        points[f"{n_words:,}-word docs"] = point(texts, 1000, 32, stride=HF_STRIDE)
    return {
        "versions": common.versions(),
        "threads": args.threads,
        "args": cli.arguments(args),
        "points": points,
    }


def table(report: Dict[str, Any]) -> str:
    rows = [
        [
            name,
            f"{p['n_docs']:,}",
            f"{p['spacy']:,.3f}",
            f"{p['hf']:,.3f}",
            f"{p['spacy'] - p['hf']:+,.3f}",
        ]
        for name, p in report["points"].items()
    ]
    headers = ["docs", "n", "spacy_bert_tasks ms/doc", "HF token-cls ms/doc", "difference"]
    return common.markdown_table(headers, rows, text_columns=(0,))


def main() -> None:
    from scaling import int_list

    parser = cli.benchmark_parser(__doc__, smoke="a few docs: checks that it runs")
    parser.add_argument("--n-short", type=common.positive_int, default=1000)
    parser.add_argument("--lengths", type=int_list, default=[1000, 5000])
    parser.add_argument("--long-docs", type=common.positive_int, default=10)
    parser.add_argument("--repeats", type=common.positive_int, default=3)
    args = parser.parse_args()
    if args.smoke:
        args.n_short, args.lengths, args.long_docs, args.repeats = 20, [300], 2, 1

    def render(report: Dict[str, Any]) -> None:
        print(
            cli.headline(report, "outside the encoder (both stubbed), median ms per doc"),
            table(report),
            sep="\n",
        )

    cli.run(args, measure, render)


if __name__ == "__main__":
    main()
