"""The settings of a nested config block, for comparing configs setting by setting."""

from typing import Any, Dict


def config_leaves(block: Dict[str, Any], prefix: str = "") -> Dict[str, Any]:
    """{dotted path: value} of every setting in `block` (an empty section has none)."""
    found: Dict[str, Any] = {}
    for key, value in block.items():
        if isinstance(value, dict):
            found.update(config_leaves(value, f"{prefix}{key}."))
        else:
            found[f"{prefix}{key}"] = value
    return found
