"""`python -m spacy_bert_tasks annotate INPUT OUTPUT --model MODEL [--engine local|ray] ...`."""

from pathlib import Path
from typing import Optional

import typer

from . import app


@app.command(
    "annotate", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def annotate_cli(
    ctx: typer.Context,
    input_spec: str = typer.Argument(
        ...,
        metavar="INPUT",
        help="A .jsonl, .parquet, .csv or .tsv file, a folder of them, or a glob (quoted)",
    ),
    output: Path = typer.Argument(
        ...,
        metavar="OUTPUT",
        dir_okay=False,
        help="Output file: Parquet, or JSON Lines for a .jsonl suffix",
    ),
    model: str = typer.Option(..., "--model", help="Pipeline folder or installed package name"),
    engine: str = typer.Option(
        "local", "--engine", help="local (this process) or ray (a Ray cluster; the ray extra)"
    ),
    workers: int = typer.Option(
        1,
        "--workers",
        min=1,
        help="Worker processes, one pipeline each (ray: actors; local: forked, one thread each)",
    ),
    threads_per_worker: Optional[int] = typer.Option(
        None,
        "--threads-per-worker",
        min=1,
        help="torch threads (Ray: CPUs) per worker; local default: torch's, ray: 1",
    ),
    batch_size: int = typer.Option(256, "--batch-size", min=1, help="Rows per nlp.pipe call"),
    text_field: str = typer.Option("text", "--text-field", help="Column with the text"),
    question_field: str = typer.Option(
        "question", "--question-field", help="Column with an optional question (QA)"
    ),
    output_format: Optional[str] = typer.Option(
        None, "--format", help="parquet or jsonl (default: from OUTPUT's suffix, else parquet)"
    ),
    address: Optional[str] = typer.Option(
        None,
        "--address",
        help="Ray cluster to use (default: RAY_ADDRESS, else a local one on 127.0.0.1)",
    ),
    gpus_per_worker: float = typer.Option(
        0, "--gpus-per-worker", min=0, help="GPUs per worker (> 0: run on GPU)"
    ),
    dashboard: bool = typer.Option(
        False, "--dashboard", help="Start the Ray dashboard of a local cluster (127.0.0.1)"
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace an existing OUTPUT (once the new one is complete)"
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar"),
) -> None:
    """Annotate a table of texts: entities, categories and answers as columns.

    One output row per input row, input columns kept; rows that cannot be processed get an
    `error` and are counted, never dropped. OUTPUT is written all or nothing.

    Extra options override the pipeline's config.cfg as it is loaded, as in `spacy train`:
    `--components.transformer.inference_graph compiled` (faster on many docs; see README).
    """
    from spacy.cli._util import parse_config_overrides
    from wasabi import msg

    from ..annotate.run import AnnotateOptions, annotate_files

    options = AnnotateOptions(
        engine=engine,
        workers=workers,
        threads_per_worker=threads_per_worker,
        gpus_per_worker=gpus_per_worker,
        batch_size=batch_size,
        text_field=text_field,
        question_field=question_field,
        output_format=output_format,
        overwrite=overwrite,
        address=address,
        dashboard=dashboard,
        progress=progress,
        config_overrides=parse_config_overrides(ctx.args),
    )
    try:
        summary = annotate_files(input_spec, output, model, options)
    except (ValueError, FileExistsError, ImportError, OSError) as err:
        msg.fail(str(err), exits=1)
    (msg.warn if summary.n_errors or summary.unanswered else msg.good)(f"Wrote {output}")
    for line in summary.lines():
        print(line)
