"""The encoder's forward one sentence at a time: eager PyTorch against a TorchScript trace of it.

At batch size 1 the encoder's forward runs at about a fifth of the matmul peak although its
matmuls alone reach about four fifths at that width (flops.py's batch_size=1 row): most of a
short pass is the cost of its many small operations, part of it Python in the model's modules.
A trace runs the same operations with the same weights from a graph, without that Python. This
measures how much of a short forward that is, on the embedded encoder's own module (the module
the pipeline predicts with, and the one HF's pipelines run too).

Inputs: CoNLL sentences tokenized by the encoder's tokenizer, one per call, with an attention
mask (as the pipeline calls it). The trace is made from a padded batch of two, so that it keeps
the attention-mask path, and checked against eager on every timed sentence (the largest absolute
difference of any output value). Each system: --repeats passes over the sentences, the order
alternating; median milliseconds per call.

Not part of the pipeline: a measurement of what a traced predict path would gain.

Usage: python bench/traced_forward.py [--n-short 300] [--repeats 3] [--threads N] [--json OUT]
       python bench/traced_forward.py --smoke
"""

import statistics
from typing import Any, Dict

from harness import cli, common


def trace_forward(module, tokenizer):
    """(eager, traced): callables (input_ids, attention_mask) -> last hidden state.

    The trace is made from a padded batch of two, so that it keeps the attention-mask path
    (a trace of an unpadded input may drop it) and stays valid for other shapes.
    """
    import warnings

    import torch

    class LastHiddenState(torch.nn.Module):
        """The module's forward with positional inputs and one output, as tracing needs."""

        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            return self.model(input_ids=input_ids, attention_mask=attention_mask)[0]

    example = tokenizer(["a padded example sentence of eight words .", "short"], padding=True)
    example = (torch.tensor(example["input_ids"]), torch.tensor(example["attention_mask"]))
    eager = LastHiddenState(module).eval()
    with torch.no_grad(), warnings.catch_warnings():
        # HF's modules warn of every Python branch the trace fixes; the check below covers them.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(eager, example, check_trace=False)
    return eager, traced


def measure(args) -> Dict[str, Any]:
    import torch
    from harness import texts as bench_texts

    nlp = common.build_spacy_pipeline(["ner"])
    module, tokenizer = nlp.get_pipe("transformer").hf_encoder()
    eager, traced = trace_forward(module, tokenizer)

    inputs = []
    for text in bench_texts.conll_sentences(args.n_short):
        encoded = tokenizer([text])
        inputs.append((torch.tensor(encoded["input_ids"]), torch.tensor(encoded["attention_mask"])))
    largest_difference = 0.0
    with torch.inference_mode():
        for ids, mask in inputs:
            found = (eager(ids, mask) - traced(ids, mask)).abs().max().item()
            largest_difference = max(largest_difference, found)

    def one_pass(model):
        def run():
            with torch.inference_mode():
                for ids, mask in inputs:
                    model(ids, mask)

        return run

    runs = {"eager": one_pass(eager), "traced": one_pass(traced)}
    times = common.time_interleaved(runs, repeats=args.repeats, alternate=True)
    ms = {name: [s * 1000 / len(inputs) for s in t] for name, t in times.items()}
    return {
        "versions": common.versions(),
        "threads": args.threads,
        "args": cli.arguments(args),
        "n_calls": len(inputs),
        "wordpieces_per_call": statistics.mean(int(ids.shape[1]) for ids, _ in inputs),
        "ms_per_call": {name: statistics.median(t) for name, t in ms.items()},
        "all_ms_per_call": ms,
        "largest_difference": largest_difference,
    }


def main() -> None:
    parser = cli.benchmark_parser(__doc__, smoke="a few sentences: checks that it runs")
    parser.add_argument("--n-short", type=common.positive_int, default=300)
    parser.add_argument("--repeats", type=common.positive_int, default=3)
    args = parser.parse_args()
    if args.smoke:
        args.n_short, args.repeats = 10, 1

    def render(report: Dict[str, Any]) -> None:
        ms = report["ms_per_call"]
        rows = [
            [name, f"{report['n_calls']:,}", f"{value:,.2f}", f"{ms['eager'] / value:.2f}x"]
            for name, value in ms.items()
        ]
        print(
            cli.headline(report, "the encoder's forward, one sentence per call"),
            f"{report['wordpieces_per_call']:.1f} wordpieces per call on average; largest "
            f"difference traced vs eager: {report['largest_difference']:.2e}",
            common.markdown_table(
                ["forward", "calls", "ms per call (median)", "speed vs eager"],
                rows,
                text_columns=(0,),
            ),
            sep="\n",
        )

    cli.run(args, measure, render)


if __name__ == "__main__":
    main()
