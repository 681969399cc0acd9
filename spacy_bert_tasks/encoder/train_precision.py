"""The precision of the encoder's training forward: fp32, or bf16 autocast where it is native.

`train_precision` (a setting of spacy-bert-tasks.BertEncoder.v1):

- "fp32": the training forward runs in fp32, as spacy-transformers' does.
- "bf16": the training forward (the doc pass and the QA head's pair pass: both go through the
  shim's `begin_update`) runs under `torch.autocast(device, dtype=torch.bfloat16)`. The weights
  stay fp32 (the "master" weights the optimizer steps), autocast casts them for each matmul, and
  the backward pass runs outside autocast, so the gradients are fp32 like the weights. bf16 has
  fp32's exponent range: no gradient scaler is needed. The outputs are cast back to fp32 for the
  heads, which are numpy models.
- "auto" (default): "bf16" where the device runs bf16 matmuls natively (CPUs with AVX512-BF16
  or AMX; CUDA GPUs from Ampere on), "fp32" elsewhere: on CPUs without them, bf16 is emulated and
  slower than fp32.

spacy-transformers' `mixed_precision = true` is the CUDA fp16 autocast with a gradient scaler
(thinc's PyTorchShim). It is a different path: with it, "auto" resolves to that path, and
"bf16" is refused (one autocast at a time). Predictions never use this setting: they run in
the component's `inference_precision` (precision.py).
"""

from typing import Any, List, Tuple

import torch
from spacy.util import logger
from thinc.api import ArgsKwargs
from thinc.util import convert_recursive

from .precision import _to_float32

TRAIN_PRECISIONS = ("auto", "fp32", "bf16")


def check_train_precision(precision: str, mixed_precision: bool = False) -> str:
    """The setting, checked: one of TRAIN_PRECISIONS, and not "bf16" with mixed_precision."""
    if precision not in TRAIN_PRECISIONS:
        raise ValueError(
            f"train_precision must be one of {', '.join(TRAIN_PRECISIONS)}, not {precision!r} "
            "(a setting of the bert_transformer component's model, [components.*.model])"
        )
    if precision == "bf16" and mixed_precision:
        raise ValueError(
            "train_precision 'bf16' and mixed_precision = true are two autocasts: choose one "
            "(mixed_precision is spacy-transformers' CUDA fp16 with a gradient scaler)"
        )
    return precision


def native_bf16(device: torch.device) -> Tuple[bool, str]:
    """Whether `device` runs bf16 matmuls in hardware, and the reason, for the log."""
    if device.type == "cpu":
        cpu = getattr(torch, "cpu", None)
        for flag, name in (("_is_amx_tile_supported", "AMX"), ("_is_avx512_bf16_supported", "")):
            check = getattr(cpu, flag, None)
            if check is not None and check():
                return True, f"this CPU has {name or 'AVX512-BF16'}"
        return False, "this CPU has neither AVX512-BF16 nor AMX (bf16 would be emulated)"
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported(including_emulation=False):
            return True, "this GPU supports bf16"
        return False, "this GPU has no native bf16"
    return False, f"no native bf16 check for device type {device.type!r}"


def resolve_train_precision(
    precision: str, device: torch.device, mixed_precision: bool
) -> Tuple[str, str]:
    """The precision training runs in ("fp32", "bf16" or "fp16-mixed") and why."""
    check_train_precision(precision, mixed_precision)
    if mixed_precision:
        return "fp16-mixed", "mixed_precision = true (CUDA fp16 autocast, gradient scaler)"
    if precision != "auto":
        return precision, f"train_precision = {precision!r}"
    native, reason = native_bf16(device)
    return ("bf16" if native else "fp32"), f"train_precision = 'auto': {reason}"


class TrainPrecisionShim:
    """Mixin for a thinc PyTorchShim (SafeHFShim): `begin_update` in the training precision.

    The precision is resolved at the first training forward (the module's device is known
    then) and logged once, on spaCy's logger (shown by `spacy train`).
    """

    train_precision = "auto"  # until set_train_precision; an instance attribute then
    _resolved_train_precision: Tuple = (None, "", "")  # (device, precision, reason)

    def set_train_precision(self, precision: str) -> None:
        mixed = self._mixed_precision  # type: ignore[attr-defined]
        self.train_precision = check_train_precision(precision, mixed)
        self._resolved_train_precision = (None, "", "")

    def resolved_train_precision(self) -> str:
        """ "fp32", "bf16" or "fp16-mixed": what the training forward runs in on this device."""
        return self._resolve()[0]

    def train_precision_note(self) -> str:
        """E.g. "bf16 (train_precision = 'auto': this CPU has AVX512-BF16)"."""
        precision, reason = self._resolve()
        return f"{precision} ({reason})"

    def _resolve(self) -> Tuple[str, str]:
        device = self.device  # type: ignore[attr-defined]
        resolved_for, precision, reason = self._resolved_train_precision
        if resolved_for != device:  # first use, or the module moved (to_gpu)
            mixed = self._mixed_precision  # type: ignore[attr-defined]
            precision, reason = resolve_train_precision(self.train_precision, device, mixed)
            logger.info(f"Training the encoder in {precision} ({reason})")
            self._resolved_train_precision = (device, precision, reason)
        return precision, reason

    def begin_update(self, inputs: ArgsKwargs):
        if self.resolved_train_precision() != "bf16":
            return super().begin_update(inputs)  # type: ignore[misc]
        module = self._model  # type: ignore[attr-defined]
        module.train()
        with torch.autocast(self.device.type, dtype=torch.bfloat16):  # type: ignore[attr-defined]
            output = module(*inputs.args, **inputs.kwargs)
        # The cast is part of the graph: the heads' fp32 gradients flow back through it.
        output = _to_float32(output)

        def backprop(grads: ArgsKwargs) -> Any:
            # PyTorchShim's backprop without its gradient scaler, which bf16 does not use
            # (check_train_precision refuses bf16 with mixed_precision). Layers that chain the
            # encoder (standalone.py) call this; the component runs its own backward.
            torch.autograd.backward(*grads.args, **grads.kwargs)
            return convert_recursive(lambda x: hasattr(x, "grad"), lambda x: x.grad, inputs)

        return output, backprop


def train_precision_lines(nlp) -> List[str]:
    """For the training console: per trained encoder component, its training precision and why.

    nlp (Language): An initialized pipeline.
    RETURNS (List[str]): One line per component whose model has a TrainPrecisionShim.
    """
    frozen = set(nlp.config["training"].get("frozen_components", []))
    lines = []
    for name, proc in nlp.pipeline:
        shim = getattr(getattr(proc, "model", None), "shim", None)
        if name not in frozen and isinstance(shim, TrainPrecisionShim) and shim._model is not None:
            lines.append(f"'{name}' trains its encoder in {shim.train_precision_note()}")
    return lines
