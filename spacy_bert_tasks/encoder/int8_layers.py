"""Which Linear layers of the encoder int8 quantizes: `int8_fp32_layers` keeps some in fp32.

Dynamic int8 quantization loses most of its accuracy in a few sensitive layers (Intel's int8
BERT models keep the FFN output projections of some layers in fp32); keeping just those in fp32
costs little speed. A pattern names modules of the Hugging Face model (`BertModel`), as
`named_modules()` spells them, with `*` standing for one part of the dotted name:

    "encoder.layer.11.output.dense"             layer 11's FFN output projection
    "encoder.layer.*.output.dense"              every layer's FFN output projection
    "encoder.layer.*.intermediate"              every layer's FFN input projection
    "encoder.layer.*.attention.output.dense"    every attention output projection
    "encoder.layer.0"                           every Linear of layer 0

Every Linear layer at or under a matched module stays fp32. A pattern that keeps no Linear layer
is an error (a typo would otherwise quietly quantize everything).

The int8 copy runs each self-attention's Q, K and V as one Linear layer (fused_attention.py), so
each input is quantized once. Patterns name the layers as the module has them, before fusing: a
fused projection stays fp32 where all three of its parts are kept; where only some are, that
layer's attention is left unfused, so exactly the named parts stay fp32. The copy also applies
each feed-forward GELU in place (`InPlaceGELU`).
"""

import re
import warnings
from typing import Dict, Iterable, List, Sequence, Tuple

import torch

from .fused_attention import FusedSelfAttention, fuse_self_attention
from .int8_activations import resolve_activation_range, use_full_activation_range
from .packed import intermediate_gelu


def check_layer_patterns(patterns: Iterable[str]) -> Tuple[str, ...]:
    """The patterns as a tuple, each a non-empty string; RAISES ValueError otherwise."""
    if isinstance(patterns, str):
        raise ValueError(
            f"int8_fp32_layers must be a list of patterns, not the string {patterns!r}"
        )
    checked = tuple(patterns)
    for pattern in checked:
        if not isinstance(pattern, str) or not pattern or pattern != pattern.strip():
            raise ValueError(f"int8_fp32_layers: {pattern!r} is not a module name pattern")
    return checked


def _pattern_regex(pattern: str) -> "re.Pattern[str]":
    return re.compile(
        ".".join(
            "[^.]+" if part == "*" else re.escape(part).replace(r"\*", "[^.]*")
            for part in pattern.split(".")
        )
    )


def linear_layer_names(module: torch.nn.Module) -> List[str]:
    """The names of `module`'s torch Linear layers, in module order."""
    return [name for name, sub in module.named_modules() if isinstance(sub, torch.nn.Linear)]


def kept_fp32_layers(module: torch.nn.Module, patterns: Sequence[str]) -> List[str]:
    """The Linear layers of `module` that `patterns` keep in fp32.

    RAISES ValueError: A pattern keeps no Linear layer; the message shows names that exist.
    """
    linears = linear_layer_names(module)
    kept = set()
    for pattern in check_layer_patterns(patterns):
        regex = _pattern_regex(pattern)
        matched = {
            linear
            for name, _ in module.named_modules()
            if name and regex.fullmatch(name)
            for linear in linears
            if linear == name or linear.startswith(name + ".")
        }
        if not matched:
            examples = ", ".join(linears[:4] + linears[-1:])
            raise ValueError(
                f"int8_fp32_layers: {pattern!r} matches no Linear layer of the encoder "
                f"({type(module).__name__}, {len(linears)} Linear layers such as {examples}; "
                "'*' stands for one part of a dotted name)"
            )
        kept |= matched
    return [name for name in linears if name in kept]


def quantize_dynamic_int8(
    module: torch.nn.Module, fp32_layers: Sequence[str] = (), activation_range: str = "reduced"
) -> torch.nn.Module:
    """`module` with its Linear layers dynamically quantized to int8, but those `fp32_layers`
    keep, in place. Weights are quantized per output channel (torch's x86/fbgemm and onednn
    engines support it for dynamic Linear), activations per batch (per tensor).

    activation_range (str): "full" (8-bit activations), "reduced" (7-bit, torch's default) or
        "auto" (int8_activations.py).
    """
    full_range = resolve_activation_range(activation_range) == "full"
    kept = set(kept_fp32_layers(module, fp32_layers)) if fp32_layers else set()
    fuse_self_attention(module, skip=_mixed_attention(module, kept))
    kept |= _fused_kept(module, kept)
    with warnings.catch_warnings():
        # torch >= 2.8 marks torch.ao eager quantization deprecated in favour of torchao; it is
        # still the only int8 path in torch itself, and this package pins the torch it tests.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        # Named layers, not the Linear type: a name absent here is left as it is.
        spec: Dict[str, object] = {
            name: per_channel_dynamic_qconfig
            for name in linear_layer_names(module)
            if name not in kept
        }
        quantized = quantize_dynamic(module, spec, dtype=torch.qint8, inplace=True)
    if full_range:
        use_full_activation_range(quantized)
    gelu_in_place(quantized)
    return quantized


class InPlaceGELU(torch.nn.Module):
    """GELU written over its input. Only for an input nothing else reads: the output of the
    intermediate block's own Linear layer, a fresh tensor. Saves allocating and filling a new
    copy of the layer's largest activation (rows x 4 x hidden): a fifth of the GELU's time on
    2 cores at 2,048 x 1,536 (0.83 vs 1.04 ms, one informal timing). The fp32 packed copy
    needs none of this: its Linear layer applies the GELU itself (packed.py)."""

    def __init__(self, approximate: str) -> None:
        super().__init__()
        self.approximate = approximate

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return torch.ops.aten.gelu_(inputs, approximate=self.approximate)


def gelu_in_place(module: torch.nn.Module) -> int:
    """Make every BERT intermediate block of `module` (an inference copy, int8: its Linear
    layers are not fused with their GELU) apply its GELU in place. RETURNS how many."""
    changed = 0
    for block in module.modules():
        algorithm = intermediate_gelu(block)
        if algorithm is not None:
            block.intermediate_act_fn = InPlaceGELU(algorithm)
            changed += 1
    return changed


def _mixed_attention(module: torch.nn.Module, kept) -> frozenset:
    """Self-attention blocks with some but not all of Q, K and V kept in fp32: left unfused."""
    mixed = set()
    for name, sub in module.named_modules():
        parts = [f"{name}.{p}" in kept for p in ("query", "key", "value")]
        if any(parts) and not all(parts):
            mixed.add(name)
    return frozenset(mixed)


def _fused_kept(module: torch.nn.Module, kept) -> set:
    """The fused Q/K/V Linear layers whose three parts were all kept in fp32."""
    return {
        f"{name}.qkv"
        for name, sub in module.named_modules()
        if isinstance(sub, FusedSelfAttention) and f"{name}.query" in kept
    }
