"""One backward pass per step through the shared encoder, whatever the number of heads and passes.

Each encoder pass of a step (the doc-level pass the listeners share, the QA head's
question-conditioned pass, the sub-batches of gradient accumulation) leaves its torch output
here, and heads add their gradients for it. `backward` then runs a single
`torch.autograd.backward` over all of them. thinc's shim instead backpropagates and unscales ALL
accumulated gradients once per pass: with mixed precision, a second pass in a step divides the
first pass's gradients by the loss scale again. Here gradients stay scaled until
`unscale_gradients`, called once before the optimizer step.
"""

from typing import Callable, List, Optional

import torch
from spacy_transformers.data_classes import TransformerData
from thinc.api import xp2torch


class PendingPass:
    """The torch output of one encoder pass and the gradient heads sent for it so far."""

    def __init__(self, output: torch.Tensor, unsplit: Optional[Callable] = None):
        self.output = output
        # Doc-level passes get per-doc gradients from listeners, stitched back by `unsplit`.
        self.unsplit = unsplit
        self.doc_grads: List[List] = []
        self.grad = None

    @property
    def has_gradient(self) -> bool:
        return bool(self.doc_grads) or self.grad is not None

    def add(self, d_output) -> None:
        """Add a gradient of the same shape as the output (an xp array)."""
        self.grad = d_output if self.grad is None else self.grad + d_output

    def add_doc_gradients(self, d_trf_datas: List[TransformerData]) -> float:
        """Listener callback: add one head's per-doc gradients. RETURNS the squared norm."""
        squared = 0.0
        for i, d_trf_data in enumerate(d_trf_datas):
            for d_tensor in d_trf_data.tensors:
                squared += float((d_tensor**2).sum())
            if i >= len(self.doc_grads):
                self.doc_grads.append(list(d_trf_data.tensors))
            else:
                for j, d_tensor in enumerate(d_trf_data.tensors):
                    self.doc_grads[i][j] += d_tensor
        return squared

    def torch_gradient(self) -> torch.Tensor:
        grad = self.grad
        if self.doc_grads:
            stitched = self.unsplit(self.doc_grads).model_output["output_0"]
            grad = stitched if grad is None else stitched + xp2torch(grad)
        if not isinstance(grad, torch.Tensor):
            grad = xp2torch(grad)
        return grad.to(self.output.device, self.output.dtype)


def backward(passes: List[PendingPass], grad_scaler) -> None:
    """One autograd pass for every pending pass that received a gradient; grads stay scaled."""
    ready = [p for p in passes if p.has_gradient]
    if not ready:
        return
    grads = grad_scaler.scale([p.torch_gradient() for p in ready], inplace=True)
    torch.autograd.backward([p.output for p in ready], grad_tensors=list(grads))


def unscale_gradients(torch_model: torch.nn.Module, grad_scaler) -> None:
    """Unscale the step's accumulated gradients once, before the optimizer (mixed precision)."""
    grad_scaler.unscale([p.grad for p in torch_model.parameters() if p.grad is not None])
