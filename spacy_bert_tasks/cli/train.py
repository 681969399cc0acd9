"""`python -m spacy_bert_tasks train CONFIG --output DIR [--gpu-id N] [--section.key value ...]`."""

from pathlib import Path

import typer
from wasabi import msg

from . import app

LOG_NAME = "train_log.jsonl"
# Console loggers that take `output_file` (v1 does not).
FLUSHING_LOGGER = "spacy-bert-tasks.ConsoleLogger.v1"
LOGGERS_WITH_FILE = ("spacy.ConsoleLogger.v2", "spacy.ConsoleLogger.v3", FLUSHING_LOGGER)


@app.command("train", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def train_cli(
    ctx: typer.Context,
    config_path: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="Training config (.cfg)"
    ),
    output: Path = typer.Option(
        ..., "--output", "-o", help="Output folder (model-best, model-last, the log)"
    ),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU id, or -1 for CPU"),
) -> None:
    """`spacy train`, with every evaluation logged to OUTPUT/train_log.jsonl for plotting.

    Extra options override the config as in `spacy train` (--paths.train corpus/train ...).
    spaCy's console logger stops logging rather than overwrite an old file, so the log of an
    earlier run is removed first: the log always belongs to the model in OUTPUT. A v3 console
    logger is replaced by spacy-bert-tasks.ConsoleLogger.v1 (same output and arguments), which
    flushes the log at each evaluation: it can be followed while training runs.
    """
    from spacy import util
    from spacy.cli._util import parse_config_overrides
    from spacy.cli.train import train

    from ..training.logger import make_console_logger  # noqa: F401 (registers the logger)

    overrides = parse_config_overrides(ctx.args)
    training = util.load_config(config_path, overrides=overrides, interpolate=False)["training"]
    logger = training["logger"]
    max_steps, every = training.get("max_steps"), training.get("eval_frequency")
    if (
        isinstance(max_steps, int)
        and isinstance(every, int)
        and max_steps > 0
        and max_steps % every
    ):
        msg.warn(
            f"max_steps {max_steps} is not a multiple of eval_frequency {every}: the last "
            f"{max_steps % every} steps will not be scored, and model-last's meta.json shows an "
            "earlier step's scores (init-config picks the two so that they are)"
        )
    if logger.get("@loggers") not in LOGGERS_WITH_FILE:
        msg.fail(
            f"expected [training.logger] to be one of {', '.join(LOGGERS_WITH_FILE)} (they write a log "
            f'file), got {logger.get("@loggers")!r} in {config_path}; set @loggers = "spacy.ConsoleLogger.v3" '
            "or use `spacy train`",
            exits=1,
        )
    log_path = output / LOG_NAME
    log_path.unlink(missing_ok=True)
    overrides = {**overrides, "training.logger.output_file": str(log_path)}
    if logger.get("@loggers") == "spacy.ConsoleLogger.v3":
        overrides["training.logger.@loggers"] = FLUSHING_LOGGER
    train(config_path, output, use_gpu=gpu_id, overrides=overrides)
