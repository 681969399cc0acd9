"""`annotate` from files to a file: INPUT rows through either engine into OUTPUT, with a summary.

Both engines read the same files, run the same `BatchAnnotator` and write through the same
writer, in input order (Ray's `preserve_order` is turned on), so their outputs are the same.
"""

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Union

from .inputs import input_format, read_rows, resolve_inputs
from .local import DEFAULT_BATCH_SIZE, annotate_rows
from .outputs import check_output, open_output, output_format, table_to_rows
from .summary import Summary

ENGINES = ("local", "ray")


@dataclass
class AnnotateOptions:
    """How to run: the CLI's options (see `python -m spacy_bert_tasks annotate --help`)."""

    engine: str = "local"
    workers: int = 1
    threads_per_worker: Optional[int] = None
    gpus_per_worker: float = 0
    batch_size: int = DEFAULT_BATCH_SIZE
    text_field: str = "text"
    question_field: str = "question"
    output_format: Optional[str] = None
    overwrite: bool = False
    address: Optional[str] = None
    dashboard: bool = False
    progress: bool = True
    # Overrides of the pipeline's config.cfg at load time, in dot notation:
    # {"components.transformer.inference_graph": "compiled"}.
    config_overrides: Dict[str, Any] = field(default_factory=dict)


def annotate_files(
    input_spec: Union[str, Path],
    output: Union[str, Path],
    model: Union[str, Path],
    options: AnnotateOptions,
) -> Summary:
    """Annotate the rows of INPUT into OUTPUT (all or nothing) and RETURN the run's summary.

    RAISES (InputError, FileExistsError, ValueError, ImportError): Before any work where
    possible (bad INPUT, existing OUTPUT, bad options, Ray not installed).
    """
    validate_options(options)
    files = resolve_inputs(input_spec)
    kind = input_format(files)
    out_kind = output_format(output, options.output_format)
    check_output(output, overwrite=options.overwrite)  # before minutes of model loading
    strings = (options.text_field, options.question_field)
    summary = Summary(question_field=options.question_field)
    start = time.perf_counter()
    with open_output(
        output, out_kind, overwrite=options.overwrite, string_fields=strings
    ) as writer:
        if options.engine == "local":
            _run_local(files, model, options, writer, summary)
        else:
            _run_ray(files, kind, model, options, writer, summary)
    summary.seconds = time.perf_counter() - start
    return summary


def validate_options(options: AnnotateOptions) -> None:
    """RAISES (ValueError): An option out of range, or one the engine cannot honour."""
    if options.engine not in ENGINES:
        raise ValueError(f"expected --engine local or ray, got {options.engine!r}")
    for name in ("workers", "batch_size"):
        if getattr(options, name) < 1:
            raise ValueError(
                f"expected --{name.replace('_', '-')} >= 1, got {getattr(options, name)}"
            )
    if options.threads_per_worker is not None and options.threads_per_worker < 1:
        raise ValueError(f"expected --threads-per-worker >= 1, got {options.threads_per_worker}")
    if options.gpus_per_worker < 0:
        raise ValueError(f"expected --gpus-per-worker >= 0, got {options.gpus_per_worker}")
    if options.engine == "local" and options.workers > 1 and (options.threads_per_worker or 1) > 1:
        # Forked workers run one torch thread each: GNU OpenMP's pool does not survive a fork.
        raise ValueError(
            "--engine local with --workers > 1 runs forked processes of one torch thread each; "
            "drop --threads-per-worker, or use --engine ray for workers of several threads"
        )
    if options.engine == "local" and (options.address or options.dashboard):
        raise ValueError("--address and --dashboard are options of --engine ray")


def _run_local(files, model, options: AnnotateOptions, writer, summary: Summary) -> None:
    from tqdm import tqdm

    rows = read_rows(files, string_fields=(options.text_field, options.question_field))
    annotated = annotate_rows(
        rows,
        model,
        **_row_options(options),
        n_threads=options.threads_per_worker,
        gpu=options.gpus_per_worker > 0,
        n_process=options.workers,
        config=options.config_overrides,
    )
    with tqdm(desc="annotate", unit=" rows", disable=not options.progress, mininterval=1.0) as bar:
        batch = []
        for row in annotated:
            batch.append(row)
            if len(batch) == options.batch_size:
                _write(batch, writer, summary, bar)
                batch = []
        _write(batch, writer, summary, bar)


def _run_ray(files, kind: str, model, options: AnnotateOptions, writer, summary: Summary) -> None:
    from .ray_engine import annotate_dataset, ray_session, read_dataset

    threads = options.threads_per_worker or 1
    needed = options.workers * threads
    # Ray Data's listing and reading tasks take one logical CPU each: with every CPU held by
    # an actor they would wait forever. A local cluster gets one slot more than its cores
    # (reading is light next to the model); on another cluster one CPU must stay free.
    local_cpus = max(os.cpu_count() or 1, needed) + 1
    with ray_session(options.address, dashboard=options.dashboard, num_cpus=local_cpus) as session:
        import ray
        from ray.data import DataContext

        cluster_cpus = ray.cluster_resources().get("CPU", 0)
        if not session["started"] and cluster_cpus < needed + 1:
            raise ValueError(
                f"--workers {options.workers} x --threads-per-worker {threads} needs {needed} CPUs "
                f"plus one for Ray Data's reading tasks; the cluster has {cluster_cpus:g}"
            )

        context = DataContext.get_current()
        context.execution_options.preserve_order = True  # input order, as the local engine
        context.enable_progress_bars = options.progress
        ds = read_dataset(files, kind, string_fields=(options.text_field, options.question_field))
        ds = annotate_dataset(
            ds,
            model,
            **_row_options(options),
            workers=options.workers,
            threads_per_worker=threads,
            gpus_per_worker=options.gpus_per_worker,
            config=options.config_overrides,
        )
        for table in ds.iter_batches(batch_format="pyarrow", batch_size=None):
            _write(table_to_rows(table), writer, summary, None)


def _row_options(options: AnnotateOptions) -> dict:
    # What both engines take alike.
    return {
        "text_field": options.text_field,
        "question_field": options.question_field,
        "batch_size": options.batch_size,
    }


def _write(rows, writer, summary: Summary, bar) -> None:
    writer.write(rows)
    summary.add(rows)
    if bar is not None:
        bar.update(len(rows))
