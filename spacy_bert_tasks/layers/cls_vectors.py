"""One vector per doc from the encoder's final states: the [CLS] state, or the mean of all states.

"cls" is BERT's sequence representation, the final hidden state of its first token. "mean"
averages every real wordpiece's final state (padding excluded, [CLS] and [SEP] included): the
representation sentence-embedding encoders are trained for (the embedded all-MiniLM-L6-v2 is
one), so its classifier starts from features that already separate sentences.
"""

from typing import Callable, List, Optional, Tuple

from spacy_transformers.data_classes import TransformerData
from thinc.api import Model
from thinc.types import Floats2d, Floats3d
from transformers.file_utils import ModelOutput

InT = List[TransformerData]
OutT = Floats2d
POOLINGS = ("cls", "mean")


def cls_vectors(grad_factor: float = 1.0, pooling: str = "cls") -> Model[InT, OutT]:
    """One row per doc, pooled over each of the doc's windows and averaged over its windows.

    A short doc has one window, so "cls" is exactly BERT's [CLS] vector; a long doc, cut into
    windows, gets the mean of its windows' [CLS] states ("cls") or of all its windows' real
    wordpiece states ("mean"). An empty doc gets a row of zeros.
    """
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}.")
    return Model("cls_vectors", forward, attrs={"grad_factor": grad_factor, "pooling": pooling})


def forward(model: Model[InT, OutT], trf_datas: InT, is_train: bool) -> Tuple[OutT, Callable]:
    xp = model.ops.xp
    states = [_last_hidden_state(data) for data in trf_datas]
    # weights[i]: how much each position of doc i's windows counts in its row (sums to 1);
    # None for "cls", which reads position 0 directly (as it always has: same floats).
    mean = model.attrs["pooling"] == "mean"
    weights = [
        _mean_weights(xp, state, data) if mean and state is not None else None
        for state, data in zip(states, trf_datas)
    ]
    width = next((s.shape[-1] for s in states if s is not None), 0)
    rows = [
        _pool(s, w) if s is not None else xp.zeros((width,), dtype="f")
        for s, w in zip(states, weights)
    ]
    output = xp.stack(rows).astype("f", copy=False) if rows else xp.zeros((0, width), dtype="f")

    def backprop(d_output: OutT) -> List[TransformerData]:
        grad_factor = model.attrs["grad_factor"]
        d_datas = []
        # Empty docs gave the encoder no input, so they get no gradient entry (as in trfs2arrays).
        for data, state, weight, d_row in zip(trf_datas, states, weights, d_output):
            if state is None:
                continue
            if weight is None:
                d_state = xp.zeros(state.shape, dtype=state.dtype)
                d_state[:, 0, :] = d_row * (grad_factor / state.shape[0])
            else:
                d_state = (weight[:, :, None] * (d_row * grad_factor)).astype(state.dtype)
            d_datas.append(
                TransformerData(
                    model_output=ModelOutput(last_hidden_state=d_state),
                    wordpieces=data.wordpieces,
                    align=data.align,
                )
            )
        return d_datas

    return output, backprop


def _pool(state: Floats3d, weight: Optional[Floats2d]):
    """One doc's row: its windows' [CLS] states averaged (weight None), or the weighted sum."""
    if weight is None:
        return state[:, 0, :].mean(axis=0)
    return (state * weight[:, :, None]).sum(axis=(0, 1))


def _mean_weights(xp, state: Floats3d, data: TransformerData) -> Floats2d:
    """(windows, positions): 1 / (real wordpieces in all windows) at each real one, else 0."""
    n_windows, n_positions = state.shape[:2]
    # The tokenizer's attention mask: 1 at each real wordpiece, 0 at padding.
    weights = xp.asarray(data.wordpieces.attention_mask[:n_windows, :n_positions], dtype="f")
    return weights / max(float(weights.sum()), 1.0)


def _last_hidden_state(data: TransformerData):
    state = data.model_output.get("last_hidden_state")
    return state if state is not None and state.size else None
