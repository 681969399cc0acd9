"""Fuzz: wild training batches through `nlp.update` + `finish_update`, and through `spacy train`.

Batches mix NER, textcat and QA examples with empty, blank, long and odd-Unicode docs, partial
annotations (tokens with missing entity tags), docs annotated for two tasks and docs annotated
for none. Nothing may raise, and the encoder's gradient must come from the annotated docs only:
it equals the gradient of the same batch without the unannotated examples.
"""

import math
import random
import warnings
from typing import List

import pytest
import torch
from hardening import GLUES, SPECIAL_PIECES, WORDS, randomize_heads, wild_texts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spacy.tokens import DocBin
from spacy.training import Example
from util import adam, add_qa, both_examples, encoder_grads, make_nlp, qa_doc, qa_examples

FUZZ_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    database=None,  # the working tree is shared: no .hypothesis/ folder
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
any_char = st.characters(exclude_categories=["Cs"])
piece = st.one_of(
    st.text(any_char, max_size=8),
    st.sampled_from(SPECIAL_PIECES),
    st.sampled_from(WORDS),
    st.sampled_from(GLUES),
)
texts = st.one_of(
    st.lists(piece, max_size=12).map("".join),
    st.sampled_from(["", " ", "\n\t ", "john " * 120]),  # empty, blank, longer than a window
)
TASKS = ("ner", "cats", "qa", "ner+cats", "none")


@pytest.fixture(scope="module")
def nlp(tiny_bert):
    """Three heads with random output layers (zero ones pass no gradient back to the encoder)."""
    nlp = make_nlp(tiny_bert, ("ner", "textcat"), dropout_free=True)
    add_qa(nlp)
    examples = both_examples(nlp) + qa_examples(nlp)
    nlp.initialize(lambda: examples)
    randomize_heads(nlp, seed=0)
    return nlp


@pytest.fixture(autouse=True)
def quiet():
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r".*longer than (the encoder's limit|max_question_length)"
        )
        yield


class HypothesisChoices:
    """The random choices of fuzzed_example, drawn by hypothesis (so that it shrinks them)."""

    def __init__(self, draw):
        self.draw = draw

    def text(self) -> str:
        return self.draw(texts)

    def one(self, options):
        return self.draw(st.sampled_from(options))


class SeededChoices:
    """The same choices from a seeded generator, for a corpus written to disk."""

    QUESTIONS = ("who ?", "", "what is the capital ?", "\U0001f600 ?", "john " * 20)

    def __init__(self, seed: int):
        self.rng = random.Random(seed)

    def text(self) -> str:
        return self.rng.choice(self.QUESTIONS)

    def one(self, options):
        return self.rng.choice(list(options))


def fuzzed_example(nlp, text: str, task: str, choose) -> Example:
    """An example of `text` annotated for `task` (random tags, cats, question and answer)."""
    if task == "qa":
        question = choose.text()
        doc = qa_doc(nlp, text, question)
        tokens = [t for t in doc if not t.is_space]
        reference = qa_doc(nlp, text, question)
        if tokens and choose.one([True, False]):
            token = choose.one(tokens)
            reference._.gold_answers = [{"text": token.text, "answer_start": token.idx}]
            reference.spans["answers"] = [reference[token.i : token.i + 1]]
        else:
            reference._.gold_answers = []
        return Example(doc, reference)
    doc = nlp.make_doc(text)
    annotation = {}
    if "ner" in task:
        # Partial annotation: "-" leaves a token's tag missing.
        tags = [choose.one(["O", "U-PER", "U-LOC", "-"]) for _ in doc]
        annotation["entities"] = [
            "O" if t.is_space and tag.startswith("U") else tag for t, tag in zip(doc, tags)
        ]
    if "cats" in task:
        annotation["cats"] = choose.one([{"POS": 1.0, "NEG": 0.0}, {"POS": 0.0, "NEG": 1.0}, {}])
    return Example.from_dict(doc, annotation)


def is_annotated(eg: Example) -> bool:
    reference = eg.reference
    return (
        reference.has_annotation("ENT_IOB")
        or bool(reference.cats)
        or reference._.question is not None
    )


@st.composite
def batches(draw, nlp) -> List[Example]:
    n, choose = draw(st.integers(1, 8)), HypothesisChoices(draw)
    return [fuzzed_example(nlp, choose.text(), choose.one(TASKS), choose) for _ in range(n)]


def step(nlp, batch: List[Example], optimizer) -> dict:
    """spacy train's step: update every component without stepping, then step each."""
    losses: dict = {}
    nlp.update(batch, sgd=False, losses=losses)
    for _, component in nlp.pipeline:
        component.finish_update(optimizer)
    return losses


def test_empty_doc_in_a_batch_with_sgd_false(nlp):
    # The loop README tells users to copy; an empty doc used to crash the encoder (IndexError).
    examples = both_examples(nlp)
    empty_ner = Example.from_dict(nlp.make_doc(""), {"entities": []})
    empty_cats = Example.from_dict(nlp.make_doc(""), {"cats": {"POS": 1.0, "NEG": 0.0}})
    optimizer = adam()
    for batch in (
        [examples[0], empty_ner, examples[-1], empty_cats],
        [empty_cats],
        [empty_ner, examples[0]],
    ):
        losses = step(nlp, batch, optimizer)
        assert all(math.isfinite(loss) for loss in losses.values())


@given(data=st.data())
@FUZZ_SETTINGS
def test_hypothesis_batches_through_update(nlp, data):
    batch = data.draw(batches(nlp))
    annotated = [eg for eg in batch if is_annotated(eg)]
    grads = encoder_grads(nlp, batch)
    if annotated:
        expected = encoder_grads(nlp, annotated)
        for name, grad in grads.items():
            assert torch.allclose(grad, expected[name], atol=1e-5, rtol=1e-4), name
    else:
        assert all(not grad.any() for grad in grads.values())
    losses = step(nlp, batch, adam(1e-4))
    assert all(math.isfinite(loss) for loss in losses.values())


def fuzzed_corpus(nlp, n: int, *, seed: int) -> DocBin:
    """Reference docs of wild texts, each annotated for a random task (as spacy train reads)."""
    choose = SeededChoices(seed)
    corpus = DocBin(store_user_data=True)
    for text in wild_texts(n, seed=seed) + ["", "  "]:
        corpus.add(fuzzed_example(nlp, text, choose.one(TASKS), choose).reference)
    return corpus


def test_spacy_train_on_a_fuzzed_corpus(nlp, tiny_bert, tmp_path):
    from spacy.cli.train import train

    from spacy_bert_tasks.config.generate import generate_config

    for split, seed in (("train", 0), ("dev", 1)):
        (tmp_path / split).mkdir()
        fuzzed_corpus(nlp, 60, seed=seed).to_disk(tmp_path / split / "fuzz.spacy")
    config = generate_config(
        ["ner", "textcat", "qa"], encoder=tiny_bert, max_steps=6, batch_size=300
    )
    config["components"]["qa"].update(
        {"max_seq_length": 32, "doc_stride": 8, "max_question_length": 8}
    )
    config.to_disk(tmp_path / "config.cfg")
    overrides = {"paths.train": str(tmp_path / "train"), "paths.dev": str(tmp_path / "dev")}
    train(tmp_path / "config.cfg", tmp_path / "out", overrides=overrides)
    assert (tmp_path / "out" / "model-last" / "transformer").is_dir()
