"""spaCy's console logger, with a JSON Lines log that a reader sees at each evaluation.

`spacy.ConsoleLogger.v3` writes its `output_file` through Python's buffered file, never flushed
until training ends: `tail -f train_log.jsonl` shows nothing for a whole run, and a killed run
leaves an empty log. This logger prints exactly what v3 prints (table rows, progress bar) and
writes the same records, one line per evaluation, flushed when written.
`python -m spacy_bert_tasks train` uses it in place of a config's v3 logger.

With the task batcher (batcher.py), each evaluation also reports every task's exposure so far:
docs, spaCy tokens and encoder wordpieces trained on (a line below the table row, and
"exposure" in the JSON record).
"""

import sys
from pathlib import Path
from typing import IO, Any, Callable, Dict, List, Optional, Tuple, Union

import srsly
from spacy.language import Language
from spacy.training.loggers import console_logger_v3
from spacy.util import registry
from wasabi import msg

from ..encoder.train_precision import train_precision_lines
from .exposure import EXPOSURE

LogStep = Callable[[Optional[Dict[str, Any]]], None]


@registry.loggers("spacy-bert-tasks.ConsoleLogger.v1")
def make_console_logger(
    progress_bar: Optional[str] = None,
    console_output: bool = True,
    output_file: Optional[Union[str, Path]] = None,
):
    """spacy.ConsoleLogger.v3's console output, and its JSON Lines file flushed per evaluation.

    progress_bar (Optional[str]): "train" (steps until max_steps), "eval" (until the next
        evaluation) or None, as in v3.
    console_output (bool): Print the table on the console.
    output_file (Optional[Union[str, Path]]): The JSON Lines log. Unlike v3, an existing file
        is replaced, not kept with logging turned off: the log belongs to this run.
    """
    console = console_logger_v3(progress_bar=progress_bar, console_output=console_output)

    def setup_printer(
        nlp: Language, stdout: IO = sys.stdout, stderr: IO = sys.stderr
    ) -> Tuple[LogStep, Callable[[], None]]:
        log_console, finalize_console = console(nlp, stdout, stderr)
        EXPOSURE.reset(_wordpiece_counter(nlp))
        stream = None
        if output_file is not None:
            Path(output_file).parent.mkdir(parents=True, exist_ok=True)
            stream = open(output_file, "w", encoding="utf-8")
            if console_output:
                print(
                    msg.text(f"Saving results to {output_file}", icon="info", no_print=True),
                    file=stdout,
                )
        if console_output:
            for line in train_precision_lines(nlp):
                print(msg.text(line, icon="info", no_print=True), file=stdout)
        # As v3: the losses of trainable components, scores x 100 except speed.
        trainable = [name for name, proc in nlp.pipeline if getattr(proc, "is_trainable", False)]
        weights = nlp.config["training"]["score_weights"]
        score_cols = [col for col, weight in weights.items() if weight is not None]

        def log_step(info: Optional[Dict[str, Any]]) -> None:
            log_console(info)
            exposure = EXPOSURE.snapshot()
            if info is not None and exposure and console_output:
                print(msg.text(_exposure_line(exposure), no_print=True), file=stdout)
            if info is None or stream is None:
                return
            scores = {}
            for col in score_cols:
                score = float(info["other_scores"].get(col, 0.0))
                scores[col] = score if col == "speed" else 100 * score
            record = {
                "epoch": info["epoch"],
                "step": info["step"],
                "losses": {name: float(info["losses"][name]) for name in trainable},
                "scores": scores,
                "score": float(info["score"]),
            }
            if exposure:  # with spacy-bert-tasks.batch_by_task.v1: what each task was given
                record["exposure"] = exposure
            stream.write(srsly.json_dumps(record) + "\n")
            stream.flush()

        def finalize() -> None:
            finalize_console()
            if stream is not None:
                stream.close()

        return log_step, finalize

    return setup_printer


def _wordpiece_counter(nlp: Language) -> Optional[Callable[[List[str]], int]]:
    """Counts the wordpieces the pipeline's encoder makes of texts (None without an encoder)."""
    for _, proc in nlp.pipeline:
        if callable(getattr(proc, "hf_encoder", None)):
            try:
                tokenizer = proc.hf_encoder()[1]
            except ValueError:  # not initialized
                return None
            return lambda texts: sum(
                len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]
            )
    return None


def _exposure_line(exposure: Dict[str, Dict[str, int]]) -> str:
    parts = [
        f"{task} {c['docs']:,} docs, {c['wordpieces'] or c['tokens']:,} "
        + ("wordpieces" if c["wordpieces"] else "tokens")
        for task, c in exposure.items()
    ]
    return "Exposure: " + "; ".join(parts)
