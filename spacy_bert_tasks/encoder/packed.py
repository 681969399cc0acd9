"""fp32 prediction with the Linear weights laid out once for oneDNN (`inference_graph = "packed"`).

A BERT forward on a short text is mostly Linear layers on thin inputs: one CoNLL sentence is
about 20 wordpieces, so each matmul has 20 rows against a 384 x 1536 weight. A generic matmul
(nn.Linear, whatever BLAS torch calls) re-lays-out ("packs") the weight for its kernel at every
call, a large share of the call when there are 20 rows to multiply. oneDNN can take the
weight packed once (`torch.ops.mkldnn._reorder_linear_weight`, `_linear_pointwise`: what
torch.compile's frozen graphs call, compiled.py). With MiniLM on 2 CPU cores
(bench/scaling.py, one quiet run each, docs/benchmarks.md): NER+textcat at batch size 1, 1,511
words/s against 1,075 eager; docs of 1,000 and 5,000 words 1.12x and 1.07x eager. Outputs stay
fp32, within a few 1e-6 of the module's (another summation order), as compiled.py's.

Nothing is compiled: the first call packs the weights, and every input shape runs at once.
The packed copy holds only the packed Linear weights as new memory (their size in fp32: MiniLM
43 MB, BERT-base 340 MB) and shares the rest with the module. It is rebuilt when the weights
change: keyed on every parameter's identity and version (loading), and marked stale after a
training step (`invalidate`), so evaluation during training packs the new weights again.

Why it is not the default: oneDNN keeps about 0.55 MB for every new number of input rows it
sees per weight shape (not handed back by malloc_trim), and a pipeline's calls have many (each
chunk's windows x width): the 50,000-doc soak (bench/memory_soak.py --inference-graph packed)
grew +10.02% after warm-up, where eager stays under 5% (compiled: +1.71%). A job that ends (annotating a file)
can afford it; a long-running service should stay eager until row counts are bucketed.

CPU only, fp32 only: on a GPU, or where this torch build lacks the oneDNN ops, predictions run
on the module itself (eager). If packing or a packed call fails, predictions run eager for the
rest of the process, with one warning naming the error.
"""

import copy
import itertools
import warnings
from typing import Any, Optional, Tuple

import torch
from thinc.api import ArgsKwargs

from .inference_copy import weights_key


class PackedLinear(torch.nn.Module):
    """`linear` (an fp32 nn.Linear on the CPU) with its weight packed for oneDNN's matmul."""

    def __init__(self, linear: torch.nn.Linear) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        weight = linear.weight.detach()
        # The batch-size hint only tunes the layout; any number of rows runs.
        self.packed_weight = torch.ops.mkldnn._reorder_linear_weight(weight, 64)
        self.bias = None if linear.bias is None else linear.bias.detach()

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return torch.ops.mkldnn._linear_pointwise(
            inputs, self.packed_weight, self.bias, "none", [], ""
        )


def packing_available(module: torch.nn.Module) -> bool:
    """Whether `module` can run packed: fp32 weights on the CPU, and oneDNN's ops in torch."""
    if not torch.backends.mkldnn.is_available():
        return False
    if not all(
        hasattr(torch.ops.mkldnn, op) for op in ("_reorder_linear_weight", "_linear_pointwise")
    ):
        return False
    params = list(module.parameters())
    return bool(params) and all(p.device.type == "cpu" and p.dtype == torch.float32 for p in params)


def packed_copy(module: torch.nn.Module) -> torch.nn.Module:
    """A copy of `module` in eval mode, every fp32 nn.Linear replaced by a PackedLinear.

    Only the packed weights are new memory: the copy shares every other parameter and buffer
    (embeddings, LayerNorm) with `module`, whose training mode it leaves alone.
    """
    shared = {id(t): t for t in itertools.chain(module.parameters(), module.buffers())}
    copied = copy.deepcopy(module, shared).eval()
    for parent in list(copied.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is torch.nn.Linear and child.weight.dtype == torch.float32:
                setattr(parent, name, PackedLinear(child))
    return copied


class PackedPredict:
    """Runs an fp32 shim's predictions on a packed copy of its module.

    shim (PyTorchShim): The encoder's shim; its `_model` is the module copied.
    """

    def __init__(self, shim) -> None:
        self.shim = shim
        self._packed: Optional[torch.nn.Module] = None
        self._key: Optional[Tuple] = None
        # Why predictions run on the module itself for good (a failure); None while packing.
        self.eager_reason: Optional[str] = None

    def invalidate(self) -> None:
        """The weights changed in place (a training step): pack them again before next use."""
        self._packed, self._key = None, None

    def __call__(self, inputs: ArgsKwargs) -> Any:
        """The module's output for `inputs`; called in inference mode, module in eval mode."""
        module = self.shim._model
        if self.eager_reason is not None:
            return module(*inputs.args, **inputs.kwargs)
        try:
            key = weights_key(module)
            if key != self._key:  # new weights, or moved to another device: decide again
                self._packed = packed_copy(module) if packing_available(module) else None
                self._key = key
            if self._packed is not None:
                return self._packed(*inputs.args, **inputs.kwargs)
        except Exception as packed_error:  # any checkpoint, any build: eager is always right
            output = module(*inputs.args, **inputs.kwargs)  # the input's own error raises here
            self.eager_reason = (
                f"packing failed ({type(packed_error).__name__}: {str(packed_error)[:300]}); "
                "predictions run eager"
            )
            self._packed, self._key = None, None
            warnings.warn(f"inference_graph 'packed': {self.eager_reason}", stacklevel=3)
            return output
        return module(*inputs.args, **inputs.kwargs)  # a GPU, or no oneDNN ops in this build
