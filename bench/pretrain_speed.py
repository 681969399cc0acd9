"""Pre-training speed: words/s of `pretrain`'s loop against a plain Hugging Face masked-LM loop.

Same encoder (MiniLM-L6-H384 from the same checkpoint), same text, same batches, same number of
steps, in one process:

- spacy_bert_tasks: the batches of `pretrain` (PretrainData: windows of --max-length tokens,
  batches of --batch-tokens padded tokens), masked by its whole-word masking, one
  `loop.train_step` each: BertForPreTraining with the masked-LM head on the masked positions only.
- HF: the very same sequences of each batch through `DataCollatorForWholeWordMask` (HF's
  whole-word masking, 15%, 80/10/10), then BertForMaskedLM(labels=...) as the HF examples do
  (the head over every position), backward, clipping, AdamW, the linear schedule.

Both use AdamW with the same parameter groups, learning rate and schedule. Steps alternate
(ours i, HF i, ...), so a busy spell of the machine hits both. The first --warmup-steps of each
side are not timed. words/s: the words (tokenizer word ids) of each batch's sequences per second
of the timed steps, masking and padding included.

Usage: python bench/pretrain_speed.py [--steps 40] [--warmup-steps 5] [--max-length 64]
       [--batch-tokens 2048] [--threads N] [--json OUT.json]
       python bench/pretrain_speed.py --smoke
"""

import argparse
import time
from pathlib import Path
from typing import Any, Dict, List

from harness import cli, common

WNUT_TRAIN = common.SHARED / "datasets" / "wnut17" / "wnut17train.conll"


def parse_args() -> argparse.Namespace:
    parser = cli.benchmark_parser(__doc__, smoke="a few steps: checks it runs")
    parser.add_argument("--steps", type=common.positive_int, default=40)
    parser.add_argument("--warmup-steps", type=int, default=5, help="untimed first steps")
    parser.add_argument("--max-length", type=common.positive_int, default=64)
    parser.add_argument(
        "--batch-tokens", type=common.positive_int, default=2048, help="padded tokens per batch"
    )
    parser.add_argument(
        "--conll",
        type=Path,
        default=WNUT_TRAIN,
        help="text: the sentences of a CoNLL file (WNUT-17 train)",
    )
    args = parser.parse_args()
    if args.smoke:
        args.steps, args.warmup_steps = 3, 1
    if args.warmup_steps >= args.steps:
        parser.error(f"--warmup-steps ({args.warmup_steps}) must be below --steps ({args.steps})")
    return args


def build_sides(args):
    """(our step, HF step, batches): each step takes a batch index and trains on that batch."""
    import torch
    import transformers

    from spacy_bert_tasks.encoder.names import EMBEDDED_ENCODER, resolve_encoder_name
    from spacy_bert_tasks.pretrain import loop
    from spacy_bert_tasks.pretrain.data import DataSettings, PretrainData
    from spacy_bert_tasks.pretrain.model import load_starting_point
    from spacy_bert_tasks.pretrain.reading import RawDoc

    transformers.logging.set_verbosity_error()
    texts = common._conll_sentences(args.conll.read_text(encoding="utf8").splitlines())
    docs = [RawDoc(text, None, f"{args.conll}#{i}") for i, text in enumerate(texts)]
    settings = loop.TrainSettings(max_steps=args.steps, learn_rate=1e-4)
    torch.manual_seed(0)
    start = load_starting_point(EMBEDDED_ENCODER)
    data = PretrainData(
        docs,
        start.tokenizer,
        DataSettings(max_length=args.max_length, batch_tokens=args.batch_tokens, heldout_share=0.0),
        seed=0,
    )
    sequences = data.epoch_sequences(0)
    batches = [[sequences[i] for i in batch] for batch in data.epoch_batches(0)]
    ours_optimizer, ours_schedule = loop.build_optimizer(start.model, settings, args.steps)

    def ours(index: int) -> int:
        batch = data.training_batch(0, index, batches[index])
        loop.train_step(start.model, batch, ours_optimizer, ours_schedule, settings.max_grad_norm)
        return batch["n_words"]

    hf_model = transformers.BertForMaskedLM.from_pretrained(resolve_encoder_name(EMBEDDED_ENCODER))
    hf_model.train()
    collator = transformers.DataCollatorForWholeWordMask(
        start.tokenizer, mlm_probability=0.15, return_tensors="pt"
    )
    hf_optimizer, hf_schedule = loop.build_optimizer(hf_model, settings, args.steps)

    def hf(index: int) -> None:
        inputs = collator([{"input_ids": s.input_ids.tolist()} for s in batches[index]])
        attention_mask = (inputs["input_ids"] != start.tokenizer.pad_token_id).long()
        hf_optimizer.zero_grad(set_to_none=True)
        loss = hf_model(
            input_ids=inputs["input_ids"], attention_mask=attention_mask, labels=inputs["labels"]
        ).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(hf_model.parameters(), settings.max_grad_norm)
        hf_optimizer.step()
        hf_schedule.step()

    return ours, hf, batches, len(docs)


def measure(args) -> Dict[str, Any]:
    ours, hf, batches, n_docs = build_sides(args)
    if len(batches) < args.steps:
        raise SystemExit(
            f"expected at least {args.steps} batches in the text, got {len(batches)}: fewer --steps"
        )
    seconds: Dict[str, List[float]] = {"spacy_bert_tasks": [], "hf": []}
    words: List[int] = []
    for i in range(args.steps):
        start = time.perf_counter()
        n_words = ours(i)
        ours_seconds = time.perf_counter() - start
        start = time.perf_counter()
        hf(i)
        hf_seconds = time.perf_counter() - start
        if i >= args.warmup_steps:
            seconds["spacy_bert_tasks"].append(ours_seconds)
            seconds["hf"].append(hf_seconds)
            words.append(n_words)
    return {**common.step_rates(seconds, words, "spacy_bert_tasks", "hf"), "docs": n_docs}


def main() -> None:
    args = parse_args()

    def measured(args: argparse.Namespace) -> Dict[str, Any]:
        # Every option as a string, as earlier results recorded them.
        options = {k: str(v) for k, v in vars(args).items()}
        return {
            "args": options,
            "versions": common.versions(),
            "threads": args.threads,
            **measure(args),
        }

    def render(found: Dict[str, Any]) -> None:
        details = (
            f"{args.steps} steps of <= {args.batch_tokens} padded tokens (sequences <= "
            f"{args.max_length}), the first {args.warmup_steps} untimed; text: {args.conll.name} "
            f"({found['docs']:,} docs); same batches on both sides"
        )
        print(cli.headline(found, details))
        rows = [
            [
                f"{found['spacy_bert_tasks']['words_per_s']:,.0f}",
                f"{found['hf']['words_per_s']:,.0f}",
                f"{found['ratio']:.2f}x",
                f"{found['timed_steps']}",
                f"{found['words']:,}",
            ]
        ]
        print(
            common.markdown_table(
                ["pretrain words/s", "HF masked-LM loop words/s", "ratio", "timed steps", "words"],
                rows,
                text_columns=(),
            )
        )

    cli.run(args, measured, render)


if __name__ == "__main__":
    main()
