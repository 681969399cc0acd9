"""Equal-wall-clock arithmetic of head_to_head.py: a step budget from a time budget, and the
readings of a score-vs-training-time curve.

A curve is a list of points in training order, each {"train_seconds": seconds of training so far
(evaluation excluded), "scores": {key: score}}, as hf_finetune.py and timed_train.py write them.
"""

import math
from typing import Any, Dict, List, Optional

from spacy_bert_tasks.training.budget import Schedule, evaluation_schedule

Curve = List[Dict[str, Any]]


def budget_schedule(
    budget_seconds: float, seconds_per_step: float, first_step_seconds: float = 0.0
) -> Schedule:
    """The most steps that fit a training-time budget, with init-config's evaluation spacing.

    budget_seconds (float): The training time allowed (the peer's train_seconds).
    seconds_per_step (float): Measured time of one step after the first.
    first_step_seconds (float): Measured time of the first step (start-up: lazy loading, first
        allocation), when it differs from the others; 0 counts it as an ordinary step.
    RETURNS (Schedule): max_steps and eval_frequency as init-config picks them for max_steps
        (eval_frequency divides max_steps), max_steps the largest whose time fits the budget.
        spaCy updates at steps 0 to max_steps: max_steps + 1 updates must fit.
    """
    if budget_seconds <= 0 or seconds_per_step <= 0:
        raise ValueError(
            f"budget and seconds per step must be > 0, got {budget_seconds}, {seconds_per_step}"
        )
    if first_step_seconds:
        updates = 1 + math.floor((budget_seconds - first_step_seconds) / seconds_per_step)
    else:
        updates = math.floor(budget_seconds / seconds_per_step)
    limit = updates - 1  # max_steps
    if limit < 1:
        raise ValueError(
            f"a budget of {budget_seconds:.1f} s does not fit two steps "
            f"({first_step_seconds or seconds_per_step:.1f} s the first, {seconds_per_step:.1f} s each)"
        )
    # evaluation_schedule rounds max_steps up to a multiple of its spacing (by fewer steps than
    # there are evaluations): take the largest request that stays within the limit.
    for steps in range(limit, 0, -1):
        schedule = evaluation_schedule(steps)
        if schedule.max_steps <= limit:
            return schedule
    raise AssertionError("evaluation_schedule(1) is 1 step")  # pragma: no cover


def time_to_reach(curve: Curve, key: str, target: float) -> Optional[float]:
    """Training seconds at the first point whose score `key` is >= target; None if none is."""
    for point in curve:
        score = point["scores"].get(key)
        if score is not None and score >= target:
            return point["train_seconds"]
    return None


def score_within(curve: Curve, key: str, seconds: float) -> Optional[float]:
    """The score `key` of the last point trained for at most `seconds`; None if none was."""
    found = None
    for point in curve:
        if point["train_seconds"] <= seconds:
            found = point["scores"].get(key)
    return found
