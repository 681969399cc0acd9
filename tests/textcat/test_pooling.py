"""Doc vectors for the textcat head: [CLS] state or mean of the wordpiece states."""

import numpy
import pytest
from spacy_transformers.data_classes import TransformerData, WordpieceBatch
from thinc.api import get_current_ops
from transformers.file_utils import ModelOutput
from util import (
    CATS_DATA,
    assert_same_outputs,
    cats_examples,
    encoder_grads,
    round_trip_disk,
    trained_nlp,
)

from spacy_bert_tasks.layers.cls_vectors import cls_vectors

MEAN = {"model": {"tok2vec": {"pooling": "mean"}}}
TEXTS = [text for text, _ in CATS_DATA] + ["good film", ""]


def trf_data(state: numpy.ndarray, lengths) -> TransformerData:
    n_windows, n_positions = state.shape[:2]
    mask = numpy.arange(n_positions)[None, :] < numpy.asarray(lengths)[:, None]
    wordpieces = WordpieceBatch(
        strings=[["x"] * n for n in lengths],
        input_ids=numpy.zeros((n_windows, n_positions), dtype="i"),
        attention_mask=mask.astype("f"),
        lengths=list(lengths),
        token_type_ids=None,
    )
    return TransformerData(
        model_output=ModelOutput(last_hidden_state=state), wordpieces=wordpieces, align=None
    )


def run_layer(pooling: str, datas):
    layer = cls_vectors(pooling=pooling)
    layer.initialize()
    return layer.begin_update(datas)


def test_mean_excludes_padding_and_spans_windows():
    rng = numpy.random.default_rng(0)
    one = rng.normal(size=(1, 5, 4)).astype("f")
    two = rng.normal(size=(2, 6, 4)).astype("f")
    out, backprop = run_layer("mean", [trf_data(one, [3]), trf_data(two, [6, 2])])
    expected_two = numpy.concatenate([two[0, :6], two[1, :2]]).mean(axis=0)
    numpy.testing.assert_allclose(out[0], one[0, :3].mean(axis=0), rtol=1e-5)
    numpy.testing.assert_allclose(out[1], expected_two, rtol=1e-5)
    d_one, d_two = backprop(numpy.ones((2, 4), dtype="f"))
    grad = d_one.model_output.last_hidden_state
    numpy.testing.assert_allclose(grad[0, :3], 1 / 3, rtol=1e-5)
    assert not grad[0, 3:].any(), "padding must get no gradient"
    grad = d_two.model_output.last_hidden_state
    assert grad.sum() == pytest.approx(8 * 4 / 8)
    assert not grad[1, 2:].any()


def test_cls_is_the_first_state_averaged_over_windows():
    rng = numpy.random.default_rng(1)
    state = rng.normal(size=(2, 3, 4)).astype("f")
    out, backprop = run_layer("cls", [trf_data(state, [3, 2])])
    numpy.testing.assert_allclose(out[0], state[:, 0].mean(axis=0), rtol=1e-5)
    (d_data,) = backprop(numpy.ones((1, 4), dtype="f"))
    grad = d_data.model_output.last_hidden_state
    assert (grad[:, 0] == 0.5).all() and not grad[:, 1:].any()


def test_unknown_pooling_is_a_clear_error():
    with pytest.raises(ValueError, match="pooling must be one of cls, mean"):
        cls_vectors(pooling="max")


@pytest.fixture(scope="module")
def mean_pooled(tiny_bert):
    return trained_nlp(tiny_bert, ("textcat",), cats_examples, 30, textcat=MEAN)


def test_mean_pooled_head_learns_and_reaches_the_encoder(mean_pooled):
    nlp, examples = mean_pooled
    assert nlp.evaluate(examples)["cats_accuracy"] == 1.0
    grads = encoder_grads(nlp, examples)
    assert any(float(g.abs().sum()) > 0 for name, g in grads.items() if "layer.0." in name)


def test_mean_pooled_survives_save_load_and_own_encoder(mean_pooled, tmp_path):
    nlp, _ = mean_pooled
    loaded = round_trip_disk(nlp, tmp_path / "saved")
    assert loaded.get_pipe("textcat").model.get_ref("tok2vec").layers[-1].attrs["pooling"] == "mean"
    assert_same_outputs(loaded.pipe(TEXTS), nlp.pipe(TEXTS))
    # A head given its own encoder copy keeps its pooling (listener_cfg maps the setting).
    loaded.replace_listeners("transformer", "textcat", ["model.tok2vec"])
    tok2vec_cfg = loaded.config["components"]["textcat"]["model"]["tok2vec"]
    assert tok2vec_cfg["@architectures"] == "spacy-bert-tasks.ClsVectorEncoder.v1"
    assert tok2vec_cfg["pooling"] == "mean"
    assert_same_outputs(loaded.pipe(TEXTS), nlp.pipe(TEXTS))
    assert_same_outputs(round_trip_disk(loaded, tmp_path / "own").pipe(TEXTS), nlp.pipe(TEXTS))


def test_pooling_changes_the_doc_vector(tiny_bert, mean_pooled):
    ops = get_current_ops()
    nlp, _ = mean_pooled
    listener = nlp.get_pipe("textcat").model.get_ref("tok2vec")
    docs = list(nlp.pipe(["good film", "bad film"], disable=["textcat"]))
    mean = ops.to_numpy(listener.predict(docs))
    listener.layers[-1].attrs["pooling"] = "cls"
    try:
        cls = ops.to_numpy(listener.predict(docs))
    finally:
        listener.layers[-1].attrs["pooling"] = "mean"
    assert mean.shape == cls.shape and not numpy.allclose(mean, cls)
