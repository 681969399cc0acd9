"""`inference_precision`: predictions on a bf16 or int8 copy of the encoder, training in fp32."""

import numpy
import pytest
import spacy
import torch
from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear
from util import (
    adam,
    both_examples,
    encoder_params,
    qa_docs,
    qa_examples,
    qa_nlp,
    qa_outputs,
    train_steps,
)

from spacy_bert_tasks.encoder.precision import ReducedPrecisionPredict

REDUCED = ("bf16", "int8")


def three_head_examples(nlp):
    return both_examples(nlp) + qa_examples(nlp)


def trained(tiny_bert, steps: int = 20, **transformer):
    nlp = qa_nlp(tiny_bert, ("ner", "textcat"), transformer=transformer)
    nlp.initialize(lambda: three_head_examples(nlp))
    train_steps(nlp, three_head_examples(nlp), adam(), steps)
    return nlp


@pytest.fixture(scope="module")
def nlp(tiny_bert):
    return trained(tiny_bert, steps=10, keep_trf_data=True)  # to compare the encoder's output


def predictions(nlp, precision):
    encoder = nlp.get_pipe("transformer")
    encoder.set_inference_precision(precision)
    try:
        return list(nlp.pipe(qa_docs(nlp) + [nlp.make_doc("john visited london")]))
    finally:
        encoder.set_inference_precision("fp32")


def hidden(doc):
    return doc._.trf_data.model_output.last_hidden_state


@pytest.mark.parametrize("precision", REDUCED)
def test_reduced_precision_stays_close_to_fp32(nlp, precision):
    fp32 = predictions(nlp, "fp32")
    reduced = predictions(nlp, precision)
    for a, b in zip(fp32, reduced):
        ha, hb = hidden(a), hidden(b)
        assert hb.dtype == numpy.float32  # the heads are numpy fp32 models
        assert not numpy.array_equal(ha, hb)  # it really ran in another precision
        relative = numpy.linalg.norm(ha - hb) / numpy.linalg.norm(ha)
        assert relative < 0.05, relative
        for label, score in a.cats.items():
            assert abs(score - b.cats[label]) < 0.05
        if a._.question:  # QA's pair pass runs in the reduced precision too
            scores_a, scores_b = qa_outputs(a)[1], qa_outputs(b)[1]
            assert scores_a != scores_b
            assert numpy.allclose(scores_a[:1], scores_b[:1], atol=0.1)


def test_int8_quantizes_the_linear_layers_and_fp32_restores(nlp):
    encoder = nlp.get_pipe("transformer")
    shim = encoder.model.shim
    encoder.set_inference_precision("int8")
    list(nlp.pipe(["john visited london"]))
    assert isinstance(shim.reduced_predictor(), ReducedPrecisionPredict)
    assert "predict" not in shim.__dict__  # a method of the shim's class, not patched in
    quantized = [
        m for m in shim.reduced_predictor().module().modules() if isinstance(m, DynamicLinear)
    ]
    plain = [m for m in shim.reduced_predictor().module().modules() if type(m) is torch.nn.Linear]
    assert quantized and not plain
    # The trained fp32 module is untouched.
    assert not any(isinstance(m, DynamicLinear) for m in shim._model.modules())
    encoder.set_inference_precision("fp32")
    assert shim.reduced_predictor() is None
    encoder.set_inference_graph("eager")  # the module itself (packed runs a copy of it)
    fp32_calls = []
    hook = shim._model.register_forward_hook(lambda *args: fp32_calls.append(1))
    try:
        list(nlp.pipe(["john visited london"]))
    finally:
        hook.remove()
    assert fp32_calls  # fp32 runs the fp32 module itself again
    encoder.set_inference_graph("packed")


def test_copy_follows_weight_updates(tiny_bert):
    nlp = trained(tiny_bert, steps=2)
    encoder = nlp.get_pipe("transformer")
    encoder.set_inference_precision("bf16")
    list(nlp.pipe(["john visited london"]))
    shim = encoder.model.shim
    before = shim.reduced_predictor().module()
    assert shim.reduced_predictor().module() is before  # cached while the weights stay
    train_steps(nlp, three_head_examples(nlp), adam(), 1)
    after = shim.reduced_predictor().module()
    assert after is not before
    fp32_weight = encoder_params(nlp)["embeddings.word_embeddings.weight"]
    copied = dict(after.named_parameters())["embeddings.word_embeddings.weight"]
    assert torch.equal(copied, fp32_weight.detach().to(torch.bfloat16))


def test_training_ignores_inference_precision(tiny_bert):
    fp32 = trained(tiny_bert, steps=3)
    int8 = trained(tiny_bert, steps=3, inference_precision="int8")
    for name, param in encoder_params(fp32).items():
        assert torch.equal(param, encoder_params(int8)[name]), name


def test_setting_is_saved_in_the_config_and_can_be_overridden_at_load(tiny_bert, tmp_path):
    nlp = trained(tiny_bert, steps=2, inference_precision="int8")
    texts = ["john visited london", "good movie"]
    expected = [d.cats for d in nlp.pipe(texts)]
    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    assert loaded.get_pipe("transformer").inference_precision == "int8"
    assert [d.cats for d in loaded.pipe(texts)] == expected
    override = {"components": {"transformer": {"inference_precision": "fp32"}}}
    fp32 = spacy.load(tmp_path / "pipeline", config=override)
    assert fp32.get_pipe("transformer").inference_precision == "fp32"
    assert [d.cats for d in fp32.pipe(texts)] != expected


def test_unknown_precision_is_refused(tiny_bert, nlp):
    with pytest.raises(ValueError, match="fp32, bf16, int8"):
        qa_nlp(tiny_bert, transformer={"inference_precision": "fp16"})
    with pytest.raises(ValueError, match="not 'int4'"):
        nlp.get_pipe("transformer").set_inference_precision("int4")
