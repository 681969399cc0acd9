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
"""

import re
import warnings
from typing import Dict, Iterable, List, Sequence, Tuple

import torch

from .int8_activations import resolve_activation_range, use_full_activation_range


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
    return quantized
