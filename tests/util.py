"""Helpers shared by the tests: pipelines on the tiny BERT, toy corpora, spacy-train-style steps.

Import as `from util import ...` (pytest puts tests/ on sys.path for tests/conftest.py).
"""

import random
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy
import spacy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example
from thinc.api import Adam, Optimizer, fix_random_seed

# Entities as (start_char, end_char, label).
NER_DATA: List[Tuple[str, List[Tuple[int, int, str]]]] = [
    ("John visited London yesterday", [(0, 4, "PER"), (13, 19, "LOC")]),
    ("Mary works in Paris", [(0, 4, "PER"), (14, 19, "LOC")]),
    ("Paul lives in Berlin", [(0, 4, "PER"), (14, 20, "LOC")]),
    ("the river is good", []),
]
CATS_DATA: List[Tuple[str, Dict[str, float]]] = [
    ("good movie", {"POS": 1.0, "NEG": 0.0}),
    ("terrible film", {"POS": 0.0, "NEG": 1.0}),
    ("great film", {"POS": 1.0, "NEG": 0.0}),
    ("bad movie", {"POS": 0.0, "NEG": 1.0}),
]
# Multi-label: any number of labels per doc (here also none).
MULTILABEL_DATA: List[Tuple[str, Dict[str, float]]] = [
    ("good movie", {"POSITIVE": 1.0, "FILM": 1.0}),
    ("terrible company", {"POSITIVE": 0.0, "FILM": 0.0}),
    ("great film", {"POSITIVE": 1.0, "FILM": 1.0}),
    ("bad film", {"POSITIVE": 0.0, "FILM": 1.0}),
    ("good bank", {"POSITIVE": 1.0, "FILM": 0.0}),
]
NER_LABELS = ("LOC", "PER")
CAT_LABELS = ("NEG", "POS")

# The stock spacy-transformers encoder, for comparisons with `bert_transformer`.
STOCK_FACTORY = "transformer"
NO_DROPOUT = {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
HEAD_FACTORIES = {"ner": "bert_ner", "textcat": "bert_textcat"}


def encoder_config(tiny_bert: str, factory: str = "bert_transformer", **model) -> Dict:
    """The encoder component's config for the tiny BERT (`model` overrides model settings)."""
    if factory == STOCK_FACTORY:
        base = {
            "@architectures": "spacy-transformers.TransformerModel.v3",
            "name": tiny_bert,
            "get_spans": {
                "@span_getters": "spacy-transformers.strided_spans.v1",
                "window": 128,
                "stride": 96,
            },
            "tokenizer_config": {"use_fast": True},
        }
    else:
        # Pinned to fp32: the default "auto" trains in bf16 on CPUs with native bf16, and many
        # tests compare gradients and weights exactly (sums of heads, determinism, Adam.v2 vs
        # thinc's Adam). tests/encoder/test_train_precision.py tests "auto" and "bf16".
        base = {"name": tiny_bert, "train_precision": "fp32"}
    return {"model": {**base, **model}}


def make_nlp(
    tiny_bert: str,
    heads: Sequence[str] = ("ner", "textcat"),
    *,
    factory: str = "bert_transformer",
    transformer: Optional[Dict] = None,
    ner: Optional[Dict] = None,
    textcat: Optional[Dict] = None,
    dropout_free: bool = False,
) -> Language:
    """A blank English pipeline: encoder "transformer", then the heads in the order given.

    heads (Sequence[str]): "ner" (bert_ner) and/or "textcat" (bert_textcat), named as given.
    factory (str): "bert_transformer" or the stock "transformer".
    transformer, ner, textcat (Optional[Dict]): Extra component config (merged, top level only;
        transformer["model"] is merged into the encoder's model settings).
    dropout_free (bool): Turn off BERT's own dropout, so two passes see the same network.
    """
    fix_random_seed(0)
    nlp = spacy.blank("en")
    transformer = dict(transformer or {})
    model = dict(transformer.pop("model", {}))
    if dropout_free:
        model["transformer_config"] = NO_DROPOUT
    config = {**encoder_config(tiny_bert, factory, **model), **transformer}
    nlp.add_pipe(factory, name="transformer", config=config)
    head_configs = {"ner": ner or {}, "textcat": textcat or {}}
    for head in heads:
        nlp.add_pipe(HEAD_FACTORIES[head], name=head, config=head_configs[head])
    return nlp


def ner_examples(nlp: Language, data=NER_DATA) -> List[Example]:
    """NER-only examples: every token annotated (explicit O), no cats."""
    return [Example.from_dict(nlp.make_doc(text), {"entities": ents}) for text, ents in data]


def cats_examples(nlp: Language, data=CATS_DATA) -> List[Example]:
    """Cats-only examples: no entity annotation at all."""
    return [Example.from_dict(nlp.make_doc(text), {"cats": cats}) for text, cats in data]


def both_examples(nlp: Language, ner_data=NER_DATA, cats_data=CATS_DATA) -> List[Example]:
    """Examples annotated for both tasks (entities and cats on the same docs)."""
    return [
        Example.from_dict(nlp.make_doc(text), {"entities": ents, "cats": cats})
        for (text, ents), (_, cats) in zip(ner_data, cats_data)
    ]


def unannotated_example(nlp: Language, text: str) -> Example:
    """An example whose reference has neither entity annotation nor cats."""
    return Example(nlp.make_doc(text), nlp.make_doc(text))


def adam(learn_rate: float = 0.01) -> Optimizer:
    """A fast optimizer for toy overfitting (no weight decay: a zero gradient moves nothing)."""
    return Adam(learn_rate, L2=0.0)


def train_steps(
    nlp: Language,
    examples: Sequence[Example],
    optimizer: Optimizer,
    n_steps: int,
    *,
    batch_size: Optional[int] = None,
    drop: float = 0.0,
    shuffle: bool = False,
    frozen: Sequence[str] = (),
) -> Dict[str, float]:
    """Train as `spacy train` does: nlp.update(sgd=False), then finish_update per component.

    batch_size (Optional[int]): Split each epoch into batches; None: one batch per step.
    shuffle (bool): Shuffle the examples before each epoch (seeded).
    frozen (Sequence[str]): Components in both frozen_components and annotating_components.
    RETURNS (Dict[str, float]): The losses of the last step.
    """
    rng = random.Random(0)
    examples = list(examples)
    losses: Dict[str, float] = {}
    for _ in range(n_steps):
        if shuffle:
            rng.shuffle(examples)
        size = batch_size or len(examples)
        for start in range(0, len(examples), size):
            losses = {}
            batch = examples[start : start + size]
            nlp.update(batch, sgd=False, drop=drop, losses=losses, exclude=frozen, annotates=frozen)
            step(nlp, optimizer, frozen=frozen)
    return losses


def step(nlp: Language, optimizer: Optimizer, *, frozen: Sequence[str] = ()) -> None:
    """The second half of a spacy-train step: finish_update on every trainable component."""
    for name, proc in nlp.pipeline:
        if name in frozen or not getattr(proc, "is_trainable", False):
            continue
        if proc.model not in (True, False, None):
            proc.finish_update(optimizer)


def initialized_nlp(
    tiny_bert: str, heads: Sequence[str] = ("ner", "textcat"), examples_of=None, **cfg
) -> Language:
    """make_nlp(**cfg), initialized on `examples_of(nlp)` (default: both_examples)."""
    nlp = make_nlp(tiny_bert, heads, **cfg)
    examples = (examples_of or both_examples)(nlp)
    nlp.initialize(lambda: examples)
    return nlp


def encoder_only_initialized(tiny_bert: str, head: str, examples_of) -> Language:
    """A pipeline whose encoder is initialized and whose single head is not."""
    nlp = make_nlp(tiny_bert, (head,))
    examples = examples_of(nlp)
    nlp.get_pipe("transformer").initialize(lambda: examples, nlp=nlp)
    return nlp


def trained_nlp(
    tiny_bert: str,
    heads: Sequence[str],
    examples_of,
    n_steps: int,
    *,
    batch_size: Optional[int] = None,
    shuffle: bool = False,
    **cfg,
) -> Tuple[Language, List[Example]]:
    """initialized_nlp + train_steps; `examples_of(nlp)` builds the training examples."""
    nlp = initialized_nlp(tiny_bert, heads, examples_of, **cfg)
    examples = examples_of(nlp)
    train_steps(nlp, examples, adam(), n_steps, batch_size=batch_size, shuffle=shuffle)
    return nlp, examples


def predicted_examples(nlp: Language, examples: Iterable[Example]) -> List[Example]:
    """The examples with their predicted docs replaced by the pipeline's output."""
    return [Example(nlp(eg.reference.text), eg.reference) for eg in examples]


def encoder_params(nlp: Language) -> Dict[str, "object"]:
    """The torch parameters of the encoder's BertModel, by name."""
    # .model.transformer: spacy-transformers' public attribute, so that the stock encoder works too
    return dict(nlp.get_pipe("transformer").model.transformer.named_parameters())


def snapshot(nlp: Language) -> Dict[str, "object"]:
    return {name: p.detach().clone() for name, p in encoder_params(nlp).items()}


def encoder_grads(nlp: Language, examples: Sequence[Example]) -> Dict[str, "object"]:
    """The encoder gradient of one nlp.update (dropout 0) on the examples, without a step."""
    import torch

    params = encoder_params(nlp)
    for p in params.values():
        p.grad = None
    nlp.update(list(examples), sgd=False, drop=0.0, losses={})
    nlp.get_pipe("transformer").backward_pending()
    return {
        name: p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p)
        for name, p in params.items()
    }


def ent_tuples(doc: Doc) -> List[Tuple[int, int, str]]:
    return [(ent.start, ent.end, ent.label_) for ent in doc.ents]


def outputs(doc: Doc) -> Tuple:
    """What the heads predicted for a doc: entities, their scores, cats."""
    group = doc.spans.get("ents")
    scores = list(group.attrs.get("scores", [])) if group is not None else None
    return ent_tuples(doc), scores, dict(doc.cats)


def assert_same_outputs(docs_a: Iterable[Doc], docs_b: Iterable[Doc]) -> None:
    """Same entities, and scores and cats equal up to float noise."""
    docs_a, docs_b = list(docs_a), list(docs_b)
    assert len(docs_a) == len(docs_b)
    for a, b in zip(docs_a, docs_b):
        ents_a, scores_a, cats_a = outputs(a)
        ents_b, scores_b, cats_b = outputs(b)
        assert ents_a == ents_b
        if scores_a is not None or scores_b is not None:
            numpy.testing.assert_allclose(scores_a, scores_b, rtol=1e-5, atol=1e-6)
        assert cats_a.keys() == cats_b.keys()
        for label in cats_a:
            assert abs(cats_a[label] - cats_b[label]) < 1e-5, (label, cats_a, cats_b)


def round_trip_disk(nlp: Language, tmp_path) -> Language:
    tmp_path.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(tmp_path / "pipeline")
    return spacy.load(tmp_path / "pipeline")


def round_trip_bytes(nlp: Language) -> Language:
    data = nlp.to_bytes()
    return spacy.util.load_model_from_config(nlp.config, auto_fill=False).from_bytes(data)


# QA ------------------------------------------------------------------------------------------
# (context, question, answer); the answer is the first occurrence in the context, None for "no
# answer" (SQuAD 2.0). Every word is in the tiny BERT's vocabulary: one wordpiece each.
QA_DATA: List[Tuple[str, str, Optional[str]]] = [
    ("john visited london yesterday", "who visited london ?", "john"),
    ("mary works in paris", "where is mary ?", "paris"),
    ("the president met the bank", "who met the bank ?", "the president"),
    ("google is a company in new york", "where is google ?", "new york"),
]
# Windows that fit the tiny BERT: [CLS] question (<= 8) [SEP] context [SEP] in 32 wordpieces.
QA_SETTINGS = {"max_seq_length": 32, "doc_stride": 8, "max_question_length": 8}


def add_qa(nlp: Language, name: str = "qa", **config):
    """Add a `bert_qa` component with QA_SETTINGS (`config` overrides them); RETURNS it.

    `upstream=` goes to the model (its PairLink), where NER and textcat have theirs too.
    """
    config = {**QA_SETTINGS, **config}
    if "upstream" in config:
        config["model"] = {**config.get("model", {}), "upstream": config.pop("upstream")}
    return nlp.add_pipe("bert_qa", name=name, config=config)


def qa_nlp(
    tiny_bert: str,
    heads: Sequence[str] = (),
    *,
    dropout_free: bool = False,
    transformer: Optional[Dict] = None,
    **qa_config,
) -> Language:
    """make_nlp(heads) followed by a `bert_qa` component named "qa" (uninitialized)."""
    nlp = make_nlp(tiny_bert, heads, transformer=transformer, dropout_free=dropout_free)
    add_qa(nlp, **qa_config)
    return nlp


def qa_doc(nlp: Language, context: str, question: Optional[str]) -> Doc:
    """A fresh tokenized doc of the context, asking `question`."""
    from spacy_bert_tasks.qa.extensions import install_qa_extensions

    install_qa_extensions()
    doc = nlp.make_doc(context)
    doc._.question = question
    return doc


def qa_example(nlp: Language, context: str, question: str, answer: Optional[str]) -> Example:
    """A QA example as the QA corpus reader makes it: the question on both docs, the gold
    answer in reference._.gold_answers (empty: no answer) and reference.spans["answers"]."""
    reference = qa_doc(nlp, context, question)
    if answer is None:
        reference._.gold_answers = []
        reference.spans["answers"] = []
    else:
        start = context.index(answer)
        reference._.gold_answers = [{"text": answer, "answer_start": start}]
        reference.spans["answers"] = [reference.char_span(start, start + len(answer))]
    return Example(qa_doc(nlp, context, question), reference)


def qa_examples(nlp: Language, data=QA_DATA) -> List[Example]:
    return [qa_example(nlp, context, question, answer) for context, question, answer in data]


def qa_docs(nlp: Language, data=QA_DATA) -> List[Doc]:
    """Fresh docs with their questions (QA_DATA-like rows; a None question: not a QA doc)."""
    return [qa_doc(nlp, row[0], row[1]) for row in data]


def trained_qa_nlp(
    tiny_bert: str,
    examples_of,
    n_steps: int,
    heads: Sequence[str] = (),
    *,
    learn_rate: float = 0.001,
    **qa_config,
) -> Tuple[Language, List[Example]]:
    """qa_nlp, initialized on `examples_of(nlp)` and trained on them as `spacy train` does."""
    nlp = qa_nlp(tiny_bert, heads, **qa_config)
    examples = examples_of(nlp)
    nlp.initialize(lambda: examples)
    train_steps(nlp, examples, adam(learn_rate), n_steps)
    return nlp, examples


def answer_outputs(group) -> Tuple:
    """An answer group as (spans as (start, end), scores, texts, no_answer, null_score)."""
    attrs = group.attrs
    spans = [(span.start, span.end) for span in group]
    scores, texts = list(attrs["scores"]), list(attrs["texts"])
    return spans, scores, texts, attrs["no_answer"], attrs["null_score"]


def qa_outputs(doc: Doc, key: str = "answers") -> Optional[Tuple]:
    """What the QA head predicted for a doc (see answer_outputs), or None: no answer group."""
    group = doc.spans.get(key)
    return None if group is None else answer_outputs(group)


def assert_same_answers(docs_a: Iterable[Doc], docs_b: Iterable[Doc]) -> None:
    """Same answer spans, texts and no-answer flags; scores equal up to float noise."""
    docs_a, docs_b = list(docs_a), list(docs_b)
    assert len(docs_a) == len(docs_b)
    for a, b in zip(docs_a, docs_b):
        assert_same_group(qa_outputs(a), qa_outputs(b))


def assert_same_group(out_a: Optional[Tuple], out_b: Optional[Tuple]) -> None:
    """Two qa_outputs / answer_outputs results agree (scores up to float noise)."""
    assert (out_a is None) == (out_b is None), (out_a, out_b)
    if out_a is None:
        return
    # spans, texts and no_answer exactly; scores and null score up to float noise.
    assert [out_a[0], out_a[2], out_a[3]] == [out_b[0], out_b[2], out_b[3]]
    numpy.testing.assert_allclose(out_a[1], out_b[1], rtol=1e-5, atol=1e-6)
    assert abs(out_a[4] - out_b[4]) <= 1e-4 * max(1.0, abs(out_a[4]))


def run_module(
    *args: str, cwd, env: Optional[Dict[str, str]] = None
) -> "subprocess.CompletedProcess":  # noqa: F821 (imported in the function)
    """`python -m *args` in `cwd`; fails the test with the output's tail if it fails.

    env (Optional[Dict[str, str]]): Environment variables to set on top of this process's.
    """
    import os
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def assert_reaches_encoder(grads: Dict[str, "object"]) -> None:
    """Gradient (from encoder_grads) on at least 90% of the encoder tensors, and on every one
    but the pooler's (unused: heads read the hidden states)."""
    nonzero = [name for name, grad in grads.items() if grad.abs().sum() > 0]
    assert len(nonzero) >= 0.9 * len(grads)
    assert all(name.startswith("pooler") for name in set(grads) - set(nonzero))


def assert_gradient_is_sum(joint: Dict[str, "object"], *parts: Dict[str, "object"]) -> None:
    """Per encoder tensor, the joint gradient is the sum of the parts' (up to float noise)."""
    import torch

    for name, grad in joint.items():
        summed = sum(part[name] for part in parts)
        assert torch.allclose(grad, summed, atol=1e-6, rtol=1e-4), name
    assert any(grad.abs().sum() > 0 for grad in joint.values())


# Tests on the full datasets expect them in ../shared/datasets beside the repository.
SHARED_DATA_MISSING = "the shared datasets are missing"


def require_shared_data(*paths) -> None:
    """Skip the test, loudly, when a shared dataset file is missing; fail instead under CI=true.

    The skips are listed again at the end of the run (conftest.py), so a run without
    ../shared never looks complete.
    """
    import os
    from pathlib import Path

    import pytest

    missing = [str(path) for path in paths if not Path(path).exists()]
    if not missing:
        return
    message = f"{SHARED_DATA_MISSING}: {', '.join(missing)} (put the datasets in ../shared beside the repository)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}; CI=true, where every test must run")
    pytest.skip(message)
