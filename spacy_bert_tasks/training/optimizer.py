"""Adam(W) in which the freshly initialised heads learn faster than the pretrained encoder.

BERT fine-tuning wants small steps for the encoder (5e-5) but a head that starts from zero needs
thousands of such steps before it predicts anything. Scaling the heads' rate fixes that without
touching the encoder's. spaCy has one optimizer for the whole pipeline, so the split is made per
parameter: the encoder's parameters reach the optimizer through thinc's PyTorchShim under their
torch names, dotted module paths ("encoder.layer.0.attention.self.query.weight"), while thinc
layers name theirs with bare words ("W", "b").
"""
from typing import Tuple

from spacy.util import registry
from thinc.api import Optimizer
from thinc.types import FloatsXd


def is_torch_parameter(key: Tuple[int, str]) -> bool:
    """Whether an optimizer key names a parameter of a wrapped torch module."""
    return "." in key[1]


class HeadScaledOptimizer(Optimizer):
    """thinc's Optimizer with the learning rate of non-torch parameters multiplied."""

    def __init__(self, learn_rate, *, head_learn_rate_scale: float = 1.0, **kwargs):
        super().__init__(learn_rate, **kwargs)
        if head_learn_rate_scale <= 0:
            raise ValueError(f"head_learn_rate_scale must be > 0, got {head_learn_rate_scale}.")
        self.head_learn_rate_scale = head_learn_rate_scale

    def __call__(
        self, key: Tuple[int, str], weights: FloatsXd, gradient: FloatsXd, *, lr_scale: float = 1.0
    ):
        if not is_torch_parameter(key):
            lr_scale *= self.head_learn_rate_scale
        return super().__call__(key, weights, gradient, lr_scale=lr_scale)


@registry.optimizers("spacy-bert-tasks.Adam.v1")
def make_head_scaled_adam(
    learn_rate=0.001,
    *,
    head_learn_rate_scale: float = 1.0,
    L2=0.0,
    beta1=0.9,
    beta2=0.999,
    eps=1e-08,
    grad_clip=1.0,
    L2_is_weight_decay: bool = True,
    use_averages: bool = False,
) -> Optimizer:
    """thinc's Adam.v1 (AdamW with L2_is_weight_decay) plus `head_learn_rate_scale`.

    learn_rate (float or schedule): The encoder's learning rate.
    head_learn_rate_scale (float): The heads learn at learn_rate * this.
    Other arguments as in thinc's Adam.v1.
    """
    return HeadScaledOptimizer(
        learn_rate,
        head_learn_rate_scale=head_learn_rate_scale,
        L2=L2,
        beta1=beta1,
        beta2=beta2,
        eps=eps,
        grad_clip=grad_clip,
        L2_is_weight_decay=L2_is_weight_decay,
        use_averages=use_averages,
        use_radam=False,
    )
