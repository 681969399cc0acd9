"""Token vectors pooled group by group (layers/token_pooling.py) equal the stock trfs2arrays."""

import numpy
import pytest
from spacy_transformers.layers import trfs2arrays
from thinc.api import reduce_first, reduce_mean
from util import assert_same_outputs, initialized_nlp, round_trip_bytes

from spacy_bert_tasks.layers import token_pooling
from spacy_bert_tasks.layers.token_pooling import doc_groups, pooled_token_vectors

TEXTS = [
    "John visited London yesterday",
    "",
    "Mary works in Paris with Paul and Anna " * 6,
    "good",
    "the river is good and the bank is closed",
]


@pytest.fixture(scope="module")
def trf_datas(tiny_bert):
    nlp = initialized_nlp(tiny_bert, transformer={"keep_trf_data": True})
    return [doc._.trf_data for doc in nlp.pipe(TEXTS)]


def gathered_bytes(trf_data) -> int:
    hidden = trf_data.model_output.get("last_hidden_state")
    if hidden is None or hidden.size == 0:
        return 0
    return trf_data.align.dataXd.shape[0] * hidden.shape[-1] * hidden.dtype.itemsize


def run(layer, trf_datas):
    layer.initialize()
    outputs, backprop = layer.begin_update(trf_datas)
    rng = numpy.random.default_rng(0)
    d_outputs = [rng.normal(size=output.shape).astype("f") for output in outputs]
    return outputs, backprop(list(d_outputs))


@pytest.mark.parametrize("pooling", [reduce_mean, reduce_first], ids=["mean", "first"])
def test_same_outputs_and_gradients_as_the_stock_layer(trf_datas, pooling, monkeypatch):
    one_doc = max(gathered_bytes(data) for data in trf_datas)
    # Small groups: the long doc alone, the short ones in twos.
    monkeypatch.setattr(token_pooling, "MAX_BYTES_PER_GROUP", one_doc // 2)
    assert len(doc_groups(trf_datas, token_pooling.MAX_BYTES_PER_GROUP)) >= 3
    stock_outputs, stock_grads = run(trfs2arrays(pooling(), 1.0), trf_datas)
    outputs, grads = run(pooled_token_vectors(pooling(), 1.0), trf_datas)
    assert [len(out) for out in outputs] == [len(text.split()) for text in TEXTS]
    for ours, stock in zip(outputs, stock_outputs):
        numpy.testing.assert_array_equal(ours, stock)
    assert len(grads) == len(stock_grads) == len(TEXTS) - 1, "no gradient entry for the empty doc"
    for ours, stock in zip(grads, stock_grads):
        numpy.testing.assert_array_equal(
            ours.model_output.last_hidden_state, stock.model_output.last_hidden_state
        )
        assert ours.align is stock.align


def test_groups_cover_every_doc_once_under_the_limit(trf_datas):
    sizes = [gathered_bytes(data) for data in trf_datas]
    for limit in (1, min(size for size in sizes if size), sum(sizes) // 2, sum(sizes), 10**12):
        groups = doc_groups(trf_datas, limit)
        assert [i for start, end in groups for i in range(start, end)] == list(range(len(sizes)))
        for start, end in groups:
            assert end - start == 1 or sum(sizes[start:end]) <= limit
    assert doc_groups([], 100) == []


def test_pipelines_saved_with_the_stock_layer_load(tiny_bert):
    nlp = initialized_nlp(tiny_bert)
    listener_pooling = nlp.get_pipe("ner").model.get_ref("tok2vec").layers[-1]
    assert listener_pooling.name == "trfs2arrays"
    assert listener_pooling._func is token_pooling.forward
    # A model serialized with the stock node loads into ours: same node names and structure.
    stock = trfs2arrays(reduce_mean(), 1.0)
    stock.initialize()
    ours = pooled_token_vectors(reduce_mean(), 1.0).from_bytes(stock.to_bytes())
    assert ours.attrs["grad_factor"] == 1.0
    texts = ["John visited London", "good movie"]
    assert_same_outputs(nlp.pipe(texts), round_trip_bytes(nlp).pipe(texts))


def test_wrong_input_gets_the_stock_error():
    layer = pooled_token_vectors(reduce_mean(), 1.0)
    layer.initialize()
    with pytest.raises(ValueError, match="TransformerData"):
        layer.predict(["not encoder output"])
