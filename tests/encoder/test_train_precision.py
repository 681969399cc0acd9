"""`train_precision`: the encoder's training forward under bf16 autocast, fp32 weights and grads."""

import logging

import pytest
import spacy
import torch
from spacy_transformers.layers.hf_shim import HFShim
from training_runs import train_with_cli, training_config, write_corpus
from util import (
    adam,
    assert_reaches_encoder,
    both_examples,
    encoder_grads,
    initialized_nlp,
    ner_examples,
    qa_examples,
    qa_nlp,
    snapshot,
    train_steps,
)

from spacy_bert_tasks.encoder import train_precision as tp
from spacy_bert_tasks.encoder.train_precision import train_precision_lines
from spacy_bert_tasks.training.optimizer import make_head_scaled_adam_v2

CPU = torch.device("cpu")


def bf16_nlp(tiny_bert, heads=("ner", "textcat"), precision="bf16"):
    model = {"train_precision": precision}
    return initialized_nlp(tiny_bert, heads, transformer={"model": model}, dropout_free=True)


def warmed_up_grads(tiny_bert, precision="bf16"):
    """The encoder gradient of one update, after 2 steps (the heads' output layers start at
    zero and send no gradient back before)."""
    nlp = bf16_nlp(tiny_bert, precision=precision)
    train_steps(nlp, both_examples(nlp), adam(), 2)
    return encoder_grads(nlp, both_examples(nlp))


def record_linear_dtypes(nlp):
    """The output dtypes of the encoder's first query projection, in call order."""
    module = nlp.get_pipe("transformer").model.transformer
    seen = []
    query = module.encoder.layer[0].attention.self.query
    query.register_forward_hook(lambda mod, inputs, output: seen.append(output.dtype))
    return seen


def test_bf16_training_forward_runs_in_bf16_and_prediction_in_fp32(tiny_bert):
    nlp = bf16_nlp(tiny_bert)
    seen = record_linear_dtypes(nlp)
    nlp.update(both_examples(nlp), sgd=False, losses={})
    assert seen and set(seen) == {torch.bfloat16}
    params = nlp.get_pipe("transformer").model.transformer.parameters()
    assert {p.dtype for p in params} == {torch.float32}  # the master weights stay fp32
    seen.clear()
    encoder = nlp.get_pipe("transformer")
    encoder.set_inference_graph("eager")  # the hook is on the module's own Linear layers
    doc = nlp("john visited london")
    assert set(seen) == {torch.float32}  # inference_precision "fp32": predictions unchanged
    encoder.set_inference_graph("packed")  # the default: fp32 weights packed (test_packed.py)
    trf_data = encoder.predict([doc]).doc_data[0]
    assert trf_data.model_output.last_hidden_state.dtype.name == "float32"


def test_bf16_gradients_reach_the_encoder_in_fp32(tiny_bert):
    grads = warmed_up_grads(tiny_bert)
    assert_reaches_encoder(grads)
    assert {grad.dtype for grad in grads.values()} == {torch.float32}


def test_bf16_gradient_is_close_to_fp32(tiny_bert):
    fp32, bf16 = warmed_up_grads(tiny_bert, "fp32"), warmed_up_grads(tiny_bert)
    top = "encoder.layer.1.output.dense.weight"
    cosine = torch.nn.functional.cosine_similarity(fp32[top].flatten(), bf16[top].flatten(), 0)
    assert not torch.equal(fp32[top], bf16[top])  # it really ran in bf16
    assert cosine > 0.99


def test_heads_learn_their_toy_sets_in_bf16(tiny_bert):
    nlp = bf16_nlp(tiny_bert)
    examples = both_examples(nlp)
    train_steps(nlp, examples, adam(), 30)
    assert nlp.get_pipe("transformer").model.shim.resolved_train_precision() == "bf16"
    ner_scores = nlp.evaluate(ner_examples(nlp))
    assert ner_scores["ents_f"] == 1.0
    assert nlp.evaluate(examples)["cats_score"] == 1.0


def test_qa_pair_pass_trains_in_bf16_with_torch_adamw(tiny_bert):
    nlp = qa_nlp(tiny_bert, transformer={"model": {"train_precision": "bf16"}})
    examples = qa_examples(nlp)
    nlp.initialize(lambda: examples)
    seen = record_linear_dtypes(nlp)
    before = snapshot(nlp)
    optimizer = make_head_scaled_adam_v2(1e-3, L2=0.0, grad_clip=1.0, head_learn_rate_scale=1.0)
    train_steps(nlp, examples, optimizer, 2)
    assert torch.bfloat16 in seen  # QA-only: every training forward is the pair pass
    assert len(optimizer.torch_steps) == 1
    after = snapshot(nlp)
    moved = [name for name in before if not torch.equal(before[name], after[name])]
    assert len(moved) >= 0.9 * len(before)
    assert all(torch.isfinite(weight).all() for weight in after.values())


def test_fp32_is_the_stock_training_forward(tiny_bert, monkeypatch):
    """ "fp32" gives bit for bit the weights of thinc's own begin_update (before this setting)."""
    results = []
    for stock in (False, True):
        if stock:
            monkeypatch.setattr(tp.TrainPrecisionShim, "begin_update", HFShim.begin_update)
        nlp = bf16_nlp(tiny_bert, precision="fp32")
        train_steps(nlp, both_examples(nlp), adam(), 3)
        results.append(snapshot(nlp))
    ours, stock = results
    assert all(torch.equal(ours[name], stock[name]) for name in ours)


@pytest.mark.parametrize("native", [True, False])
def test_auto_resolves_from_the_cpu(tiny_bert, monkeypatch, caplog, native):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    expected = "bf16" if native else "fp32"
    assert tp.resolve_train_precision("auto", CPU, False)[0] == expected
    nlp = bf16_nlp(tiny_bert, precision="auto")
    seen = record_linear_dtypes(nlp)
    with caplog.at_level(logging.INFO, logger="spacy"):
        train_steps(nlp, both_examples(nlp), adam(), 2)
    assert set(seen) == {torch.bfloat16 if native else torch.float32}
    logged = [r.getMessage() for r in caplog.records if "Training the encoder" in r.getMessage()]
    assert len(logged) == 1  # once, not at every step
    assert f"in {expected}" in logged[0] and "auto" in logged[0]


def test_amx_counts_as_native_bf16(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)
    assert tp.native_bf16(CPU) == (True, "this CPU has AMX")


def test_mixed_precision_keeps_its_own_path():
    assert tp.resolve_train_precision("auto", CPU, True)[0] == "fp16-mixed"
    assert tp.resolve_train_precision("fp32", CPU, False)[0] == "fp32"
    with pytest.raises(ValueError, match="two autocasts"):
        tp.check_train_precision("bf16", mixed_precision=True)


def test_bad_value_is_a_clear_error(tiny_bert):
    with pytest.raises(ValueError, match="train_precision must be one of auto, fp32, bf16"):
        bf16_nlp(tiny_bert, precision="fp16")


def test_setting_survives_save_load_and_copy(tiny_bert, tmp_path):
    nlp = bf16_nlp(tiny_bert)
    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    encoder = loaded.get_pipe("transformer")
    assert loaded.config["components"]["transformer"]["model"]["train_precision"] == "bf16"
    assert encoder.model.shim.train_precision == "bf16"
    assert encoder.model.copy().shim.train_precision == "bf16"


def test_training_console_says_which_precision(tiny_bert):
    nlp = bf16_nlp(tiny_bert)
    lines = train_precision_lines(nlp)
    assert lines == ["'transformer' trains its encoder in bf16 (train_precision = 'bf16')"]
    nlp.config["training"]["frozen_components"] = ["transformer"]
    assert train_precision_lines(nlp) == []  # a frozen encoder does not train


def test_train_command_prints_the_precision(tiny_bert, tmp_path):
    config = training_config(tiny_bert, max_steps=2, eval_frequency=2)
    config["components"]["transformer"]["model"]["train_precision"] = "fp32"
    result, _, records = train_with_cli(config, tmp_path, write_corpus(tmp_path / "corpus"))
    assert result.exit_code == 0, result.output
    assert "'transformer' trains its encoder in fp32 (train_precision = 'fp32')" in result.output
    assert records  # it trained


def test_a_heads_own_encoder_copy_trains_in_bf16(tiny_bert):
    """After replace_listeners, the head's encoder backpropagates through the shim itself."""
    nlp = bf16_nlp(tiny_bert, heads=("ner",))
    examples = ner_examples(nlp)
    train_steps(nlp, examples, adam(), 2)  # the head's output layer starts at zero
    nlp.replace_listeners("transformer", "ner", ["model.tok2vec"])
    (shim,) = [s for node in nlp.get_pipe("ner").model.walk() for s in node.shims]
    assert shim.train_precision == "bf16"
    seen = []
    query = shim._model.encoder.layer[0].attention.self.query
    query.register_forward_hook(lambda mod, inputs, output: seen.append(output.dtype))
    before = {name: p.detach().clone() for name, p in shim._model.named_parameters()}
    train_steps(nlp, examples, adam(), 2)
    assert set(seen) == {torch.bfloat16}
    moved = [n for n, p in shim._model.named_parameters() if not torch.equal(p, before[n])]
    assert len(moved) >= 0.9 * len(before)
    assert {p.grad.dtype for p in shim._model.parameters() if p.grad is not None} <= {torch.float32}
