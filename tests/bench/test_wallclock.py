"""Equal-wall-clock arithmetic (bench/harness/wallclock.py): steps from a time budget, readings of
a score-vs-time curve."""

import pytest
from harness import wallclock

CURVE = [
    {"train_seconds": 10.0, "scores": {"f": 0.50}},
    {"train_seconds": 20.0, "scores": {"f": 0.80}},
    {"train_seconds": 30.0, "scores": {"f": 0.78}},
    {"train_seconds": 40.0, "scores": {"f": 0.85}},
]


@pytest.mark.parametrize(
    "budget,per_step,first", [(600.0, 0.5, 0.0), (589.0, 0.83, 4.0), (30.0, 1.0, 2.0), (7.0, 3, 0)]
)
def test_budget_schedule_fits_the_budget_and_evaluates_the_last_step(budget, per_step, first):
    schedule = wallclock.budget_schedule(budget, per_step, first)
    assert schedule.max_steps % schedule.eval_frequency == 0
    updates = schedule.max_steps + 1  # spaCy updates at steps 0..max_steps
    seconds = (first or per_step) + (updates - 1) * per_step
    assert seconds <= budget
    # and not much less: one more evaluation spacing would not fit, or init-config's rounding
    # forbids it (fewer steps lost than there are evaluations)
    evaluations = schedule.max_steps // schedule.eval_frequency
    assert seconds + (evaluations + 1) * per_step > budget


def test_budget_schedule_is_init_configs_for_its_steps():
    from spacy_bert_tasks.training.budget import evaluation_schedule

    schedule = wallclock.budget_schedule(1000.0, 1.1)
    assert evaluation_schedule(schedule.max_steps) == schedule


def test_budget_schedule_rejects_a_budget_without_room():
    with pytest.raises(ValueError, match="does not fit"):
        wallclock.budget_schedule(1.0, 0.8)
    with pytest.raises(ValueError, match="> 0"):
        wallclock.budget_schedule(10.0, 0.0)


def test_time_to_reach_is_the_first_point_at_or_above_the_target():
    assert wallclock.time_to_reach(CURVE, "f", 0.79) == 20.0
    assert wallclock.time_to_reach(CURVE, "f", 0.80) == 20.0
    assert wallclock.time_to_reach(CURVE, "f", 0.84) == 40.0
    assert wallclock.time_to_reach(CURVE, "f", 0.90) is None
    assert wallclock.time_to_reach(CURVE, "missing", 0.1) is None


def test_score_within_is_the_last_point_inside_the_time():
    assert wallclock.score_within(CURVE, "f", 35.0) == 0.78
    assert wallclock.score_within(CURVE, "f", 40.0) == 0.85
    assert wallclock.score_within(CURVE, "f", 5.0) is None


class FakeClock:
    """A training clock that advances by one second per step taken."""

    def __init__(self):
        self.seconds = 0.0

    def elapsed(self):
        return self.seconds


def test_within_budget_stops_after_the_step_that_spends_the_budget():
    from harness.timed_train import within_budget

    clock = FakeClock()

    def steps(n):
        for i in range(n):
            clock.seconds += 1.0
            yield i

    assert list(within_budget(steps(10), clock, 3.5)) == [0, 1, 2, 3]  # 4 s >= 3.5 s
    clock.seconds = 0.0
    assert list(within_budget(steps(3), clock, 100.0)) == [0, 1, 2]  # the budget never bites
    clock.seconds = 0.0
    assert list(within_budget(steps(5), clock, None)) == [0, 1, 2, 3, 4]
