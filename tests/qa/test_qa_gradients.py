"""The QA head's pair pass trains the shared encoder, in the encoder's one backward per step."""

import pytest
import torch
from util import (
    adam,
    assert_gradient_is_sum,
    assert_reaches_encoder,
    cats_examples,
    encoder_grads,
    encoder_params,
    ner_examples,
    qa_examples,
    qa_nlp,
    snapshot,
    step,
    train_steps,
)

TOKEN_TYPES = "embeddings.token_type_embeddings.weight"


def mixed_examples(nlp):
    return cats_examples(nlp) + qa_examples(nlp)


def all_tasks_examples(nlp):
    return ner_examples(nlp) + mixed_examples(nlp)


def changed_tensors(nlp, before):
    return [name for name, p in encoder_params(nlp).items() if not torch.equal(p, before[name])]


def initialized(tiny_bert, heads=(), examples_of=qa_examples, **cfg):
    nlp = qa_nlp(tiny_bert, heads, **cfg)
    examples = examples_of(nlp)
    nlp.initialize(lambda: examples)
    return nlp, examples


@pytest.fixture(scope="module")
def grads(tiny_bert):
    """Encoder gradients of textcat alone, QA alone and both on one mixed batch, same weights."""
    nlp, examples = initialized(tiny_bert, ("textcat",), mixed_examples, dropout_free=True)
    # textcat's output layer starts at zero and so sends no gradient back: train it a little.
    train_steps(nlp, examples, adam(), 2)
    return {
        "textcat": encoder_grads(nlp, cats_examples(nlp)),
        "qa": encoder_grads(nlp, qa_examples(nlp)),
        "joint": encoder_grads(nlp, mixed_examples(nlp)),
    }


def test_qa_alone_reaches_encoder(grads):
    assert_reaches_encoder(grads["qa"])
    # The pair pass feeds segment ids: the context's segment embedding (row 1) learns from QA,
    # while the doc-level pass only ever uses segment 0.
    assert grads["qa"][TOKEN_TYPES][1].abs().sum() > 0
    assert grads["textcat"][TOKEN_TYPES][1].abs().sum() == 0


def test_joint_gradient_is_sum_of_heads(grads):
    assert_reaches_encoder(grads["textcat"])
    assert_gradient_is_sum(grads["joint"], grads["textcat"], grads["qa"])


def test_frozen_encoder_gets_no_gradient_and_qa_head_learns(tiny_bert):
    # Trap 5: a frozen encoder is never stepped nor zeroed, so the pair pass must not leave grads.
    nlp, examples = initialized(tiny_bert)
    before = snapshot(nlp)
    output_layer = nlp.get_pipe("qa").model.get_ref("output_layer")
    head_before = output_layer.get_param("W").copy()
    first = train_steps(nlp, examples, adam(), 1, frozen=["transformer"])
    last = train_steps(nlp, examples, adam(), 15, frozen=["transformer"])
    assert all(torch.equal(p, before[name]) for name, p in encoder_params(nlp).items())
    assert all(p.grad is None or not p.grad.any() for p in encoder_params(nlp).values())
    assert (output_layer.get_param("W") != head_before).any()
    assert last["qa"] < first["qa"]


def test_one_backward_per_step(tiny_bert, monkeypatch):
    # Trap 4: one torch backward per step for the doc-level pass (NER + textcat) and the pair pass.
    nlp, batch = initialized(tiny_bert, ("ner", "textcat"), all_tasks_examples)
    calls = []
    backward = torch.autograd.backward

    def counting_backward(*args, **kwargs):
        calls.append(args)
        return backward(*args, **kwargs)

    monkeypatch.setattr(torch.autograd, "backward", counting_backward)
    before = snapshot(nlp)
    losses = {}
    nlp.update(batch, sgd=False, losses=losses)
    step(nlp, adam())
    assert len(calls) == 1
    assert losses["ner"] > 0 and losses["qa"] > 0
    assert len(changed_tensors(nlp, before)) > 0.8 * len(before)


def test_update_with_optimizer_trains_encoder_from_qa(tiny_bert):
    nlp, examples = initialized(tiny_bert)
    before = snapshot(nlp)
    optimizer = adam()
    for _ in range(3):
        nlp.update(examples, sgd=optimizer)
    assert changed_tensors(nlp, before)
