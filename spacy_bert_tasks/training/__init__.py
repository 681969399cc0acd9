"""Training helpers registered for spaCy configs."""

from .optimizer import HeadScaledOptimizer, make_head_scaled_adam, make_head_scaled_adam_v2

__all__ = ["HeadScaledOptimizer", "make_head_scaled_adam", "make_head_scaled_adam_v2"]
