"""`python -m spacy_bert_tasks init-config OUT.cfg --tasks ner,textcat`."""

from pathlib import Path

import typer
from wasabi import msg

from ..encoder.names import EMBEDDED_ENCODER  # no torch: encoder/__init__ is lazy
from . import app


@app.command("init-config")
def init_config_cli(
    output: Path = typer.Argument(..., help="Where to write the config (.cfg)", dir_okay=False),
    tasks: str = typer.Option(
        "ner,textcat", "--tasks", help="Comma-separated heads: ner, textcat, qa"
    ),
    encoder: str = typer.Option(EMBEDDED_ENCODER, "--encoder", help="HF model name or local path"),
    lang: str = typer.Option("en", "--lang", help="spaCy language code"),
    gpu: bool = typer.Option(False, "--gpu", help="Settings for training on a GPU"),
    ner_head: str = typer.Option("bert_ner", "--ner-head", help="bert_ner or ner (transition)"),
    multilabel: bool = typer.Option(False, "--multilabel", help="Several cats per doc"),
    squad_v2: bool = typer.Option(False, "--squad-v2", help="QA may answer 'no answer'"),
    max_steps: int = typer.Option(20000, "--max-steps", help="Training steps (LR decays to 0)"),
    epochs: float = typer.Option(
        None, "--epochs", help="Budget in passes over --train (replaces --max-steps)"
    ),
    train: Path = typer.Option(
        None, "--train", help="Training corpus (.spacy file or folder), sizes --epochs"
    ),
    learn_rate: float = typer.Option(5e-5, "--learn-rate", help="Peak learning rate"),
) -> None:
    """Write a complete config for `spacy train` (give corpora with --paths.train/--paths.dev).

    Every setting is written out, the factories' defaults included, so that any of them can be
    overridden on the command line (`spacy train OUT.cfg --components.qa.doc_stride 64`).
    """
    from ..atomic import write_bytes_atomically
    from ..config import generate_config
    from ..config.generate import batches_by_task
    from ..training.budget import steps_for_epochs

    if (epochs is None) != (train is None):
        msg.fail("--epochs and --train go together: the corpus sizes the budget", exits=1)
    try:
        if epochs is not None:
            max_steps = steps_for_epochs(
                train,
                epochs,
                batch_size=4000 if gpu else 1000,
                by_task=batches_by_task(tasks.split(",")),
            )
            msg.info(
                f"{epochs:g} epochs of {train}: {max_steps} steps (before rounding to evaluations)"
            )
        config = generate_config(
            tasks.split(","),
            encoder=encoder,
            lang=lang,
            gpu=gpu,
            ner_head=ner_head,
            multilabel=multilabel,
            squad_v2=squad_v2,
            max_steps=max_steps,
            learn_rate=learn_rate,
        )
    except (ValueError, FileNotFoundError) as err:
        msg.fail(str(err), exits=1)
    # A config half-written by a Ctrl-C would be read as a valid but truncated one.
    write_bytes_atomically(output, config.to_bytes())
    training = config["training"]
    msg.info(
        f"max_steps {training['max_steps']}, evaluated every {training['eval_frequency']} steps (the last one too)"
    )
    msg.good(
        f"Wrote {output}", f"spacy train {output} --paths.train TRAIN.spacy --paths.dev DEV.spacy"
    )
