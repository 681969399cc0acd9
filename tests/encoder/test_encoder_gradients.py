"""Every head's gradient reaches the shared encoder, whatever the other heads do with a batch."""

import pytest
import torch
from util import (
    CATS_DATA,
    NER_DATA,
    STOCK_FACTORY,
    adam,
    both_examples,
    cats_examples,
    encoder_grads,
    encoder_params,
    initialized_nlp,
    ner_examples,
    snapshot,
    step,
    trained_nlp,
    unannotated_example,
)

# The same texts as NER_DATA, so that NER-only, cats-only and joint batches feed the encoder alike.
SAME_TEXT_CATS = [(text, cats) for (text, _), (_, cats) in zip(NER_DATA, CATS_DATA)]


def warmed_up(tiny_bert, heads, **cfg):
    # The heads' output layers start at zero and so send no gradient back: train them a little.
    return trained_nlp(tiny_bert, heads, both_examples, 2, **cfg)


def changed_tensors(nlp, before):
    return [name for name, p in encoder_params(nlp).items() if not torch.equal(p, before[name])]


@pytest.mark.parametrize(
    "factory, encoder_learns", [("bert_transformer", True), (STOCK_FACTORY, False)]
)
def test_cats_only_batch_trains_encoder_when_ner_listens_last(tiny_bert, factory, encoder_learns):
    # Trap 1: the stock encoder backpropagates only through its LAST listener. NER runs last here
    # and skips a batch without entity annotation, so the stock encoder drops textcat's gradient.
    nlp, _ = warmed_up(tiny_bert, ("textcat", "ner"), factory=factory)
    assert nlp.get_pipe("transformer").listening_components == ["textcat", "ner"]
    before = snapshot(nlp)
    textcat_before = nlp.get_pipe("textcat").model.get_ref("output_layer").get_param("W").copy()
    losses = {}
    nlp.update(cats_examples(nlp), sgd=False, losses=losses)
    step(nlp, adam())  # a fresh optimizer: no momentum moves weights that get no gradient
    assert losses["textcat"] > 0 and losses["ner"] == 0
    # The textcat head itself was stepped either way.
    textcat_after = nlp.get_pipe("textcat").model.get_ref("output_layer").get_param("W")
    assert (textcat_after != textcat_before).any()
    changed = changed_tensors(nlp, before)
    if encoder_learns:
        assert len(changed) > 0.8 * len(before)
    else:
        assert changed == []


@pytest.fixture(scope="module")
def grads(tiny_bert):
    """Encoder gradients of each head alone and of both together, on the same docs and weights."""
    nlp, joint = warmed_up(tiny_bert, ("ner", "textcat"), dropout_free=True)
    return {
        "ner": encoder_grads(nlp, ner_examples(nlp)),
        "textcat": encoder_grads(nlp, cats_examples(nlp, SAME_TEXT_CATS)),
        "joint": encoder_grads(nlp, joint),
    }


@pytest.mark.parametrize("head", ["ner", "textcat"])
def test_each_head_alone_reaches_encoder(grads, head):
    nonzero = [name for name, g in grads[head].items() if g.abs().sum() > 0]
    # Only the pooler (unused: heads read the hidden states) may get nothing.
    assert len(nonzero) >= 0.9 * len(grads[head])
    assert all(name.startswith("pooler") for name in set(grads[head]) - set(nonzero))


def test_joint_gradient_is_sum_of_heads(grads):
    for name, joint in grads["joint"].items():
        summed = grads["ner"][name] + grads["textcat"][name]
        assert torch.allclose(joint, summed, atol=1e-6, rtol=1e-4), name
    assert any(grads["joint"][name].abs().sum() > 0 for name in grads["joint"])


def test_sub_batches_accumulate_until_finish_update(tiny_bert):
    # Two nlp.update calls before one step (accumulate_gradient = 2 in spacy train): the first
    # sub-batch's gradient is flushed at the second update, not lost.
    nlp, _ = warmed_up(tiny_bert, ("textcat", "ner"), dropout_free=True)
    cats, ents = cats_examples(nlp), ner_examples(nlp)
    cats_grads, ents_grads = encoder_grads(nlp, cats), encoder_grads(nlp, ents)
    expected = {name: cats_grads[name] + ents_grads[name] for name in cats_grads}
    for p in encoder_params(nlp).values():
        p.grad = None
    nlp.update(cats, sgd=False, drop=0.0)
    nlp.update(ents, sgd=False, drop=0.0)
    nlp.get_pipe("transformer").backward_pending()
    for name, p in encoder_params(nlp).items():
        if name.startswith("pooler"):
            continue
        assert torch.allclose(p.grad, expected[name], atol=1e-6, rtol=1e-4), name


def test_stepping_inside_update_warns(tiny_bert):
    # Trap 3: nlp.update(sgd=optimizer) steps the encoder before the heads send gradients.
    nlp = initialized_nlp(tiny_bert, ("ner",), ner_examples)
    examples = ner_examples(nlp)
    with pytest.warns(UserWarning, match="one step late"):
        nlp.update(examples, sgd=adam())


def test_doc_pass_skips_docs_no_head_learns_from(tiny_bert):
    # In a joint corpus, QA docs carry neither entities nor cats: their doc pass would be pure
    # cost (their loss is masked). The encoder encodes only the docs some head learns from, and
    # the gradient is the one of the annotated docs alone.
    nlp, _ = warmed_up(tiny_bert, ("ner", "textcat"), dropout_free=True)
    unannotated = [
        unannotated_example(
            nlp, "a much longer context that only the question answering head reads " * 3
        ),
        unannotated_example(nlp, "another paragraph without entities or categories"),
    ]
    alone = encoder_grads(nlp, ner_examples(nlp))
    encoded = []
    model = nlp.get_pipe("transformer").model
    real_begin_update = model.begin_update
    model.begin_update = lambda docs: encoded.append(len(docs)) or real_begin_update(docs)
    try:
        mixed = encoder_grads(nlp, unannotated[:1] + ner_examples(nlp) + unannotated[1:])
        only_unannotated = encoder_grads(nlp, unannotated)
    finally:
        del model.begin_update
    assert encoded == [len(NER_DATA)]  # the unannotated-only batch ran no doc pass at all
    assert all(g.abs().sum() == 0 for g in only_unannotated.values())
    for name, grad in mixed.items():
        assert torch.allclose(grad, alone[name], atol=1e-6, rtol=1e-4), name


def test_heads_say_which_examples_they_learn_from(tiny_bert):
    nlp = initialized_nlp(tiny_bert, ("ner", "textcat"), both_examples)
    ner, textcat = nlp.get_pipe("ner"), nlp.get_pipe("textcat")
    plain = unannotated_example(nlp, "no annotation here")
    assert [
        ner.learns_from(eg) for eg in ner_examples(nlp)[:1] + cats_examples(nlp)[:1] + [plain]
    ] == [True, False, False]
    assert [
        textcat.learns_from(eg) for eg in ner_examples(nlp)[:1] + cats_examples(nlp)[:1] + [plain]
    ] == [False, True, False]
