"""`inference_graph = "packed"`: eager with the Linear weights packed once for oneDNN."""

import pytest
import spacy
import torch
from test_inference_graph import (
    assert_new_weights_make_a_new_copy,
    assert_same,
    predictions,
    three_head_examples,
)
from util import adam, qa_nlp, train_steps

from spacy_bert_tasks.encoder import packed
from spacy_bert_tasks.encoder.fused_attention import FusedSelfAttention
from spacy_bert_tasks.encoder.packed import (
    PackedLinear,
    bucketed_rows,
    doubling_sizes,
    packing_available,
)
from spacy_bert_tasks.encoder.precision import set_shim_graph

pytestmark = pytest.mark.skipif(
    not packing_available(torch.nn.Linear(2, 2)), reason="this torch build lacks oneDNN's ops"
)


@pytest.fixture
def no_kernels_built(monkeypatch):
    """As if no packed Linear had run in this process yet."""
    monkeypatch.setattr(packed, "_BUILT_DOUBLINGS", {})


@pytest.fixture(scope="module")
def nlp(tiny_bert):
    settings = {"keep_trf_data": True, "inference_graph": "packed"}
    nlp = qa_nlp(tiny_bert, ("ner", "textcat"), transformer=settings)
    nlp.initialize(lambda: three_head_examples(nlp))
    train_steps(nlp, three_head_examples(nlp), adam(), 10)
    return nlp


def packed_predictor(nlp):
    return nlp.get_pipe("transformer").model.shim._packed_predictor()


def count_linear(module, kind):
    return sum(type(m) is kind for m in module.modules())


def test_packed_is_the_default(tiny_bert):
    assert qa_nlp(tiny_bert, ("ner",)).get_pipe("transformer").inference_graph == "packed"


@pytest.mark.parametrize("batch_size", [1, 8])
def test_packed_predictions_equal_eager(nlp, batch_size):
    eager = predictions(nlp, "eager", batch_size)
    assert_same(eager, predictions(nlp, "packed", batch_size))
    predictor = packed_predictor(nlp)
    assert predictor.eager_reason is None
    module = nlp.get_pipe("transformer").model.shim._model
    # It did run packed: every Linear of the module has its packed twin in the copy, but each
    # self-attention's query, key and value, which share one (fused_attention.py).
    fused = count_linear(predictor._packed, FusedSelfAttention)
    assert fused == module.config.num_hidden_layers
    linears = count_linear(module, torch.nn.Linear)
    assert count_linear(predictor._packed, PackedLinear) == linears - 2 * fused
    assert count_linear(predictor._packed, torch.nn.Linear) == 0


def test_a_training_step_packs_the_new_weights(tiny_bert):
    nlp = qa_nlp(tiny_bert, ("ner", "textcat"), transformer={"keep_trf_data": True})
    nlp.initialize(lambda: three_head_examples(nlp))
    before = predictions(nlp, "packed")
    first_copy = packed_predictor(nlp)._packed
    train_steps(nlp, three_head_examples(nlp), adam(), 3)
    after = predictions(nlp, "packed")
    # Stale packed weights would give the initial model's outputs.
    assert_same(predictions(nlp, "eager"), after)
    assert packed_predictor(nlp)._packed is not first_copy
    first = before[0]._.trf_data.model_output.last_hidden_state
    assert abs(first - after[0]._.trf_data.model_output.last_hidden_state).max() > 1e-4


def test_loading_new_weights_packs_again(nlp):
    assert_new_weights_make_a_new_copy(nlp, "packed", lambda: packed_predictor(nlp)._packed)


def test_a_failed_packed_call_runs_eager_with_one_warning(tiny_bert, monkeypatch):
    nlp = qa_nlp(tiny_bert, ("ner", "textcat"), transformer={"keep_trf_data": True})
    nlp.initialize(lambda: three_head_examples(nlp))
    eager = predictions(nlp, "eager")

    def refuse(self, inputs):
        raise RuntimeError("no oneDNN kernel for this shape")

    monkeypatch.setattr(PackedLinear, "forward", refuse)
    with pytest.warns(UserWarning, match="inference_graph 'packed': packing failed"):
        assert_same(eager, predictions(nlp, "packed"))
    assert "no oneDNN kernel" in packed_predictor(nlp).eager_reason
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no second warning
        assert_same(eager, predictions(nlp, "packed"))


def test_without_onednn_it_runs_the_module(tiny_bert, monkeypatch):
    nlp = qa_nlp(tiny_bert, ("ner", "textcat"), transformer={"keep_trf_data": True})
    nlp.initialize(lambda: three_head_examples(nlp))
    eager = predictions(nlp, "eager")
    monkeypatch.setattr(packed, "packing_available", lambda module: False)
    assert_same(eager, predictions(nlp, "packed"))
    assert packed_predictor(nlp)._packed is None


def test_setting_survives_save_and_load(nlp, tmp_path):
    nlp.to_disk(tmp_path / "packed")
    loaded = spacy.load(tmp_path / "packed")
    assert loaded.get_pipe("transformer").inference_graph == "packed"
    texts = ["john visited london", "paris and berlin"]
    for a, b in zip(nlp.pipe(texts), loaded.pipe(texts)):
        assert [(e.start, e.end, e.label_) for e in a.ents] == [
            (e.start, e.end, e.label_) for e in b.ents
        ]
        for label, score in a.cats.items():
            assert abs(score - b.cats[label]) < 1e-5


def test_another_encoder_model_runs_as_it_is_under_packed_and_refuses_compiled():
    class OtherShim:  # an encoder model other than spacy-bert-tasks.BertEncoder.v1
        pass

    set_shim_graph(OtherShim(), "eager")
    set_shim_graph(OtherShim(), "packed")  # the default: nothing to refuse
    with pytest.raises(ValueError, match="needs the encoder model"):
        set_shim_graph(OtherShim(), "compiled")


def test_the_copy_shares_all_but_the_packed_weights(nlp):
    predictions(nlp, "packed")
    module = nlp.get_pipe("transformer").model.shim._model
    copy = packed_predictor(nlp)._packed
    originals = {id(p) for p in module.parameters()}
    assert {id(p) for p in copy.parameters()} <= originals  # embeddings, LayerNorm: shared
    assert all(p.requires_grad for p in module.parameters())  # the trained module untouched


def test_row_counts_are_rounded_to_few_sizes():
    # oneDNN keeps a kernel per row count met: a bounded set of sizes bounds its caches.
    # Each size met holds about 0.55 MB per weight shape; sizes met late grow memory after warm-up.
    sizes = {bucketed_rows(rows) for rows in range(1, 4097)}
    assert len(sizes) <= 88
    for low in (64, 128, 256, 512, 1024, 2048):  # 8 sizes per doubling
        assert len({size for size in sizes if low < size <= 2 * low}) == 8
    for rows in range(1, 4097):
        assert rows <= bucketed_rows(rows) <= rows * 9 // 8
        assert bucketed_rows(bucketed_rows(rows)) == bucketed_rows(rows)  # a size is its own bucket
    assert [bucketed_rows(rows) for rows in range(1, 33)] == list(range(1, 33))  # one sentence
    assert bucketed_rows(4096) == 4096 and bucketed_rows(512) == 512  # full windows: no padding


@pytest.mark.parametrize("shape", [(1, 3, 16), (1, 21, 16), (5, 13, 16), (300, 16), (2, 7, 5, 16)])
def test_padded_rows_leave_every_real_row_as_nn_linear_gives_it(
    shape, monkeypatch, no_kernels_built
):
    torch.manual_seed(0)
    linear = torch.nn.Linear(16, 24)
    inputs = torch.randn(*shape)
    seen = []
    pointwise = torch.ops.mkldnn._linear_pointwise

    def recording(flat, *args):  # the op PackedLinear calls, recording the rows it is handed
        seen.append(flat.numel() // flat.shape[-1])
        return pointwise(flat, *args)

    with torch.inference_mode():
        packed_linear = PackedLinear(linear)
        monkeypatch.setattr(torch.ops.mkldnn, "_linear_pointwise", recording)
        output = packed_linear(inputs)
        monkeypatch.undo()
        expected = linear(inputs)
    assert output.shape == expected.shape
    assert torch.allclose(output, expected, atol=1e-5)
    size = bucketed_rows(inputs.numel() // 16)
    assert seen[-1] == size  # after its doubling's other sizes, built on zero rows
    assert sorted(seen) == doubling_sizes(size)


def test_each_doubling_has_its_sizes_kernels_built_once(monkeypatch, no_kernels_built):
    # Kernels built the first time a doubling comes, not when a rare size first comes (late in
    # a long run, where they fragment the heap: memory that grows after warm-up).
    torch.manual_seed(0)
    linear, gelu_linear, other_shape = (
        PackedLinear(torch.nn.Linear(16, 24)),
        PackedLinear(torch.nn.Linear(16, 24), gelu="none"),
        PackedLinear(torch.nn.Linear(24, 16)),
    )
    seen = []
    pointwise = torch.ops.mkldnn._linear_pointwise

    def recording(flat, weight, *args):
        seen.append((flat.shape[-1], flat.numel() // flat.shape[-1], args[1]))
        return pointwise(flat, weight, *args)

    monkeypatch.setattr(torch.ops.mkldnn, "_linear_pointwise", recording)
    with torch.inference_mode():
        linear(torch.randn(65, 16))  # 65 rows: padded to 72, the doubling 65-128
        assert sorted(rows for _, rows, _ in seen) == [72, 80, 88, 96, 104, 112, 120, 128]
        seen.clear()
        linear(torch.randn(100, 16))  # the same doubling: nothing more to build
        linear(torch.randn(3, 10, 16))  # 30 rows, in 17-32: its 16 counts
        assert [rows for _, rows, _ in seen] == [104] + list(range(17, 30)) + [31, 32, 30]
        seen.clear()
        gelu_linear(torch.randn(100, 16))  # another activation, another shape: their own kernels
        other_shape(torch.randn(100, 24))
        assert len(seen) == 16 and {(width, attr) for width, _, attr in seen} == {
            (16, "gelu"),
            (24, "none"),
        }
    assert doubling_sizes(1) == [1] and doubling_sizes(4) == [3, 4]
    assert doubling_sizes(33) == doubling_sizes(64) == [36, 40, 44, 48, 52, 56, 60, 64]
    assert doubling_sizes(4096) == list(range(2304, 4097, 256))
    assert {s for rows in range(1, 4097) for s in doubling_sizes(bucketed_rows(rows))} == {
        bucketed_rows(rows) for rows in range(1, 4097)
    }  # every size in some doubling, and nothing else


def test_a_padded_output_feeds_the_next_linear_without_a_copy(monkeypatch):
    torch.manual_seed(0)
    first, second = torch.nn.Linear(16, 64), torch.nn.Linear(64, 16)
    inputs = torch.randn(5, 13, 16)  # 65 rows: padded to 72
    pads = []
    pad = torch.nn.functional.pad
    monkeypatch.setattr(torch.nn.functional, "pad", lambda *a, **k: pads.append(1) or pad(*a, **k))
    with torch.inference_mode():
        hidden = PackedLinear(first, gelu="none")(inputs)
        output = PackedLinear(second)(hidden)
        expected = second(torch.nn.functional.gelu(first(inputs)))
    assert pads == [1]  # the first Linear's input only: its output keeps the padded rows
    assert torch.allclose(output, expected, atol=1e-5)


def test_the_intermediate_block_applies_gelu_in_its_linear(nlp):
    predictions(nlp, "packed")
    copy = packed_predictor(nlp)._packed
    blocks = [m for m in copy.modules() if type(m).__name__ == "BertIntermediate"]
    assert blocks
    for block in blocks:
        assert block.dense.attr == "gelu" and block.dense.algorithm == "none"
        assert isinstance(block.intermediate_act_fn, torch.nn.Identity)
    module = nlp.get_pipe("transformer").model.shim._model
    assert not any(isinstance(m, torch.nn.Identity) for m in module.modules())  # untouched
