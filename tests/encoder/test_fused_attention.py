"""The inference copies' self-attention: Q, K and V as one Linear layer, two attention paths."""

import numpy
import pytest
import torch
from int8_util import hidden_states, int8_nlp
from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear
from transformers import BertConfig, BertModel

from spacy_bert_tasks.encoder import fused_attention, int8_layers
from spacy_bert_tasks.encoder.fused_attention import (
    BLOCKED_WINDOW,
    SHORT_WINDOW,
    FusedSelfAttention,
    attention_in_blocks,
    fuse_self_attention,
)
from spacy_bert_tasks.encoder.inference_copy import inference_copy
from spacy_bert_tasks.encoder.int8_layers import InPlaceGELU, quantize_dynamic_int8
from spacy_bert_tasks.encoder.packed import PackedLinear, packed_copy, packing_available

# Lengths on each side of SHORT_WINDOW and BLOCKED_WINDOW: each attention path runs.
LENGTHS = [SHORT_WINDOW // 2, SHORT_WINDOW + 9, BLOCKED_WINDOW + 16]


def bert(**config) -> BertModel:
    torch.manual_seed(0)
    settings = dict(vocab_size=50, hidden_size=24, num_hidden_layers=2, num_attention_heads=3)
    settings.update(intermediate_size=48, max_position_embeddings=512)
    return BertModel(BertConfig(**settings, **config), add_pooling_layer=False).eval()


def inputs(length: int):
    """Three windows of `length` wordpieces, the second padded after half of them."""
    generator = torch.Generator().manual_seed(length)
    ids = torch.randint(1, 50, (3, length), generator=generator)
    mask = torch.ones(3, length, dtype=torch.long)
    mask[1, length // 2 :] = 0
    return {"input_ids": ids, "attention_mask": mask}


def assert_same_outputs(module, copy, length):
    """`copy` gives `module`'s last hidden states on every real position."""
    batch = inputs(length)
    real = batch["attention_mask"].bool()
    with torch.inference_mode():
        expected = module(**batch).last_hidden_state
        got = copy(**batch).last_hidden_state
    assert torch.allclose(got[real], expected[real], atol=1e-5)


@pytest.mark.parametrize("length", LENGTHS)
def test_fused_copy_gives_the_modules_outputs_on_both_paths(length):
    module = bert()
    copy = inference_copy(module)
    assert fuse_self_attention(copy) == 2
    assert type(module.encoder.layer[0].attention.self).__name__ == "BertSdpaSelfAttention"
    assert_same_outputs(module, copy, length)
    # The copy's model passes padding as one row per window; the module still builds blocks.
    assert copy.attn_implementation == "eager" and module.attn_implementation == "sdpa"


@pytest.mark.parametrize("length", LENGTHS)
def test_each_path_runs_where_the_length_says(length, monkeypatch):
    calls = {"sdpa": [], "blocks": []}
    sdpa = torch.nn.functional.scaled_dot_product_attention

    def counted_sdpa(*args, **kwargs):
        calls["sdpa"].append(args[0].shape[-2])
        return sdpa(*args, **kwargs)

    def counted_blocks(*args, **kwargs):
        calls["blocks"].append(args[0].shape[-2])
        return attention_in_blocks(*args, **kwargs)

    copy = inference_copy(bert())
    fuse_self_attention(copy)
    monkeypatch.setattr(
        fused_attention.torch.nn.functional, "scaled_dot_product_attention", counted_sdpa
    )
    monkeypatch.setattr(fused_attention, "attention_in_blocks", counted_blocks)
    with torch.inference_mode():
        copy(**inputs(length))
    path = "matmul" if length <= SHORT_WINDOW else "blocks" if length <= BLOCKED_WINDOW else "sdpa"
    for name, lengths in calls.items():
        assert lengths == ([length, length] if name == path else []), name


@pytest.mark.parametrize("block_bytes", [1, 2 * 57 * 57 * 4, 1 << 30])
@pytest.mark.parametrize("masked", [True, False])
def test_attention_in_blocks_is_the_attention_kernels(block_bytes, masked):
    # 3 heads: blocks of 1, of 2 (the last one short) and of all of them
    generator = torch.Generator().manual_seed(7)
    query, key, value = torch.randn(3, 2, 3, 57, 8, generator=generator).unbind(0)
    mask = None
    if masked:  # the second window padded after 30 positions
        mask = torch.zeros(2, 1, 1, 57)
        mask[1, ..., 30:] = torch.finfo(torch.float32).min
    expected = torch.nn.functional.scaled_dot_product_attention(
        query, key, value, attn_mask=mask, scale=1.0
    )
    got = attention_in_blocks(query, key, value, mask, block_bytes)
    assert got.shape == expected.shape and got.is_contiguous()
    assert torch.allclose(got, expected, atol=1e-5)


def test_attention_probabilities_and_head_mask_are_hfs():
    module = bert()
    copy = inference_copy(module)
    fuse_self_attention(copy)
    batch = inputs(SHORT_WINDOW + 9)  # a length that would take the fused kernel
    head_mask = torch.tensor([1.0, 0.0, 0.5])
    with torch.inference_mode():
        expected = module(**batch, output_attentions=True, head_mask=head_mask)
        got = copy(**batch, output_attentions=True, head_mask=head_mask)
    real = batch["attention_mask"].bool()
    assert torch.allclose(got.last_hidden_state[real], expected.last_hidden_state[real], atol=1e-5)
    for got_probs, expected_probs in zip(got.attentions, expected.attentions):
        assert torch.allclose(got_probs, expected_probs, atol=1e-6)
        assert got_probs[:, 1].abs().max() == 0  # the masked head


def test_decoders_and_relative_positions_keep_hfs_attention():
    for config in ({"is_decoder": True}, {"position_embedding_type": "relative_key"}):
        copy = inference_copy(bert(**config))
        assert fuse_self_attention(copy) == 0
        assert not any(isinstance(m, FusedSelfAttention) for m in copy.modules())
        assert copy.attn_implementation == bert(**config).attn_implementation


def linear_kinds(module):
    return {
        name: "int8" if isinstance(sub, DynamicLinear) else "fp32"
        for name, sub in module.named_modules()
        if isinstance(sub, DynamicLinear) or type(sub) is torch.nn.Linear
    }


def test_int8_quantizes_the_fused_projection_and_keeps_it_where_a_pattern_says():
    module = bert()
    kinds = linear_kinds(quantize_dynamic_int8(inference_copy(module)))
    assert kinds["encoder.layer.0.attention.self.qkv"] == "int8"
    assert "encoder.layer.0.attention.self.query" not in kinds
    # A whole layer kept: its fused projection stays fp32; the other layer's is int8.
    kinds = linear_kinds(quantize_dynamic_int8(inference_copy(module), ["encoder.layer.0"]))
    assert kinds["encoder.layer.0.attention.self.qkv"] == "fp32"
    assert kinds["encoder.layer.1.attention.self.qkv"] == "int8"
    # Only Q kept: that layer is left unfused, so Q alone stays fp32, K and V are int8.
    copy = quantize_dynamic_int8(inference_copy(module), ["encoder.layer.1.attention.self.query"])
    kinds = linear_kinds(copy)
    assert kinds["encoder.layer.1.attention.self.query"] == "fp32"
    assert kinds["encoder.layer.1.attention.self.key"] == "int8"
    assert kinds["encoder.layer.0.attention.self.qkv"] == "int8"
    with torch.inference_mode():  # a mixed copy still runs, on either path
        for length in LENGTHS:
            copy(**inputs(length))


def test_int8_gelu_runs_in_place_with_the_same_values():
    module = bert()
    copy = quantize_dynamic_int8(inference_copy(module))
    blocks = [layer.intermediate for layer in copy.encoder.layer]
    assert all(isinstance(block.intermediate_act_fn, InPlaceGELU) for block in blocks)
    values = torch.randn(4, 48)
    expected = torch.nn.functional.gelu(values)
    output = blocks[0].intermediate_act_fn(values)
    assert output is values and torch.equal(output, expected)


def test_int8_fused_projection_quantizes_as_the_three_do(tiny_bert, monkeypatch):
    # One input quantized once, and per-channel weights (Q's pre-scaled rows get scaled
    # scales): the same integers as three separate layers, so the same outputs but rounding.
    nlp = int8_nlp(tiny_bert, inference_precision="int8")
    fused = hidden_states(nlp)
    copy = nlp.get_pipe("transformer").model.shim.reduced_predictor().module()
    assert any(isinstance(m, FusedSelfAttention) for m in copy.modules())
    monkeypatch.setattr(int8_layers, "fuse_self_attention", lambda module, skip=(): 0)
    separate = hidden_states(int8_nlp(tiny_bert, inference_precision="int8"))
    for a, b in zip(fused, separate):
        numpy.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("length", LENGTHS)
def test_packed_copy_runs_fused_attention_with_the_modules_outputs(length):
    if not packing_available(torch.nn.Linear(2, 2)):
        pytest.skip("this torch build lacks oneDNN's ops")
    module = bert()
    copy = packed_copy(module)
    attention = copy.encoder.layer[0].attention.self
    assert isinstance(attention, FusedSelfAttention) and isinstance(attention.qkv, PackedLinear)
    assert_same_outputs(module, copy, length)


def test_making_the_copies_leaves_torchs_random_state_alone():
    # A copy is made at every evaluation during training; drawing from the global generator
    # would change the dropout of every step after it (and so the trained model).
    module = bert()
    packing = packing_available(torch.nn.Linear(2, 2))  # builds a Linear: before the state
    state = torch.random.get_rng_state()
    fuse_self_attention(inference_copy(module))
    quantize_dynamic_int8(inference_copy(module))
    if packing:
        packed_copy(module)
    assert torch.equal(torch.random.get_rng_state(), state)
