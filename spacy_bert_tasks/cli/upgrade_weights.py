"""`python -m spacy_bert_tasks upgrade-weights PIPELINE_DIR`."""

from pathlib import Path

import typer
from wasabi import msg

from . import app


@app.command("upgrade-weights")
def upgrade_weights_cli(
    pipeline: Path = typer.Argument(
        ..., exists=True, file_okay=False, help="Saved pipeline folder"
    ),
) -> None:
    """Rewrite a trusted pipeline's pickled encoder weights as safetensors, in place.

    Pipelines saved by older versions hold torch.save (pickle) weights, which spacy.load refuses.
    Reading them unpickles with torch's weights_only loader: run this only on pipelines you trust.
    """
    from ..encoder.upgrade import upgrade_pipeline_weights

    try:
        upgraded = upgrade_pipeline_weights(pipeline)
    except ValueError as err:
        msg.fail(str(err), exits=1)
    if not upgraded:
        msg.info(f"No pickled encoder weights in {pipeline}: nothing to convert")
        return
    for path in upgraded:
        msg.good(f"Converted {path} to safetensors")
