"""`spacy train` in this process, with a clock that counts training alone.

spaCy's own "seconds" (in each logged evaluation) run from the first step and include every
evaluation and checkpoint save. To compare with a peer's training loop, this clock starts at the
first training step (after the pipeline is initialized: model load, label collection) and stops
while spaCy evaluates on the dev corpus and while it saves the pipeline. It reads three of
spaCy's own functions, wrapped only for the duration of one `train_timed` call:

- spacy.training.loop.train_while_improving: the time after each step;
- spacy.training.loop.create_evaluation_callback: each evaluation's time and scores;
- spacy.language.Language.to_disk: checkpoint saves.

The config's console logger is replaced by this package's flushing logger writing
OUTPUT/train_log.jsonl, as `python -m spacy_bert_tasks train` does.
"""

import contextlib
import time
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional


class TrainingClock:
    """Seconds since start, less the time spent inside `paused()`."""

    def __init__(self) -> None:
        self.started: Optional[float] = None
        self.paused_seconds = 0.0
        self._depth = 0

    def start(self) -> None:
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        if self.started is None:
            return 0.0
        return time.perf_counter() - self.started - self.paused_seconds

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        start = time.perf_counter()
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0 and self.started is not None:  # nested pauses count once
                self.paused_seconds += time.perf_counter() - start


def within_budget(
    steps: Iterable[Any], clock: TrainingClock, stop_after: Optional[float]
) -> Iterator[Any]:
    """The items of spaCy's training steps until `clock` has counted `stop_after` seconds.

    Checked after each step (and after whatever the consumer did with it: evaluation and saving
    are paused time), so a run overshoots by less than one step. None: every step.
    """
    for item in steps:
        yield item
        if stop_after is not None and clock.elapsed() >= stop_after:
            return


def train_timed(
    config: Path, output: Path, overrides: Dict[str, Any], stop_after: Optional[float] = None
) -> Dict[str, Any]:
    """Train the pipeline of `config` into `output`, timing the training alone.

    overrides (Dict[str, Any]): Config overrides, as `spacy train`'s (e.g. {"paths.train": ...}).
    stop_after (Optional[float]): A training-time budget in seconds: once spent, training stops
        after the current step and spaCy saves model-last as at a normal end (its meta.json then
        holds the last evaluation's scores, not the stopped step's). None: train to max_steps.
    RETURNS (Dict[str, Any]): "train_seconds" (training without evaluations and saves),
        "step_seconds" (training seconds after each step), "curve" (per evaluation: "step",
        "train_seconds" before it, "eval_seconds", "scores" on the dev corpus, 0-1 scale) and
        "paused_seconds" (evaluation and saving).
    """
    import spacy.training.loop as loop
    from spacy.cli.train import train
    from spacy.language import Language

    from spacy_bert_tasks.cli.train import FLUSHING_LOGGER, LOG_NAME
    from spacy_bert_tasks.training.logger import make_console_logger  # noqa: F401 (registers)

    clock = TrainingClock()
    step_seconds: List[float] = []
    curve: List[Dict[str, Any]] = []
    originals = (loop.train_while_improving, loop.create_evaluation_callback, Language.to_disk)
    train_steps, create_evaluation, to_disk = originals

    def timed_steps(*args, **kwargs):
        clock.start()
        for item in within_budget(train_steps(*args, **kwargs), clock, stop_after):
            step_seconds.append(clock.elapsed())
            yield item

    def timed_evaluation(*args, **kwargs):
        evaluate = create_evaluation(*args, **kwargs)

        def timed():
            seconds = clock.elapsed()
            with clock.paused():
                start = time.perf_counter()
                score, scores = evaluate()
                spent = time.perf_counter() - start
            curve.append(
                {
                    # spaCy's step (0-based: it evaluates after the update of step 0 too)
                    "step": len(step_seconds),
                    "train_seconds": seconds,
                    "eval_seconds": spent,
                    "scores": scores,
                }
            )
            return score, scores

        return timed

    def timed_to_disk(self, *args, **kwargs):
        with clock.paused():
            return to_disk(self, *args, **kwargs)

    overrides = {
        **overrides,
        "training.logger.@loggers": FLUSHING_LOGGER,
        "training.logger.output_file": str(output / LOG_NAME),
    }
    loop.train_while_improving, loop.create_evaluation_callback = timed_steps, timed_evaluation
    Language.to_disk = timed_to_disk
    try:
        train(config, output, use_gpu=-1, overrides=overrides)
    finally:
        loop.train_while_improving, loop.create_evaluation_callback, Language.to_disk = originals
    return {
        "train_seconds": step_seconds[-1] if step_seconds else 0.0,
        "step_seconds": step_seconds,
        "curve": curve,
        "paused_seconds": clock.paused_seconds,
    }
