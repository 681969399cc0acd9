"""Reduced-precision prediction for `bert_transformer`: bf16 or int8 copies of the encoder.

Training always runs on the fp32 weights. When the component's `inference_precision` is "bf16"
or "int8", every prediction (the doc-level pass and the QA head's pair pass) instead runs on a
copy of the torch module converted once and cached, so that:

- "bf16": the weights are cast once (autocast would cast them at every call); matmuls run in
  bf16, fast on CPUs with AMX or AVX512-BF16 and on GPUs. Outputs are cast back to fp32 for
  the heads, which are numpy models.
- "int8": torch's dynamic quantization of the Linear layers (per-channel int8 weights,
  activations quantized per batch), for CPUs. Embeddings, LayerNorm and softmax stay fp32.

The copy is rebuilt whenever the weights it came from change. thinc's optimizer step writes the
new values into the same memory without bumping torch's version counters, so the component
calls `invalidate_reduced_copies` after each step; loading (a new module, or load_state_dict,
which bumps the counters) is caught by keying the copy on every parameter's identity and version,
which costs microseconds next to a forward pass.
"""
import copy
import warnings
from typing import Any, Optional, Tuple

import torch
from thinc.api import ArgsKwargs

PRECISIONS = ("fp32", "bf16", "int8")


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(
            f"inference_precision must be one of {', '.join(PRECISIONS)}, not {precision!r}"
        )
    return precision


def reduced_precision_copy(module: torch.nn.Module, precision: str) -> torch.nn.Module:
    """An inference-only copy of `module` in `precision` ("bf16" or "int8")."""
    check_precision(precision)
    if precision == "fp32":
        raise ValueError("fp32 predictions run on the module itself, not on a copy")
    reduced = copy.deepcopy(module).eval()
    for param in reduced.parameters():
        param.requires_grad_(False)
    if precision == "bf16":
        return reduced.to(torch.bfloat16)
    with warnings.catch_warnings():
        # torch >= 2.8 marks torch.ao eager quantization deprecated in favour of torchao; it is
        # still the only int8 path in torch itself, and this package pins the torch it tests.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        return quantize_dynamic(
            reduced, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8
        )


def _weights_key(module: torch.nn.Module) -> Tuple:
    # In-place torch updates (load_state_dict, .copy_) bump `_version`; a new tensor has a new
    # data pointer. thinc's `param.data = from_numpy(same memory)` does neither: see above.
    return (id(module),) + tuple(
        (p.data_ptr(), p._version) for p in module.parameters()
    )


class ReducedPrecisionPredict:
    """Stands in for a thinc PyTorchShim's `predict`: runs the cached reduced-precision copy.

    shim (PyTorchShim): The encoder's shim; its `_model` is the fp32 module being trained.
    precision (str): "bf16" or "int8".
    """

    def __init__(self, shim, precision: str) -> None:
        self.shim = shim
        self.precision = check_precision(precision)
        self._copy: Optional[torch.nn.Module] = None
        self._key: Optional[Tuple] = None

    def invalidate(self) -> None:
        self._copy = None

    def module(self) -> torch.nn.Module:
        """The reduced-precision copy of the shim's current weights, rebuilt if they changed."""
        key = _weights_key(self.shim._model)
        if self._copy is None or key != self._key:
            self._copy = reduced_precision_copy(self.shim._model, self.precision)
            self._key = key
        return self._copy

    def __call__(self, inputs: ArgsKwargs) -> Any:
        module = self.module()
        with torch.inference_mode():
            output = module(*inputs.args, **inputs.kwargs)
        return _to_float32(output)


def _to_float32(output: Any) -> Any:
    """HF model outputs (dict-like) with every floating tensor cast to fp32 for numpy heads."""
    for name, value in output.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            output[name] = value.float()
        elif isinstance(value, tuple):  # hidden_states / attentions, when requested
            output[name] = tuple(
                v.float() if isinstance(v, torch.Tensor) and v.is_floating_point() else v
                for v in value
            )
    return output


def set_shim_precision(shim, precision: str) -> None:
    """Make `shim.predict` run in `precision`; "fp32" restores the shim's own predict.

    Each precision's predictor (and its converted copy) is kept on the shim, so switching back
    and forth does not convert the weights again.
    """
    check_precision(precision)
    if precision == "fp32":
        shim.__dict__.pop("predict", None)  # the class's method again
        return
    predictors = shim.__dict__.setdefault("_reduced_precision_predictors", {})
    if precision not in predictors:
        predictors[precision] = ReducedPrecisionPredict(shim, precision)
    shim.predict = predictors[precision]


def invalidate_reduced_copies(shim) -> None:
    """Make every precision's predictor convert the weights again before its next use."""
    for predictor in shim.__dict__.get("_reduced_precision_predictors", {}).values():
        predictor.invalidate()
