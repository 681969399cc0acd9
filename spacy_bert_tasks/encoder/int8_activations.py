"""How many bits int8 gives activations: `int8_activation_range` ("auto", "full", "reduced").

torch's dynamic int8 Linear quantizes each batch's input per tensor to uint8, but on its x86
engine (fbgemm) it asks for a *reduced range*, 0..127: 7 bits. That guards CPUs without VNNI,
whose int8 dot product (AVX2/AVX-512 `vpmaddubsw`) adds pairs of uint8 x int8 products in a
saturating int16, which 8-bit inputs can overflow. CPUs with VNNI (`vpdpbusd`, AVX512-VNNI or
AVX-VNNI; AMX too) accumulate in int32, so the full range, 8 bits, is safe there, and it halves
the rounding step of every activation.

That bit matters for BERT: the inputs of the FFN projections carry a few channels ~15x larger
than the rest (LayerNorm output and GELU outliers), which set the per-tensor scale, so the other
channels get few levels. On the package's SQuAD model, int8 with 7-bit activations lost 3.67 F1
and with 8-bit ones 0.79 (docs/benchmarks.md, "int8 activations"), at the same speed.

- "auto" (default): "full" where the CPU reports VNNI (Linux /proc/cpuinfo flags), else "reduced".
- "full": 8-bit activations; on a CPU without VNNI results may overflow: measure before use.
- "reduced": torch's default, 7-bit activations.
"""

from pathlib import Path
from typing import FrozenSet, Optional

import torch

ACTIVATION_RANGES = ("auto", "full", "reduced")
# /proc/cpuinfo flags of int8 dot products that accumulate in int32.
VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})
CPUINFO = Path("/proc/cpuinfo")


def check_activation_range(value: str) -> str:
    """`value` if it is one of ACTIVATION_RANGES; RAISES ValueError otherwise."""
    if value not in ACTIVATION_RANGES:
        raise ValueError(
            f"int8_activation_range must be one of {', '.join(ACTIVATION_RANGES)}, not {value!r}"
        )
    return value


def cpu_flags(cpuinfo: Path = CPUINFO) -> Optional[FrozenSet[str]]:
    """The CPU's feature flags from /proc/cpuinfo; None where it cannot be read (not Linux)."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return None


def cpu_has_vnni(cpuinfo: Path = CPUINFO) -> bool:
    """Whether the CPU has an int8 dot product accumulating in int32 (unknown: False)."""
    flags = cpu_flags(cpuinfo)
    return bool(flags and flags & VNNI_FLAGS)


def resolve_activation_range(value: str, cpuinfo: Path = CPUINFO) -> str:
    """ "full" or "reduced": what `value` means on this CPU."""
    if check_activation_range(value) != "auto":
        return value
    return "full" if cpu_has_vnni(cpuinfo) else "reduced"


class FullRangeDynamicLinear(torch.ao.nn.quantized.dynamic.Linear):
    """torch's dynamic int8 Linear with 8-bit activations (`reduce_range=False`).

    Only the activations' range differs: weights, packing and kernels are torch's.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        packed = self._packed_params._packed_params
        return torch.ops.quantized.linear_dynamic(x, packed, reduce_range=False).to(x.dtype)

    def _get_name(self) -> str:
        return "FullRangeDynamicQuantizedLinear"


def use_full_activation_range(module: torch.nn.Module) -> int:
    """Make every int8 dynamic Linear of `module` use 8-bit activations, in place.

    RETURNS (int): How many Linear layers were switched.
    """
    switched = 0
    for sub in module.modules():
        if type(sub) is torch.ao.nn.quantized.dynamic.Linear:
            if sub._packed_params.dtype != torch.qint8:
                continue
            # The same object, state and packed weights: only forward differs.
            sub.__class__ = FullRangeDynamicLinear
            switched += 1
    return switched
