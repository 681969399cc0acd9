"""Hugging Face training pieces shared by train_speed.py and hf_finetune.py.

They mirror what `init-config` gives `spacy train`, so that the two sides differ in library,
not in recipe:

- batches: spaCy's own `spacy.batch_by_padded.v1` over the same docs (size in padded spaCy
  tokens, buffer 256), reshuffled every epoch, as `spacy train` builds them;
- AdamW (betas 0.9 / 0.999, eps 1e-8, decoupled weight decay on every parameter, as thinc's
  Adam with L2_is_weight_decay), the head's rate `head_lr_scale` times the encoder's;
- linear warm-up then linear decay to 0 (thinc's warmup_linear.v1);
- gradient clipping at the same norm; HF clips the global norm of all gradients, thinc each
  parameter's own: with a max norm of 1.0 both rarely bind after the first steps.

The standard HF fine-tune (hf_finetune.py --recipe standard) uses `example_batches` and
`make_standard_optimizer` instead: what HF's Trainer does by default.

NER labels are BIO (IOB2) tags on the first wordpiece of each spaCy token, -100 elsewhere and on
tokens without annotation, as Hugging Face's run_ner does.
"""

import random
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

Entity = Tuple[int, int, str]  # token start, token end (exclusive), label
IGNORE = -100  # torch's cross-entropy ignore_index


def doc_bio_tags(doc) -> List[Optional[str]]:
    """A doc's entity annotation as BIO tags, None where a token has no annotation."""
    tags: List[Optional[str]] = []
    for token in doc:
        if token.ent_iob_ == "":
            tags.append(None)
        elif token.ent_iob_ == "O":
            tags.append("O")
        else:
            tags.append(f"{token.ent_iob_}-{token.ent_type_}")
    return tags


def bio_entities(tags: Sequence[str]) -> List[Entity]:
    """Entities of a BIO tag sequence, read as the CoNLL script does.

    An I- tag that does not continue an entity of its label starts one; "O" and unknown tags end
    the current entity. RETURNS (List[Entity]): (start, end exclusive, label), in order.
    """
    entities: List[Entity] = []
    start, label = None, None
    for i, tag in enumerate(list(tags) + ["O"]):
        prefix, _, kind = tag.partition("-")
        continues = prefix == "I" and kind == label
        if start is not None and not continues:
            entities.append((start, i, label))
            start, label = None, None
        if prefix in ("B", "I") and kind and not continues:
            start, label = i, kind
    return entities


def tag_labels(docs: Iterable) -> List[str]:
    """ "O" and the B-/I- tags of every entity label in the docs, sorted: the classifier's labels."""
    kinds = sorted({ent.label_ for doc in docs for ent in doc.ents})
    return ["O"] + [f"{p}-{kind}" for kind in kinds for p in ("B", "I")]


def encode_tagged(tokenizer, words: Sequence[Sequence[str]], tags=None, label2id=None):
    """Tokenize pre-split docs; with tags, add "labels" on each token's first wordpiece.

    RETURNS (BatchEncoding): Tensors padded to the longest doc, cut at the encoder's limit.
    """
    import torch

    encoding = tokenizer(
        [list(w) for w in words],
        is_split_into_words=True,
        truncation=True,
        padding=True,
        return_tensors="pt",
    )
    if tags is not None:
        labels = []
        for row, doc_tags in enumerate(tags):
            firsts = first_pieces(encoding, row)
            row_labels = [IGNORE] * encoding["input_ids"].shape[1]
            for word, position in firsts.items():
                tag = doc_tags[word]
                row_labels[position] = IGNORE if tag is None else label2id.get(tag, label2id["O"])
            labels.append(row_labels)
        encoding["labels"] = torch.tensor(labels)
    return encoding


def first_pieces(encoding, row: int) -> Dict[int, int]:
    """Word index -> position of its first wordpiece, for one row of a pre-split encoding."""
    firsts: Dict[int, int] = {}
    for position, word in enumerate(encoding.word_ids(row)):
        if word is not None and word not in firsts:
            firsts[word] = position
    return firsts


def encode_qa_train(tokenizer, pairs, answers, *, max_length: int = 384, stride: int = 128):
    """run_qa's training features: windows of (question, context), answer start/end positions.

    pairs: (question, context) per doc; answers: (char start, text) of each doc's first gold
    answer. A window that does not hold the whole answer points at [CLS] (position 0). Windows
    are padded to the longest in the batch (run_qa pads to max_length: same result, slower).
    """
    import torch

    encoding = tokenizer(
        [q for q, _ in pairs],
        [c for _, c in pairs],
        truncation="only_second",
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding=True,
        return_tensors="pt",
    )
    starts, ends = [], []
    for window, pair in enumerate(encoding["overflow_to_sample_mapping"].tolist()):
        char_start, text = answers[pair]
        char_end = char_start + len(text)
        sequence = encoding.sequence_ids(window)
        offsets = encoding["offset_mapping"][window].tolist()
        context = [i for i, s in enumerate(sequence) if s == 1]
        if not context or offsets[context[0]][0] > char_start or offsets[context[-1]][1] < char_end:
            starts.append(0)
            ends.append(0)
            continue
        starts.append(next(i for i in context if offsets[i][1] > char_start))
        ends.append(next(i for i in reversed(context) if offsets[i][0] < char_end))
    encoding.pop("offset_mapping")
    encoding.pop("overflow_to_sample_mapping")
    encoding["start_positions"] = torch.tensor(starts)
    encoding["end_positions"] = torch.tensor(ends)
    return encoding


def spacy_batches(
    items: List[Any], *, size: int, buffer: int = 256, seed: int = 0
) -> Iterator[List]:
    """Batches as `spacy train` makes them: batch_by_padded over the items, reshuffled each
    epoch, forever. Items are docs or Examples (their length is len(item), in spaCy tokens)."""
    from spacy.training.batchers import minibatch_by_padded_size  # spacy.batch_by_padded.v1

    rng = random.Random(seed)
    items = list(items)
    while True:
        rng.shuffle(items)
        yield from minibatch_by_padded_size(items, size, buffer=buffer, discard_oversize=False)


def example_batches(items: List[Any], *, size: int, seed: int = 0) -> Iterator[List]:
    """One epoch of HF Trainer's batches: the items shuffled (its RandomSampler), cut into
    batches of `size` (the last one smaller), each item exactly once. Call once per epoch with a
    new seed for a new order."""
    order = list(items)
    random.Random(seed).shuffle(order)
    for start in range(0, len(order), size):
        yield order[start : start + size]


def make_standard_optimizer(model, *, lr: float, weight_decay: float):
    """HF Trainer's AdamW: one rate for every parameter, weight decay on all but biases and
    LayerNorm weights (Trainer's get_decay_parameter_names)."""
    import torch

    no_decay = [
        name
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.LayerNorm)
        for name in ([f"{name}.weight"] if name else ["weight"])
    ]
    named = list(model.named_parameters())
    groups = [
        {"params": [p for n, p in named if not (n.endswith("bias") or n in no_decay)]},
        {
            "params": [p for n, p in named if n.endswith("bias") or n in no_decay],
            "weight_decay": 0.0,
        },
    ]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=weight_decay)


def make_optimizer(model, *, lr: float, weight_decay: float, head_lr_scale: float):
    """AdamW with the encoder (the model's base model) at `lr`, the head at lr * head_lr_scale."""
    import torch

    prefix = model.base_model_prefix + "."
    named = list(model.named_parameters())
    groups = [
        {"params": [p for n, p in named if n.startswith(prefix)], "lr": lr},
        {"params": [p for n, p in named if not n.startswith(prefix)], "lr": lr * head_lr_scale},
    ]
    return torch.optim.AdamW(groups, betas=(0.9, 0.999), eps=1e-8, weight_decay=weight_decay)


def make_schedule(optimizer, *, steps: int, warmup_fraction: float):
    """Linear warm-up over `warmup_fraction` of the steps, then linear decay to 0 at `steps`."""
    from transformers import get_linear_schedule_with_warmup

    return get_linear_schedule_with_warmup(optimizer, int(steps * warmup_fraction), steps)


def train_step(model, inputs, optimizer, schedule, *, grad_clip: float) -> float:
    """One update: forward with labels, backward, clip, step the optimizer and the schedule."""
    import torch

    model.train()
    loss = model(**inputs).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    schedule.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.item()
