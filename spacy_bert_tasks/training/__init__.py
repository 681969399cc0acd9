"""Training helpers registered for spaCy configs."""
from .optimizer import HeadScaledOptimizer, make_head_scaled_adam

__all__ = ["HeadScaledOptimizer", "make_head_scaled_adam"]
