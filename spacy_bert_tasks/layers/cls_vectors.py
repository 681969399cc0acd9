"""[CLS] pooling: BERT's sequence representation is the final hidden state of its first token."""

from typing import Callable, List, Tuple

from spacy_transformers.data_classes import TransformerData
from thinc.api import Model
from thinc.types import Floats2d
from transformers.file_utils import ModelOutput

InT = List[TransformerData]
OutT = Floats2d


def cls_vectors(grad_factor: float = 1.0) -> Model[InT, OutT]:
    """One row per doc: the [CLS] state of each of the doc's windows, averaged.

    A short doc has one window, so this is exactly BERT's [CLS] vector; a long doc, cut into
    windows, gets the mean of its windows' [CLS] states. An empty doc gets a row of zeros.
    """
    return Model("cls_vectors", forward, attrs={"grad_factor": grad_factor})


def forward(model: Model[InT, OutT], trf_datas: InT, is_train: bool) -> Tuple[OutT, Callable]:
    xp = model.ops.xp
    states = [_last_hidden_state(data) for data in trf_datas]
    width = next((s.shape[-1] for s in states if s is not None), 0)
    rows = [
        s[:, 0, :].mean(axis=0) if s is not None else xp.zeros((width,), dtype="f") for s in states
    ]
    output = xp.stack(rows) if rows else xp.zeros((0, width), dtype="f")

    def backprop(d_output: OutT) -> List[TransformerData]:
        grad_factor = model.attrs["grad_factor"]
        d_datas = []
        # Empty docs gave the encoder no input, so they get no gradient entry (as in trfs2arrays).
        for data, state, d_row in zip(trf_datas, states, d_output):
            if state is None:
                continue
            d_state = xp.zeros(state.shape, dtype=state.dtype)
            d_state[:, 0, :] = d_row * (grad_factor / state.shape[0])
            d_datas.append(
                TransformerData(
                    model_output=ModelOutput(last_hidden_state=d_state),
                    wordpieces=data.wordpieces,
                    align=data.align,
                )
            )
        return d_datas

    return output, backprop


def _last_hidden_state(data: TransformerData):
    state = data.model_output.get("last_hidden_state")
    return state if state is not None and state.size else None
