"""Adam(W) in which the freshly initialised heads learn faster than the pretrained encoder.

BERT fine-tuning wants small steps for the encoder (5e-5) but a head that starts from zero needs
thousands of such steps before it predicts anything. Scaling the heads' rate fixes that without
touching the encoder's. spaCy has one optimizer for the whole pipeline, so the split is made per
parameter: the encoder's parameters reach the optimizer through thinc's PyTorchShim under their
torch names, dotted module paths ("encoder.layer.0.attention.self.query.weight"), while thinc
layers name theirs with bare words ("W", "b").

v2 steps the encoder's torch parameters with a torch optimizer configured from these same
settings (torch_step.py): no per-step numpy copies of the weights; v1 steps them through thinc.
"""

from typing import Dict, Tuple

from spacy.util import registry
from thinc.api import Optimizer
from thinc.types import FloatsXd


def is_torch_parameter(key: Tuple[int, str]) -> bool:
    """Whether an optimizer key names a parameter of a wrapped torch module."""
    return "." in key[1]


class HeadScaledOptimizer(Optimizer):
    """thinc's Optimizer with the learning rate of non-torch parameters multiplied."""

    def __init__(
        self,
        learn_rate,
        *,
        head_learn_rate_scale: float = 1.0,
        torch_encoder: bool = False,
        layer_lr_decay: float = 1.0,
        **kwargs,
    ):
        super().__init__(learn_rate, **kwargs)
        if head_learn_rate_scale <= 0:
            raise ValueError(f"head_learn_rate_scale must be > 0, got {head_learn_rate_scale}.")
        if not 0 < layer_lr_decay <= 1:
            raise ValueError(f"layer_lr_decay must be in (0, 1], got {layer_lr_decay}.")
        if layer_lr_decay != 1 and not torch_encoder:
            raise ValueError("layer_lr_decay needs torch_encoder = true.")
        self.head_learn_rate_scale = head_learn_rate_scale
        self.torch_encoder = torch_encoder
        self.layer_lr_decay = layer_lr_decay
        self.torch_steps: Dict[int, "TorchEncoderStep"] = {}  # noqa: F821 (torch_step.py)

    def step_torch_module(self, shim_id: int, module, grad_scaler) -> bool:
        """Step a wrapped torch module's parameters with torch's AdamW (torch_step.py).

        Called by the encoder's finish_update in place of thinc's per-parameter update.
        shim_id (int): The id of the thinc shim wrapping `module` (keys of the averages).
        module (torch.nn.Module): The module; a new one (after from_disk) starts a new AdamW.
        grad_scaler: The shim's gradient scaler.
        RETURNS (bool): False when this optimizer steps torch modules through thinc
            (torch_encoder = false): the caller then uses thinc's path.
        """
        if not self.torch_encoder:
            return False
        from .torch_step import TorchEncoderStep

        step = self.torch_steps.get(shim_id)
        if step is None or step.module is not module:
            step = TorchEncoderStep(
                module, layer_lr_decay=self.layer_lr_decay, use_averages=self.averages is not None
            )
            self.torch_steps[shim_id] = step
            if self.averages is not None:
                self.averages.update(step.average_arrays(shim_id))
        step.step(self, grad_scaler)
        return True

    def __call__(
        self, key: Tuple[int, str], weights: FloatsXd, gradient: FloatsXd, *, lr_scale: float = 1.0
    ):
        if not is_torch_parameter(key):
            lr_scale *= self.head_learn_rate_scale
        return super().__call__(key, weights, gradient, lr_scale=lr_scale)


@registry.optimizers("spacy-bert-tasks.Adam.v2")
def make_head_scaled_adam_v2(
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
    torch_encoder: bool = True,
    layer_lr_decay: float = 1.0,
) -> Optimizer:
    """Adam(W) with `head_learn_rate_scale`, the encoder stepped by torch's AdamW.

    learn_rate (float or schedule): The encoder's learning rate (of its top layer).
    head_learn_rate_scale (float): The heads learn at learn_rate * this.
    torch_encoder (bool): Step the encoder's torch parameters with torch.optim.AdamW, configured
        from these settings at every step (no numpy copies); false steps them with thinc.
    layer_lr_decay (float): Layer-wise learning-rate decay: each transformer block below the
        top learns at this times the rate of the one above (1.0: off). Needs torch_encoder.
    use_averages (bool): Evaluate and save an exponential moving average of the weights (the
        encoder's too).
    Other arguments as in thinc's Adam.v1; grad_clip clips each parameter's gradient.
    """
    return HeadScaledOptimizer(
        learn_rate,
        head_learn_rate_scale=head_learn_rate_scale,
        torch_encoder=torch_encoder,
        layer_lr_decay=layer_lr_decay,
        L2=L2,
        beta1=beta1,
        beta2=beta2,
        eps=eps,
        grad_clip=grad_clip,
        L2_is_weight_decay=L2_is_weight_decay,
        use_averages=use_averages,
        use_radam=False,
    )


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
    Other arguments as in thinc's Adam.v1. The encoder is stepped through thinc (see v2).
    """
    return make_head_scaled_adam_v2(
        learn_rate,
        head_learn_rate_scale=head_learn_rate_scale,
        torch_encoder=False,
        L2=L2,
        beta1=beta1,
        beta2=beta2,
        eps=eps,
        grad_clip=grad_clip,
        L2_is_weight_decay=L2_is_weight_decay,
        use_averages=use_averages,
    )
