"""`int8_activation_range`: int8 predictions with 8-bit ("full") or 7-bit ("reduced") activations."""

import numpy
import pytest
import spacy
import torch
from int8_util import TEXTS, hidden_states, int8_nlp
from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

from spacy_bert_tasks.encoder.int8_activations import (
    FullRangeDynamicLinear,
    cpu_has_vnni,
    resolve_activation_range,
)


def int8_linear_types(nlp):
    module = nlp.get_pipe("transformer").model.shim.reduced_predictor().module()
    return {type(sub) for sub in module.modules() if isinstance(sub, DynamicLinear)}


def cpuinfo(tmp_path, flags):
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nmodel name\t: test\nflags\t\t: fpu sse2 avx2 {flags}\n\n")
    return path


def test_auto_is_full_only_where_the_cpu_has_vnni(tmp_path):
    assert resolve_activation_range("auto", cpuinfo(tmp_path, "avx512f avx512_vnni")) == "full"
    assert resolve_activation_range("auto", cpuinfo(tmp_path, "avx_vnni")) == "full"
    assert resolve_activation_range("auto", cpuinfo(tmp_path, "avx512f avx512bw")) == "reduced"
    missing = tmp_path / "no-such-file"
    assert not cpu_has_vnni(missing)
    assert resolve_activation_range("auto", missing) == "reduced"
    assert resolve_activation_range("full", missing) == "full"
    assert resolve_activation_range("reduced", cpuinfo(tmp_path, "avx512_vnni")) == "reduced"
    with pytest.raises(ValueError, match="int8_activation_range must be one of auto, full"):
        resolve_activation_range("8bit")


def test_full_range_is_closer_to_fp32_than_reduced(tiny_bert):
    nlp = int8_nlp(tiny_bert)
    fp32 = numpy.concatenate([h.reshape(-1) for h in hidden_states(nlp)])
    encoder = nlp.get_pipe("transformer")
    errors = {}
    for activation_range, linear_type in (
        ("full", FullRangeDynamicLinear),
        ("reduced", DynamicLinear),
    ):
        encoder.set_inference_precision("int8", int8_activation_range=activation_range)
        states = numpy.concatenate([h.reshape(-1) for h in hidden_states(nlp)])
        assert int8_linear_types(nlp) == {linear_type}
        errors[activation_range] = float(numpy.abs(states - fp32).mean())
    # One more bit halves the activations' rounding step: the error drops clearly.
    assert 0 < errors["full"] < 0.75 * errors["reduced"]


def test_full_range_keeps_fp32_layers_and_runs_qa_sized_batches(tiny_bert):
    nlp = int8_nlp(
        tiny_bert,
        inference_precision="int8",
        int8_fp32_layers=["encoder.layer.0"],
        int8_activation_range="full",
    )
    docs = list(nlp.pipe(TEXTS * 20, batch_size=7))
    assert all(doc._.trf_data.model_output.last_hidden_state.dtype == numpy.float32 for doc in docs)
    module = nlp.get_pipe("transformer").model.shim.reduced_predictor().module()
    layer0 = [
        type(sub) for name, sub in module.named_modules() if name.startswith("encoder.layer.0.")
    ]
    assert torch.nn.Linear in layer0 and FullRangeDynamicLinear not in layer0
    assert int8_linear_types(nlp) == {FullRangeDynamicLinear}


def test_setting_survives_save_load_and_bad_values_are_clear_errors(tiny_bert, tmp_path):
    nlp = int8_nlp(tiny_bert, inference_precision="int8", int8_activation_range="full")
    expected = hidden_states(nlp)
    encoder = nlp.get_pipe("transformer")
    with pytest.raises(ValueError, match="int8_activation_range must be one of"):
        encoder.set_inference_precision("bf16", ["encoder.layer.0"], int8_activation_range="8")
    # nothing changed
    assert (encoder.inference_precision, encoder.int8_fp32_layers) == ("int8", ())
    assert encoder.int8_activation_range == "full"
    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    assert loaded.get_pipe("transformer").int8_activation_range == "full"
    for a, b in zip(expected, hidden_states(loaded)):
        numpy.testing.assert_array_equal(a, b)
    override = {"components": {"transformer": {"int8_activation_range": "reduced"}}}
    other = spacy.load(tmp_path / "pipeline", config=override)
    other("paris")
    assert int8_linear_types(other) == {DynamicLinear}
    bad = {"components": {"transformer": {"int8_activation_range": "half"}}}
    with pytest.raises(ValueError, match="not 'half'"):
        spacy.load(tmp_path / "pipeline", config=bad)
