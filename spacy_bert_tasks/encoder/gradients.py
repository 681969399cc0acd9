"""One backward pass per step through the shared encoder, whatever the number of heads and passes.

Each encoder pass of a step (the doc-level pass the listeners share, the QA head's
question-conditioned pass, the sub-batches of gradient accumulation) leaves its torch output
here, and heads add their gradients for it. `backward` then runs a single
`torch.autograd.backward` over all of them. thinc's shim instead backpropagates and unscales ALL
accumulated gradients once per pass: with mixed precision, a second pass in a step divides the
first pass's gradients by the loss scale again. Here gradients stay scaled until
`unscale_gradients`, called once before the optimizer step.

The doc pass encodes only the non-empty docs some head learns from: `fill_skipped_docs` gives
every doc of the batch its entry for the listeners, and `gradient_picker` takes back, from what a
head sends, the gradients of the encoded docs alone.
"""

from typing import Callable, List, Optional, Set

import torch
from spacy.tokens import Doc
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


def fill_skipped_docs(
    docs: List[Doc], wanted: List[int], encoded: List[TransformerData], width: int, xp
) -> List[TransformerData]:
    """One TransformerData per doc: the encoder's output for the docs in `wanted`, zeros for
    the other non-empty docs, and an empty one (as spacy-transformers gives) for empty docs.

    Listeners check that they get the whole batch, and heads still run their forward over every
    doc of it; for a doc no head learns from, that forward is masked out of the loss, so zeros
    serve as well as the encoder's output and their gradient is dropped.
    """
    if len(wanted) == len(docs):
        return encoded
    by_index = dict(zip(wanted, encoded))
    return [
        by_index[i]
        if i in by_index
        else (
            TransformerData.zeros(len(doc), width, xp=xp) if len(doc) else TransformerData.empty()
        )
        for i, doc in enumerate(docs)
    ]


def gradient_picker(
    doc_data: List[TransformerData], encoded: Set[int]
) -> Callable[[List[TransformerData]], List[TransformerData]]:
    """A function picking, from a head's gradients, those of the encoded docs, in order.

    A head gives one gradient per doc that had an output (spacy-transformers' layers skip empty
    docs) or one per doc; either way, only the encoded docs' gradients reach the encoder.
    """
    with_output = [i for i, data in enumerate(doc_data) if _has_output(data)]

    def pick(d_trf_datas: List[TransformerData]) -> List[TransformerData]:
        if len(d_trf_datas) == len(with_output):
            by_doc = dict(zip(with_output, d_trf_datas))
        elif len(d_trf_datas) == len(doc_data):
            by_doc = dict(enumerate(d_trf_datas))
        else:
            raise ValueError(
                f"A head sent {len(d_trf_datas)} gradients for a batch of {len(doc_data)} docs "
                f"({len(with_output)} with encoder output): expected one per doc, or one per doc "
                "with output."
            )
        return [by_doc[i] for i in sorted(encoded) if i in by_doc]

    return pick


def _has_output(data: TransformerData) -> bool:
    state = data.model_output.get("last_hidden_state")
    return state is not None and state.size > 0
