"""One BERT self-attention block, four ways: Hugging Face's, and the inference copies' fused one
on each of its three paths (spacy_bert_tasks/encoder/fused_attention.py).

- hf: `BertSdpaSelfAttention` (Q, K, V as three Linear layers, `scaled_dot_product_attention`)
  with the (windows, 1, length, length) mask HF builds for it;
- fused, sdpa: Q, K and V as one Linear layer, the same kernel, a (windows, 1, 1, length) mask;
- fused, matmul: the same, attention as two batched matmuls and a softmax;
- fused, blocks: the same three steps window by window, a block of heads at a time
  (`attention_in_blocks`).

Each length runs a full chunk (4,096 wordpieces: what the encoder's chunking sends for many
short texts) and 8 windows, every window but the first cut short by up to half (padding). Plain
nn.Linear layers (eager), so the table isolates the attention's layout from the weights'
packing. The last columns are the path the fused block takes at that length (SHORT_WINDOW,
BLOCKED_WINDOW) and its speed-up over hf.

    python bench/attention.py [--lengths 16,24,32,48,64,96,128,160,192,256,384,512]
        [--repeats 15]
        [--hidden 384 --heads 12] [--threads N] [--json OUT.json]
"""

import argparse
import statistics
import time
from typing import Any, Dict, List

from harness import cli, common

SYSTEMS = ("hf", "fused, sdpa", "fused, matmul", "fused, blocks")


def main() -> None:
    parser = cli.benchmark_parser(__doc__, smoke="one length per path, 2 repeats")
    parser.add_argument(
        "--lengths",
        type=common.int_list,
        default=[16, 24, 32, 48, 64, 96, 128, 160, 192, 256, 384, 512],
    )
    parser.add_argument("--repeats", type=common.positive_int, default=15)
    parser.add_argument("--hidden", type=common.positive_int, default=384, help="MiniLM: 384")
    parser.add_argument("--heads", type=common.positive_int, default=12, help="MiniLM: 12")
    cli.run(parser.parse_args(), measure, render)


def measure(args: argparse.Namespace) -> Dict[str, Any]:
    import torch
    from transformers import BertConfig
    from transformers.modeling_attn_mask_utils import _prepare_4d_attention_mask_for_sdpa
    from transformers.models.bert.modeling_bert import BertSdpaSelfAttention

    from spacy_bert_tasks.encoder.fused_attention import (
        BLOCKED_WINDOW,
        SHORT_WINDOW,
        FusedSelfAttention,
    )

    lengths, repeats = ([16, 128, 512], 2) if args.smoke else (args.lengths, args.repeats)
    config = BertConfig(hidden_size=args.hidden, num_attention_heads=args.heads)
    config._attn_implementation = "sdpa"
    torch.manual_seed(0)
    hf = BertSdpaSelfAttention(config).eval()
    blocks = {
        "hf": hf,
        "fused, sdpa": FusedSelfAttention(hf, short_window=0, blocked_window=0),
        "fused, matmul": FusedSelfAttention(hf, short_window=1 << 30),
        "fused, blocks": FusedSelfAttention(hf, short_window=0, blocked_window=1 << 30),
    }
    rows: List[Dict[str, Any]] = []
    with torch.inference_mode():
        for length in lengths:
            for windows in sorted({max(1, 4096 // length), 8}, reverse=True):
                inputs = torch.randn(windows, length, args.hidden)
                real = torch.randint(max(1, length // 2), length + 1, (windows,))
                real[0] = length
                padding = (torch.arange(length)[None] < real[:, None]).long()
                masks = {
                    "hf": _prepare_4d_attention_mask_for_sdpa(padding, torch.float32, length),
                    "fused": (1.0 - padding[:, None, None, :].float())
                    * torch.finfo(torch.float32).min,
                }
                calls = {
                    name: (block, masks["hf" if name == "hf" else "fused"])
                    for name, block in blocks.items()
                }
                reference = hf(inputs, masks["hf"])[0]
                error = max(
                    (block(inputs, mask)[0] - reference)[padding.bool()].abs().max().item()
                    for block, mask in calls.values()
                )
                seconds: Dict[str, List[float]] = {name: [] for name in calls}
                for _ in range(repeats):  # interleaved: drift hits every system alike
                    for name, (block, mask) in calls.items():
                        start = time.perf_counter()
                        block(inputs, mask)
                        seconds[name].append(time.perf_counter() - start)
                ms = {name: 1000 * statistics.median(values) for name, values in seconds.items()}
                rows.append(
                    {
                        "length": length,
                        "windows": windows,
                        "ms": ms,
                        "max_abs_diff": error,
                        "fused_path": fused_path(length, SHORT_WINDOW, BLOCKED_WINDOW),
                    }
                )
    return {
        "rows": rows,
        "short_window": SHORT_WINDOW,
        "blocked_window": BLOCKED_WINDOW,
        "repeats": repeats,
        "threads": args.threads,
    }


def fused_path(length: int, short_window: int, blocked_window: int) -> str:
    """The path FusedSelfAttention takes for windows of `length` wordpieces."""
    if length <= short_window:
        return "matmul"
    return "blocks" if length <= blocked_window else "sdpa"


def render(report: Dict[str, Any]) -> None:
    print(f"## One self-attention block, median of {report['repeats']} (ms)\n")
    print("| length | windows | " + " | ".join(SYSTEMS) + " | fused path | its speed-up over hf |")
    print("| ---: | ---: | " + " | ".join("---:" for _ in SYSTEMS) + " | --- | ---: |")
    for row in report["rows"]:
        ms = row["ms"]
        taken = ms["fused, " + row["fused_path"]]
        cells = " | ".join(f"{ms[name]:.2f}" for name in SYSTEMS)
        print(
            f"| {row['length']} | {row['windows']} | {cells} | {row['fused_path']} "
            f"| {ms['hf'] / taken:.2f}x |"
        )
    worst = max(row["max_abs_diff"] for row in report["rows"])
    print(f"\nLargest difference from hf on a real position: {worst:.1e}.")


if __name__ == "__main__":
    main()
