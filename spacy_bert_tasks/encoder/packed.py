"""fp32 prediction with the Linear weights laid out once for oneDNN (`inference_graph = "packed"`).

A BERT forward on a short text is mostly Linear layers on thin inputs: one CoNLL sentence is
about 20 wordpieces, so each matmul has 20 rows against a 384 x 1536 weight. A generic matmul
(nn.Linear, whatever BLAS torch calls) re-lays-out ("packs") the weight for its kernel at every
call, a large share of the call when there are 20 rows to multiply. oneDNN can take the
weight packed once (`torch.ops.mkldnn._reorder_linear_weight`, `_linear_pointwise`: what
torch.compile's frozen graphs call, compiled.py). With MiniLM on 2 CPU cores
(bench/scaling.py, one quiet run each, docs/benchmarks.md "Packed by default"): NER+textcat at
batch size 1 1.57x HF's pipeline (eager 0.95x); docs of 1,000 and 5,000 words 1.41x and 1.33x
(eager 1.27x and 1.15x). Outputs stay fp32, within a few 1e-6 of the module's (another
summation order), as compiled.py's.

Nothing is compiled: the first call packs the weights, and every input shape runs at once.
The packed copy holds only the packed Linear weights as new memory (their size in fp32: MiniLM
43 MB, BERT-base 340 MB) and shares the rest with the module. It is rebuilt when the weights
change: keyed on every parameter's identity and version (loading), and marked stale after a
training step (`invalidate`), so evaluation during training packs the new weights again.

The default since row counts are bucketed (`bucketed_rows`): oneDNN keeps a kernel for every
number of input rows it meets per weight shape (in its primitive cache and torch's ideep cache,
1,024 entries each, 0.55-0.60 MB per row count and weight shape), and a pipeline's calls meet
many (each chunk's windows x width). Unbucketed, the 50,000-doc soak (bench/memory_soak.py) grew
+10.02% after warm-up at about 1,000 MB; with each call padded to one of about 130 sizes, +2.10%
at about 680 MB (eager: about 760 MB); with 88 sizes, its samples after 7,500 docs sit at about
660-675 MB instead of 705-740 (docs/benchmarks.md, "Fewer row sizes"). Each doubling's sizes
have their kernels built together when the first of them comes (`doubling_sizes`), so a long
run stops building kernels after its first batches. Padding rows costs their share of the
matmul and, where the input's storage lacks them, a copy; a padded output keeps its padding
rows in storage, so the feed-forward block's second Linear reads the first one's output in
place (`_with_rows`).

The feed-forward block's GELU runs inside its first Linear's kernel (oneDNN's post-op, as in
torch.compile's frozen graphs): one pass less over each layer's largest activation. Each
self-attention runs its Q, K and V as one packed Linear, and short windows' attention as batched
matmuls (fused_attention.py).

CPU only, fp32 only: on a GPU, or where this torch build lacks the oneDNN ops, predictions run
on the module itself (eager). If packing or a packed call fails, predictions run eager for the
rest of the process, with one warning naming the error.
"""

import copy
import itertools
import warnings
from typing import Any, Dict, List, Optional, Set, Tuple

import torch
from thinc.api import ArgsKwargs

from . import heap
from .fused_attention import fuse_self_attention
from .inference_copy import weights_key


class PackedLinear(torch.nn.Module):
    """`linear` (an fp32 nn.Linear on the CPU) with its weight packed for oneDNN's matmul.

    gelu (Optional[str]): Apply GELU to the output in the same kernel: "none" (exact, erf) or
        "tanh" (the approximation); None: no activation.
    """

    def __init__(self, linear: torch.nn.Linear, gelu: Optional[str] = None) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        weight = linear.weight.detach()
        # The batch-size hint only tunes the layout; any number of rows runs.
        self.packed_weight = torch.ops.mkldnn._reorder_linear_weight(weight, 64)
        self.bias = None if linear.bias is None else linear.bias.detach()
        self.attr, self.algorithm = ("none", "") if gelu is None else ("gelu", gelu)
        # What oneDNN's kernels depend on (not the weights): Linears of one shape share them.
        self._kernels = (
            self.in_features,
            self.out_features,
            self.bias is None,
            self.attr,
            self.algorithm,
        )

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        rows = inputs.numel() // self.in_features
        padded = bucketed_rows(rows)
        self._build_kernels(padded)
        if padded == rows:  # most calls: nothing to pad (a single text, full windows)
            return self._matmul(inputs)
        output = self._matmul(_with_rows(inputs, rows, padded))
        # The first `rows` rows, a view: the next packed Linear finds the padding in its storage.
        return output[:rows].view(*inputs.shape[:-1], self.out_features)

    def _matmul(self, inputs: torch.Tensor) -> torch.Tensor:
        return torch.ops.mkldnn._linear_pointwise(
            inputs, self.packed_weight, self.bias, self.attr, [], self.algorithm
        )

    def _build_kernels(self, size: int) -> None:
        """Have oneDNN build its kernels for every size of `size`'s doubling now, the first
        time a call of that doubling comes, each by a matmul of that many zero rows (why:
        `doubling_sizes`). The call itself builds `size`'s. Runs on every call: a lookup."""
        doubling = (size - 1).bit_length()
        built = _BUILT_DOUBLINGS.get(self._kernels)
        if built is None:
            built = _BUILT_DOUBLINGS[self._kernels] = set()
        elif doubling in built:
            return
        built.add(doubling)
        for other in doubling_sizes(size):
            if other != size:
                self._matmul(torch.zeros(other, self.in_features))


# The doublings (`doubling_sizes`) whose kernels oneDNN holds, for each weight shape, bias or
# none and fused activation: its caches are the process's, and so is this record of them.
_BUILT_DOUBLINGS: Dict[Tuple[int, int, bool, str, str], Set[int]] = {}


def _with_rows(inputs: torch.Tensor, rows: int, padded: int) -> torch.Tensor:
    """`inputs` as `padded` rows (the first `rows` its own): a view where its storage already
    holds that many (a padded call's output, as the feed-forward block's second Linear gets
    it), else a copy padded with zeros. What the extra rows hold changes no real row's output
    (a matmul keeps rows apart), and they are cut off."""
    width = inputs.shape[-1]
    room = inputs.untyped_storage().nbytes() // inputs.element_size()
    if inputs.is_contiguous() and inputs.storage_offset() == 0 and room >= padded * width:
        return inputs.as_strided((padded, width), (width, 1))
    return torch.nn.functional.pad(inputs.reshape(rows, width), (0, 0, 0, padded - rows))


def bucketed_rows(rows: int) -> int:
    """`rows` rounded up to one of a few sizes, so oneDNN's kernel caches stay small (above).

    Every count up to 32 (one text per call, as services call a pipeline: padding would cost
    a tenth of a short sentence's time), then 8 sizes per doubling (36, 40, ... 64, 72, ...;
    at most 1/8 more rows): a call of up to WORDPIECES_PER_CALL = 4,096 rows meets one of 88
    sizes. Each size costs 0.55-0.60 MB of kernels per weight shape (MiniLM: 4 shapes), built
    a doubling at a time (`doubling_sizes`), so fewer sizes hold less. 16 sizes per doubling
    (128 in all), each built when first met, held about 50 MB more in the 50,000-doc soak and
    met 7 new sizes after its 5,000-doc warm-up (8 per doubling: 5), for 1-2% more speed.
    Full 512-wordpiece windows (long docs) are powers of two and need no padding.
    """
    if rows <= 32:
        return rows
    step = 1 << (rows - 1).bit_length() - 4  # 8 sizes per doubling
    return -(-rows // step) * step


def doubling_sizes(size: int) -> List[int]:
    """Every size `bucketed_rows` gives in `size`'s doubling (2^(k-1), 2^k]: 8 above 32 rows,
    each count up to 32 (17 to 32, 9 to 16, ...).

    A packed Linear builds the kernels of a whole doubling together, the first time it meets
    one of its sizes, because kernels built late are what grows memory in a long run: each
    size's kernels (0.55-0.60 MB per weight shape) land between the heap's activations and
    fragment it, and a stream meets its rarer sizes only after thousands of docs. In the
    50,000-doc soak (bench/memory_soak.py), sizes first met after its 5,000-doc warm-up took
    resident memory from about 632 to 666 MB (+5.4%); with every size it meets built before
    the first doc, the samples stayed within 682-690 MB, and built by doubling, three soaks
    grew +2.68%, +2.72% and +2.66% (docs/benchmarks.md, "Kernels built by doubling").

    A doubling's first call pays for its other sizes' matmuls on zero rows once per process
    (at most 16 calls per weight shape), and holds the kernels of sizes the stream might never
    meet, at most 88 sizes in all. Every doubling up to 4,096 rows, on 2 cores: MiniLM's
    shapes 1.1 s and 201 MB of kernels (18 MB per doubling above 32 rows), BERT-base's 3.5 s
    and 160 MB (bench/kernel_build.py).
    """
    top = 1 << (size - 1).bit_length()
    return sorted({bucketed_rows(rows) for rows in range(top // 2 + 1, top + 1)})


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
    fuse_self_attention(copied)  # Q, K and V as one Linear, packed below
    for parent in list(copied.modules()):
        gelu = _fusable_gelu(parent)
        if gelu is not None:  # BERT's intermediate block: its Linear applies the GELU itself
            parent.dense = PackedLinear(parent.dense, gelu)
            parent.intermediate_act_fn = torch.nn.Identity()
        for name, child in list(parent.named_children()):
            if type(child) is torch.nn.Linear and child.weight.dtype == torch.float32:
                setattr(parent, name, PackedLinear(child))
    return copied


def _fusable_gelu(block: torch.nn.Module) -> Optional[str]:
    """oneDNN's GELU algorithm for a block that runs `dense` then a GELU (HF's BertIntermediate:
    `intermediate_act_fn(dense(x))`), as torch.compile fuses it; None for any other module.
    Saves a pass over the largest activation (rows x 4 x hidden) in each layer."""
    dense = getattr(block, "dense", None)
    if type(dense) is not torch.nn.Linear or dense.weight.dtype != torch.float32:
        return None
    return intermediate_gelu(block)


def intermediate_gelu(block: torch.nn.Module) -> Optional[str]:
    """The GELU algorithm ("none": exact, erf; "tanh") of a BERT intermediate block (HF's
    BertIntermediate and its copies: `intermediate_act_fn(dense(x))`); None for any other
    module or activation."""
    from transformers.activations import GELUActivation

    if not type(block).__name__.endswith("Intermediate"):  # BERT's, and its copies in HF
        return None
    act = getattr(block, "intermediate_act_fn", None)
    if type(act) is GELUActivation and act.act is torch.nn.functional.gelu:
        return "none"  # exact GELU (erf), BERT's "gelu"
    if type(act) is torch.nn.GELU:
        return act.approximate  # "none" or "tanh"
    return None


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

    def __getstate__(self) -> dict:
        # A copy (nlp.replace_listeners deep-copies the encoder) or a pickle packs its own
        # weights again: oneDNN's packed tensors have no storage to copy.
        return {**self.__dict__, "_packed": None, "_key": None}

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
                heap.copy_built()
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
