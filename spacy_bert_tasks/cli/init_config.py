"""`python -m spacy_bert_tasks init-config OUT.cfg --tasks ner,textcat`."""
from pathlib import Path

import typer
from wasabi import msg

from ..encoder.names import EMBEDDED_ENCODER  # no torch: encoder/__init__ is lazy
from . import app


@app.command("init-config")
def init_config_cli(
    output: Path = typer.Argument(..., help="Where to write the config (.cfg)", dir_okay=False),
    tasks: str = typer.Option("ner,textcat", "--tasks", help="Comma-separated heads: ner, textcat, qa"),
    encoder: str = typer.Option(EMBEDDED_ENCODER, "--encoder", help="HF model name or local path"),
    lang: str = typer.Option("en", "--lang", help="spaCy language code"),
    gpu: bool = typer.Option(False, "--gpu", help="Settings for training on a GPU"),
    ner_head: str = typer.Option("bert_ner", "--ner-head", help="bert_ner or ner (transition)"),
    multilabel: bool = typer.Option(False, "--multilabel", help="Several cats per doc"),
    squad_v2: bool = typer.Option(False, "--squad-v2", help="QA may answer 'no answer'"),
    max_steps: int = typer.Option(20000, "--max-steps", help="Training steps (LR decays to 0)"),
    learn_rate: float = typer.Option(5e-5, "--learn-rate", help="Peak learning rate"),
) -> None:
    """Write a complete config for `spacy train` (give corpora with --paths.train/--paths.dev)."""
    from ..config import generate_config

    try:
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
    except ValueError as err:
        msg.fail(str(err), exits=1)
    output.parent.mkdir(parents=True, exist_ok=True)
    config.to_disk(output)
    msg.good(f"Wrote {output}", f"spacy train {output} --paths.train TRAIN.spacy --paths.dev DEV.spacy")
