"""`int8_fp32_layers`: int8 predictions with chosen Linear layers of the encoder kept in fp32."""

import numpy
import pytest
import spacy
import torch
from int8_util import hidden_states, int8_nlp
from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

from spacy_bert_tasks.encoder.int8_layers import kept_fp32_layers

FFN_OUTPUTS = "encoder.layer.*.output.dense"


def linear_kinds(nlp):
    """Each Linear layer of the int8 copy: "int8" or "fp32"."""
    module = nlp.get_pipe("transformer").model.shim.reduced_predictor().module()
    kinds = {}
    for name, sub in module.named_modules():
        if isinstance(sub, DynamicLinear):
            kinds[name] = "int8"
        elif type(sub) is torch.nn.Linear:
            assert sub.weight.dtype == torch.float32
            kinds[name] = "fp32"
    return kinds


def test_patterns_keep_exactly_the_matched_layers_in_fp32(tiny_bert):
    nlp = int8_nlp(tiny_bert, inference_precision="int8", int8_fp32_layers=[FFN_OUTPUTS])
    nlp("john visited london")
    kinds = linear_kinds(nlp)
    kept = {"encoder.layer.0.output.dense", "encoder.layer.1.output.dense"}
    assert {name for name, kind in kinds.items() if kind == "fp32"} == kept
    # the attention output projection ("attention.output.dense") is not a match: '*' is one part
    assert kinds["encoder.layer.0.attention.output.dense"] == "int8"
    assert kinds["encoder.layer.1.intermediate.dense"] == "int8"
    # a pattern naming a parent module keeps every Linear under it
    whole_layer = kept_fp32_layers(nlp.get_pipe("transformer").model.shim._model, ["*.layer.1"])
    assert len(whole_layer) == 6 and all(n.startswith("encoder.layer.1.") for n in whole_layer)


def test_int8_with_every_layer_kept_equals_fp32_and_fewer_kept_differs(tiny_bert):
    nlp = int8_nlp(tiny_bert)
    fp32 = hidden_states(nlp)
    encoder = nlp.get_pipe("transformer")
    encoder.set_inference_precision("int8", ["*"])
    assert set(linear_kinds(nlp).values()) == {"fp32"}
    for a, b in zip(fp32, hidden_states(nlp)):
        numpy.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    encoder.set_inference_precision("int8", [FFN_OUTPUTS])
    partial = hidden_states(nlp)
    encoder.set_inference_precision("int8", [])
    full = hidden_states(nlp)
    assert not numpy.allclose(fp32[0], partial[0], atol=1e-6)
    assert not numpy.allclose(partial[0], full[0], atol=1e-6)


def test_pattern_matching_nothing_is_a_clear_error(tiny_bert, tmp_path):
    nlp = int8_nlp(tiny_bert)
    encoder = nlp.get_pipe("transformer")
    with pytest.raises(ValueError, match=r"'encoder.layers.\*.output' matches no Linear layer"):
        encoder.set_inference_precision("int8", ["encoder.layers.*.output"])
    with pytest.raises(ValueError, match="not the string"):
        encoder.set_inference_precision("int8", FFN_OUTPUTS)
    assert encoder.int8_fp32_layers == () and encoder.inference_precision == "fp32"  # unchanged
    nlp.to_disk(tmp_path / "pipeline")
    typo = {"components": {"transformer": {"int8_fp32_layers": ["encoder.layer.7.output.dense"]}}}
    with pytest.raises(ValueError, match="'transformer': .*'encoder.layer.7.output.dense' matches"):
        spacy.load(tmp_path / "pipeline", config=typo)


def test_setting_survives_save_load_and_can_be_set_at_load(tiny_bert, tmp_path):
    nlp = int8_nlp(tiny_bert, inference_precision="int8", int8_fp32_layers=[FFN_OUTPUTS])
    expected = hidden_states(nlp)
    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    assert loaded.get_pipe("transformer").int8_fp32_layers == (FFN_OUTPUTS,)
    for a, b in zip(expected, hidden_states(loaded)):
        numpy.testing.assert_array_equal(a, b)
    override = {"components": {"transformer": {"int8_fp32_layers": ["*.layer.0"]}}}
    other = spacy.load(tmp_path / "pipeline", config=override)
    other("paris")
    kinds = linear_kinds(other)
    assert {name for name, kind in kinds.items() if kind == "fp32"} == {
        name for name in kinds if name.startswith("encoder.layer.0.")
    }
