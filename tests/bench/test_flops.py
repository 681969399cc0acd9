"""FLOP counting of bench/flops.py: the formula, padding, and the forward hooks."""

import flops
import pytest

DIMS = {"hidden": 4, "intermediate": 16, "layers": 2}


def test_layer_flops_by_hand():
    # n=3, h=4, ff=16: projections 2*3*(4*16 + 2*4*16) = 6*192 = 1152; attention 4*9*4 = 144.
    assert flops.layer_flops(3, hidden=4, intermediate=16) == 1152 + 144


def test_encoder_flops_sums_windows_and_layers():
    one = flops.layer_flops(3, hidden=4, intermediate=16)
    two = flops.layer_flops(5, hidden=4, intermediate=16)
    assert flops.encoder_flops([3, 5], **DIMS) == 2 * (one + two)
    assert flops.encoder_flops([], **DIMS) == 0


def test_padding_costs_more_than_the_real_lengths():
    real = flops.encoder_flops([3, 5], **DIMS)
    padded = flops.padded_flops([(2, 5)], **DIMS)
    assert padded == flops.encoder_flops([5, 5], **DIMS) > real
    assert flops.padded_flops([(1, 3), (1, 5)], **DIMS) == real


def test_minilm_size_per_token():
    # MiniLM-L6-H384 on a 128-wordpiece window: about 22 MFLOP per wordpiece.
    per_token = flops.encoder_flops([128], hidden=384, intermediate=1536, layers=6) / 128
    assert 21e6 < per_token < 23e6


def test_matmul_and_share():
    assert flops.matmul_flops(2, 3, 4) == 48
    assert flops.share_of_peak(50.0, 200.0) == 25.0
    with pytest.raises(ValueError):
        flops.share_of_peak(1.0, 0.0)


def test_recorder_sees_real_lengths_and_padded_shape():
    torch = pytest.importorskip("torch")
    from transformers import BertConfig, BertModel

    model = BertModel(
        BertConfig(
            vocab_size=30,
            hidden_size=8,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=16,
        )
    ).eval()
    from thinc.api import ArgsKwargs

    class Shim:  # what the recorder wraps: the encoder shim's predict(ArgsKwargs)
        def predict(self, inputs):
            with torch.no_grad():
                return model(*inputs.args, **inputs.kwargs)

    shim = Shim()
    recorder = flops.ForwardRecorder(shim)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    ids = torch.ones(2, 4, dtype=torch.long)
    output = shim.predict(ArgsKwargs(args=(), kwargs={"input_ids": ids, "attention_mask": mask}))
    assert output.last_hidden_state.shape == (2, 4, 8)  # the wrapped call's own output
    recorder.remove()
    assert "predict" not in vars(shim)  # the shim's own method again
    (call,) = recorder.calls
    assert call["shape"] == (2, 4)
    assert call["lengths"] == [3, 4]
    assert call["seconds"] >= 0
    assert flops.encoder_dims(model.config) == {"hidden": 8, "intermediate": 16, "layers": 1}
