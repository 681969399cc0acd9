"""spacy-bert-tasks.Adam.v2: the encoder stepped by torch's AdamW, the heads by thinc."""

import pytest
import torch
from thinc.api import constant, fix_random_seed
from util import (
    assert_same_answers,
    assert_same_outputs,
    both_examples,
    cats_examples,
    encoder_params,
    initialized_nlp,
    ner_examples,
    predicted_examples,
    qa_docs,
    qa_examples,
    qa_nlp,
    round_trip_disk,
    snapshot,
    train_steps,
)

from spacy_bert_tasks.training.optimizer import make_head_scaled_adam, make_head_scaled_adam_v2
from spacy_bert_tasks.training.torch_step import layer_groups

SETTINGS = dict(L2=0.0, grad_clip=1.0, head_learn_rate_scale=1.0)


def moved(before, nlp):
    after = encoder_params(nlp)
    return [name for name in before if not torch.equal(before[name], after[name].detach())]


def test_encoder_weights_move_under_torch_adamw(tiny_bert):
    nlp = initialized_nlp(tiny_bert, ("ner", "textcat"))
    before = snapshot(nlp)
    optimizer = make_head_scaled_adam_v2(1e-3, **SETTINGS)
    train_steps(nlp, both_examples(nlp), optimizer, 2)
    assert len(moved(before, nlp)) >= 0.9 * len(before)
    assert len(optimizer.torch_steps) == 1
    # thinc's Adam saw the heads' parameters only: no torch names (dotted) among its keys.
    assert optimizer.mom1 and not [key for key in optimizer.mom1 if "." in key[1]]


def test_torch_step_equals_thinc_step(tiny_bert):
    """Same settings, same batches: torch's AdamW and thinc's Adam give the same encoder."""
    results = []
    for make in (make_head_scaled_adam, make_head_scaled_adam_v2):
        nlp = initialized_nlp(tiny_bert, ("ner", "textcat"), dropout_free=True)
        optimizer = make(1e-3, L2=0.01, grad_clip=0.5, head_learn_rate_scale=5.0)
        train_steps(nlp, both_examples(nlp), optimizer, 3)
        results.append(snapshot(nlp))
    thinc_weights, torch_weights = results
    for name, weight in thinc_weights.items():
        assert torch.allclose(weight, torch_weights[name], atol=2e-6), name


def test_settings_and_schedules_reach_torch(tiny_bert):
    nlp = initialized_nlp(tiny_bert, ("ner", "textcat"))
    rates = iter([1e-3, 5e-4, 2.5e-4, 1e-4])
    optimizer = make_head_scaled_adam_v2(
        rates, L2=0.02, beta1=0.8, beta2=0.99, eps=1e-6, grad_clip=1.0, layer_lr_decay=0.5
    )
    examples = both_examples(nlp)
    for expected in (1e-3, 5e-4):
        train_steps(nlp, examples, optimizer, 1)
        (step,) = optimizer.torch_steps.values()
        for group in step.torch_optimizer.param_groups:
            assert group["lr"] == pytest.approx(expected * group["lr_scale"])
            assert group["betas"] == (0.8, 0.99)
            assert group["eps"] >= 1e-6  # thinc's eps, moved past the bias correction
            assert group["weight_decay"] == 0.02
        optimizer.step_schedules()  # as spacy train does after each step
    scales = sorted({g["lr_scale"] for g in step.torch_optimizer.param_groups})
    # tiny BERT: 2 blocks; embeddings one step below the lowest block
    assert scales == [0.25, 0.5, 1.0]


def test_layer_groups_decay_from_the_top(tiny_bert):
    nlp = initialized_nlp(tiny_bert, ("textcat",), examples_of=cats_examples)
    module = nlp.get_pipe("transformer").model.transformer
    scale = {n: g["lr_scale"] for g in layer_groups(module, 0.5) for n in g["names"]}
    assert scale["encoder.layer.1.output.dense.weight"] == 1.0
    assert scale["encoder.layer.0.output.dense.weight"] == 0.5
    assert scale["embeddings.word_embeddings.weight"] == 0.25
    assert set(scale) == {n for n, p in module.named_parameters() if p.requires_grad}


def test_zero_learning_rate_moves_nothing(tiny_bert):
    nlp = initialized_nlp(tiny_bert, ("ner",), examples_of=ner_examples)
    before = snapshot(nlp)
    optimizer = make_head_scaled_adam_v2(constant(0.0), L2=0.01)
    train_steps(nlp, ner_examples(nlp), optimizer, 2)
    assert moved(before, nlp) == []


@pytest.mark.parametrize("head", ["ner", "textcat", "qa"])
def test_every_head_trains_the_encoder(tiny_bert, head):
    fix_random_seed(0)
    if head == "qa":
        nlp = qa_nlp(tiny_bert)
        examples_of = qa_examples
    else:
        examples_of = {"ner": ner_examples, "textcat": cats_examples}[head]
        nlp = initialized_nlp(tiny_bert, (head,), examples_of=examples_of)
    examples = examples_of(nlp)
    if head == "qa":
        nlp.initialize(lambda: examples)
    before = snapshot(nlp)
    # Two steps: a head starting from zero weights sends the encoder no gradient at first.
    losses = train_steps(nlp, examples, make_head_scaled_adam_v2(1e-3, **SETTINGS), 2)
    assert len(moved(before, nlp)) >= 0.9 * len(before)
    # The encoder's loss (squared norm of the gradient it received) counts every head, QA too.
    assert losses["transformer"] > 0


def test_trained_with_torch_adamw_survives_save_and_load(tiny_bert, tmp_path):
    nlp = initialized_nlp(tiny_bert, ("ner", "textcat"))
    train_steps(nlp, both_examples(nlp), make_head_scaled_adam_v2(1e-3, **SETTINGS), 3)
    loaded = round_trip_disk(nlp, tmp_path)
    texts = [eg.reference.text for eg in both_examples(nlp)]
    assert_same_outputs(nlp.pipe(texts), loaded.pipe(texts))
    qa = qa_nlp(tiny_bert)
    qa.initialize(lambda: qa_examples(qa))
    train_steps(qa, qa_examples(qa), make_head_scaled_adam_v2(1e-3, **SETTINGS), 2)
    qa_loaded = round_trip_disk(qa, tmp_path / "qa")
    assert_same_answers(qa.pipe(qa_docs(qa)), qa_loaded.pipe(qa_docs(qa_loaded)))


def test_averages_of_the_encoder_are_used_for_evaluation(tiny_bert):
    nlp = initialized_nlp(tiny_bert, ("ner", "textcat"))
    optimizer = make_head_scaled_adam_v2(1e-2, use_averages=True, **SETTINGS)
    train_steps(nlp, both_examples(nlp), optimizer, 3)
    keys = [k for k in optimizer.averages if isinstance(k, str) and k.startswith("pytorch_")]
    assert len(keys) == len(encoder_params(nlp))
    current = snapshot(nlp)
    name = "encoder.layer.0.output.dense.weight"
    with nlp.use_params(optimizer.averages):
        averaged = encoder_params(nlp)[name].detach().clone()
        scored = predicted_examples(nlp, both_examples(nlp))
    assert not torch.equal(averaged, current[name])  # the average lags the weights
    assert torch.equal(encoder_params(nlp)[name].detach(), current[name])  # restored after
    assert len(scored) == 4
