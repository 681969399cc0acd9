"""Inference-only copies of the encoder module, and when one is out of date.

The reduced-precision predictors (precision.py) and the compiled one (compiled.py) both predict
on a copy of the fp32 module being trained, rebuilt when its weights change. In-place torch
updates (load_state_dict, .copy_) bump each tensor's `_version`, and a new tensor has a new data
pointer; thinc's optimizer step (`param.data = from_numpy(same memory)`) does neither, so the
component also tells the predictors after each step (`invalidate_reduced_copies`).
"""

import copy
from typing import Tuple

import torch


def inference_copy(module: torch.nn.Module) -> torch.nn.Module:
    """A deep copy of `module` in eval mode, its parameters without gradient."""
    copied = copy.deepcopy(module).eval()
    for param in copied.parameters():
        param.requires_grad_(False)
    return copied


def weights_key(module: torch.nn.Module) -> Tuple:
    """What changes when `module` is replaced or its weights are loaded: compare two keys to
    know whether a copy made at the first is out of date (microseconds next to a forward)."""
    return (id(module),) + tuple((p.data_ptr(), p._version) for p in module.parameters())
