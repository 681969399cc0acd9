"""Step the encoder's torch parameters with a torch optimizer, driven by spaCy's optimizer settings.

thinc's PyTorchShim steps a torch module through thinc's optimizer: for every parameter, each
step, it views the weights and gradient as numpy arrays, runs thinc's numpy Adam (with its
temporaries), and wraps the result in a new torch tensor. Here the encoder's parameters are
stepped in place by `torch.optim.AdamW` (foreach kernels), while the thinc heads keep thinc's
optimizer. The settings of `[training.optimizer]` are read from the thinc optimizer at every step,
so schedules (learn_rate, L2, beta1, beta2, eps, grad_clip) keep working:

- learn_rate: the current value, times the parameter group's layer-wise scale (see
  `layer_groups`);
- L2 with L2_is_weight_decay: AdamW's decoupled weight decay, as thinc's; without it: L2 * weight
  added to the gradient before clipping, as thinc does;
- grad_clip: each parameter's gradient clipped to that norm on its own, as thinc does (not one
  global norm, as Hugging Face's Trainer does);
- beta1, beta2, eps: Adam's, with eps placed as thinc places it.
- use_averages: an exponential moving average of the encoder's weights, kept in torch with
  thinc's decay ((1 + t) / (10 + t), at most 0.9999) and exposed in `optimizer.averages` under
  the keys PyTorchShim.use_params reads, so `spacy train` evaluates and saves the averaged
  weights, as it does for thinc's layers.
"""

import re
from typing import Dict, List, Optional

import torch
from thinc.api import Optimizer, torch2xp

# "encoder.layer.3.attention..." -> 3: BERT-family names of the transformer blocks.
LAYER_INDEX = re.compile(r"(?:^|\.)layers?\.(\d+)\.")


def layer_groups(module: torch.nn.Module, decay: float) -> List[Dict]:
    """Parameter groups with layer-wise learning-rate decay (as in ELECTRA and LLRD papers).

    The top transformer block learns at the full rate, each block below at `decay` times the
    one above, the embeddings at `decay` times the lowest block; parameters above the blocks
    (pooler) at the full rate.
    module (torch.nn.Module): The encoder.
    decay (float): In (0, 1]; 1 gives every parameter the same rate.
    RETURNS (List[Dict]): torch optimizer groups, each with an "lr_scale" and its "names".
    """
    named = [(name, p) for name, p in module.named_parameters() if p.requires_grad]
    indices = [LAYER_INDEX.search(name) for name, _ in named]
    n_layers = 1 + max((int(m.group(1)) for m in indices if m), default=-1)
    groups: Dict[float, Dict] = {}
    for (name, param), match in zip(named, indices):
        if match:
            depth = n_layers - 1 - int(match.group(1))
        elif "embeddings" in name:
            depth = n_layers
        else:
            depth = 0
        scale = decay**depth
        group = groups.setdefault(scale, {"params": [], "names": [], "lr_scale": scale})
        group["params"].append(param)
        group["names"].append(name)
    return list(groups.values())


class TorchEncoderStep:
    """A torch AdamW over one torch module, configured from a thinc Optimizer at each step."""

    def __init__(self, module: torch.nn.Module, *, layer_lr_decay: float, use_averages: bool):
        self.module = module
        self.groups = layer_groups(module, layer_lr_decay)
        self.torch_optimizer = torch.optim.AdamW(
            [{"params": g["params"], "lr_scale": g["lr_scale"]} for g in self.groups],
            lr=0.0,
            foreach=True,
        )
        self.params = [p for g in self.groups for p in g["params"]]
        self.names = [n for g in self.groups for n in g["names"]]
        self.n_steps = 0
        self.averages: Optional[List[torch.Tensor]] = None
        if use_averages:
            self.averages = [p.detach().clone() for p in self.params]

    def step(self, sgd: Optimizer, grad_scaler) -> None:
        """Update the weights from their `.grad`, then zero the gradients.

        sgd (Optimizer): The pipeline's thinc optimizer; its current settings are applied.
        grad_scaler: thinc's PyTorchGradScaler of the shim (mixed precision): a step whose
            gradients overflowed is skipped, as PyTorchShim.finish_update does.
        """
        with_grad = [p for p in self.params if p.grad is not None]
        if with_grad and not grad_scaler.found_inf:
            with torch.no_grad():
                self._apply(sgd, with_grad)
        for p in with_grad:
            p.grad.zero_()
        grad_scaler.update()

    def _apply(self, sgd: Optimizer, with_grad: List[torch.Tensor]) -> None:
        grads = [p.grad for p in with_grad]
        if sgd.L2 and not sgd.L2_is_weight_decay:
            torch._foreach_add_(grads, with_grad, alpha=sgd.L2)
        if sgd.grad_clip:
            norms = torch.stack(torch._foreach_norm(grads))
            scales = (sgd.grad_clip / norms.clamp(min=1e-12)).clamp(max=1.0)
            torch._foreach_mul_(grads, list(scales.unbind()))
        for group in self.torch_optimizer.param_groups:
            group["lr"] = sgd.learn_rate * group["lr_scale"]
            group["betas"] = (sgd.b1, sgd.b2)
            # thinc divides by sqrt(v) + eps before its bias correction, torch after: the same
            # update needs eps / sqrt(1 - beta2^t) here (it matters for rarely seen embeddings).
            group["eps"] = sgd.eps / (1.0 - sgd.b2 ** (self.n_steps + 1)) ** 0.5
            group["weight_decay"] = sgd.L2 if sgd.L2_is_weight_decay else 0.0
        self.torch_optimizer.step()
        self.n_steps += 1
        if self.averages is not None:
            # thinc's update_averages: ema -= (1 - decay) * (ema - weight)
            decay = min((1.0 + self.n_steps) / (10.0 + self.n_steps), 0.9999)
            torch._foreach_lerp_(self.averages, self.params, 1.0 - decay)

    def average_arrays(self, shim_id: int) -> Dict[str, object]:
        """The averaged weights as array views (updated in place), under the keys
        PyTorchShim.use_params reads."""
        if self.averages is None:
            return {}
        return {
            f"pytorch_{shim_id}_{name}": torch2xp(average)
            for name, average in zip(self.names, self.averages)
        }
