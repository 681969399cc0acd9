"""Reduced-precision prediction for `bert_transformer`: bf16 or int8 copies of the encoder.

Training always runs on the fp32 weights. When the component's `inference_precision` is "bf16"
or "int8", every prediction (the doc-level pass and the QA head's pair pass) instead runs on a
copy of the torch module converted once and cached, so that:

- "bf16": the weights are cast once (autocast would cast them at every call); matmuls run in
  bf16, fast on CPUs with AMX or AVX512-BF16 and on GPUs. Outputs are cast back to fp32 for
  the heads, which are numpy models.
- "int8": torch's dynamic quantization of the Linear layers (per-channel int8 weights,
  activations quantized per batch), for CPUs. Embeddings, LayerNorm and softmax stay fp32, and
  so do the Linear layers named by `int8_fp32_layers` (int8_layers.py); activations get 8 or 7
  bits by `int8_activation_range` (int8_activations.py).

The copy is rebuilt whenever the weights it came from change. thinc's optimizer step writes the
new values into the same memory without bumping torch's version counters, so the component
calls `invalidate_reduced_copies` after each step; loading (a new module, or load_state_dict,
which bumps the counters) is caught by keying the copy on every parameter's identity and version,
which costs microseconds next to a forward pass.
"""

from typing import Any, Dict, Optional, Sequence, Tuple

import torch
from thinc.api import ArgsKwargs

from . import heap
from .compiled import CompiledPredict, check_graph
from .inference_copy import inference_copy, weights_key
from .int8_activations import check_activation_range
from .int8_layers import check_layer_patterns, quantize_dynamic_int8
from .packed import PackedPredict

PRECISIONS = ("fp32", "bf16", "int8")


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(
            f"inference_precision must be one of {', '.join(PRECISIONS)}, not {precision!r}"
        )
    return precision


def reduced_precision_copy(
    module: torch.nn.Module,
    precision: str,
    fp32_layers: Sequence[str] = (),
    activation_range: str = "reduced",
) -> torch.nn.Module:
    """An inference-only copy of `module` in `precision` ("bf16" or "int8").

    fp32_layers (Sequence[str]): int8 only: patterns of the Linear layers kept in fp32
        (int8_layers.py).
    activation_range (str): int8 only: "auto", "full" or "reduced" (int8_activations.py).
    """
    check_precision(precision)
    if precision == "fp32":
        raise ValueError("fp32 predictions run on the module itself, not on a copy")
    reduced = inference_copy(module)
    if precision == "bf16":
        return reduced.to(torch.bfloat16)
    return quantize_dynamic_int8(reduced, fp32_layers, activation_range)


class ReducedPrecisionPredict:
    """Stands in for a thinc PyTorchShim's `predict`: runs the cached reduced-precision copy.

    shim (PyTorchShim): The encoder's shim; its `_model` is the fp32 module being trained.
    precision (str): "bf16" or "int8".
    fp32_layers (Sequence[str]): int8 only: patterns of the Linear layers kept in fp32.
    activation_range (str): int8 only: "auto", "full" or "reduced" (int8_activations.py).
    """

    def __init__(
        self,
        shim,
        precision: str,
        fp32_layers: Sequence[str] = (),
        activation_range: str = "reduced",
    ) -> None:
        self.shim = shim
        self.precision = check_precision(precision)
        self.fp32_layers = check_layer_patterns(fp32_layers) if precision == "int8" else ()
        self.activation_range = check_activation_range(activation_range)
        self._copy: Optional[torch.nn.Module] = None
        self._key: Optional[Tuple] = None

    def invalidate(self) -> None:
        self._copy = None

    def module(self) -> torch.nn.Module:
        """The reduced-precision copy of the shim's current weights, rebuilt if they changed."""
        key = weights_key(self.shim._model)
        if self._copy is None or key != self._key:
            self._copy = reduced_precision_copy(
                self.shim._model, self.precision, self.fp32_layers, self.activation_range
            )
            self._key = key
            heap.copy_built()
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


class ReducedPrecisionShim:
    """Mixin for a thinc PyTorchShim (SafeHFShim): `predict` runs in the chosen precision.

    Each precision's predictor (and its converted copy) is kept, so switching back and forth
    does not convert the weights again. `begin_update` (training) always runs the fp32 module.
    """

    inference_precision = "fp32"  # until set_inference_precision; an instance attribute then
    inference_graph = "eager"  # until set_inference_graph

    def set_inference_precision(
        self, precision: str, fp32_layers: Sequence[str] = (), activation_range: str = "reduced"
    ) -> None:
        self.inference_precision = check_precision(precision)
        # int8 with different kept-fp32 layers or activation range is a different copy (the
        # int8 sweep switches); they mean nothing to bf16, whose one copy serves them all.
        int8 = precision == "int8"
        patterns = check_layer_patterns(fp32_layers) if int8 else ()
        activations = check_activation_range(activation_range) if int8 else "reduced"
        self._predictor_key = (precision, patterns, activations)
        predictors = self._reduced_predictors()
        if precision != "fp32" and self._predictor_key not in predictors:
            predictors[self._predictor_key] = ReducedPrecisionPredict(
                self, precision, patterns, activations
            )

    def reduced_predictor(self) -> Optional[ReducedPrecisionPredict]:
        """The predictor of the current precision, None for fp32."""
        if self.inference_precision == "fp32":
            return None
        return self._reduced_predictors().get(self._predictor_key)

    def predict(self, inputs: ArgsKwargs) -> Any:
        predictor = self.reduced_predictor()
        if predictor is not None:
            return predictor(inputs)
        if self._mixed_precision:  # type: ignore[attr-defined]
            return super().predict(inputs)  # type: ignore[misc]
        # thinc's predict switches the module to eval mode and back to train mode at every call:
        # 2 x ~120 submodules, a few percent of nlp(text) on a short text. The module stays in
        # eval mode here; training (thinc's begin_update) switches it to train mode itself.
        module = self._model  # type: ignore[attr-defined]
        if module.training:
            module.eval()
        with torch.inference_mode():
            if self.inference_graph == "compiled":
                return self._compiled_predictor()(inputs)
            if self.inference_graph == "packed":
                return self._packed_predictor()(inputs)
            return module(*inputs.args, **inputs.kwargs)

    def set_inference_graph(self, graph: str) -> None:
        """How fp32 predictions run: "eager" (the module), "packed" (packed.py) or "compiled"
        (compiled.py)."""
        self.inference_graph = check_graph(graph)

    def _packed_predictor(self) -> PackedPredict:
        if "_packed_predict" not in self.__dict__:
            self._packed_predict = PackedPredict(self)
        return self._packed_predict

    def _compiled_predictor(self) -> CompiledPredict:
        if "_compiled_predict" not in self.__dict__:
            self._compiled_predict = CompiledPredict(self)
        return self._compiled_predict

    def invalidate_reduced_copies(self) -> None:
        """After a training step: every precision's predictor converts the weights again
        before its next use, and a compiled predictor runs eager from now on."""
        for predictor in self._reduced_predictors().values():
            predictor.invalidate()
        # Created here if need be: a pipeline trained with the setting on never compiles.
        if self.inference_graph == "compiled" or "_compiled_predict" in self.__dict__:
            self._compiled_predictor().invalidate()
        if "_packed_predict" in self.__dict__:  # packed again at its next prediction
            self._packed_predict.invalidate()

    def _reduced_predictors(self) -> Dict[Tuple, ReducedPrecisionPredict]:
        if "_reduced_precision_predictors" not in self.__dict__:
            self._reduced_precision_predictors: Dict[Tuple, ReducedPrecisionPredict] = {}
        return self._reduced_precision_predictors


def set_shim_precision(
    shim, precision: str, fp32_layers: Sequence[str] = (), activation_range: str = "reduced"
) -> None:
    """Make `shim.predict` run in `precision` ("fp32": the shim's own weights).

    shim: The encoder's shim; reduced precisions need a ReducedPrecisionShim (SafeHFShim, the
        shim of spacy-bert-tasks.BertEncoder.v1).
    fp32_layers (Sequence[str]): int8 only: patterns of the Linear layers kept in fp32.
    activation_range (str): int8 only: "auto", "full" or "reduced" (int8_activations.py).
    """
    check_precision(precision)
    if isinstance(shim, ReducedPrecisionShim):
        shim.set_inference_precision(precision, fp32_layers, activation_range)
    elif precision != "fp32":
        raise ValueError(
            f"inference_precision {precision!r} needs the encoder model "
            f"spacy-bert-tasks.BertEncoder.v1 (its shim is {type(shim).__name__})"
        )


def set_shim_graph(shim, graph: str) -> None:
    """Make the shim's fp32 predictions run "eager", "packed" (packed.py) or "compiled"
    (compiled.py). Another encoder model's shim runs as it is under "packed" (the default, like
    a GPU) and refuses "compiled", which a user asks for by name."""
    check_graph(graph)
    if isinstance(shim, ReducedPrecisionShim):
        shim.set_inference_graph(graph)
    elif graph == "compiled":
        raise ValueError(
            f"inference_graph {graph!r} needs the encoder model spacy-bert-tasks.BertEncoder.v1 "
            f"(its shim is {type(shim).__name__})"
        )


def invalidate_reduced_copies(shim) -> None:
    """After a weight update: reduced-precision copies are converted again before next use."""
    if isinstance(shim, ReducedPrecisionShim):
        shim.invalidate_reduced_copies()
