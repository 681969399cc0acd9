"""The Ray engine: the same batch annotator in a pool of Ray Data actors.

Each actor loads the pipeline once, by path or package name (a pipeline is never pickled
through the object store), pins torch's threads to its CPUs and runs `nlp.pipe` on each batch.
Ray Data does the rest: reading, streaming blocks to the actors, back-pressure, its progress
bar, restarting an actor that died and retrying its batch (Ray Data's actor pools default to
`max_restarts=-1`, `max_task_retries=-1`: without limit), so a crashed worker costs time,
never rows. A row that kills every worker that reads it is retried without end, as in any Ray
Data job; pass `max_restarts=N` to `annotate_dataset` to bound it.

Needs the `ray` extra: `pip install spacy_bert_tasks[ray]`.
"""

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Sequence, Union

from .inputs import csv_convert_options, csv_parse_options
from .local import DEFAULT_BATCH_SIZE
from .outputs import rows_to_table, table_to_rows
from .process import BatchAnnotator, load_pipeline, pin_torch_threads

# Ray's switch for a loopback-only node (its default on macOS and Windows): every Ray server of
# a cluster that `ray_session` starts then listens on 127.0.0.1 only. Read when ray is imported.
LOOPBACK_ONLY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


def require_ray():
    """Import ray, or say which extra to install."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as err:
        raise ImportError(
            "The ray engine needs Ray Data: pip install 'spacy_bert_tasks[ray]' "
            f"(or pip install 'ray[data]'); import failed: {err}"
        ) from err
    return ray


class RayAnnotator:
    """The callable class of `annotate_dataset`: one instance per actor.

    model (str): A pipeline folder (absolute, present on every node) or installed package name.
    n_threads (Optional[int]): torch threads of this actor (its CPUs).
    gpu (bool): Run on the actor's GPU (`spacy.require_gpu()`).
    config (Optional[Dict[str, Any]]): Overrides of the pipeline's config.cfg (load_pipeline).
    """

    def __init__(
        self,
        model: str,
        *,
        text_field: str = "text",
        question_field: str = "question",
        n_threads: Optional[int] = None,
        gpu: bool = False,
        config: Optional[Dict[str, Any]] = None,
    ):
        pin_torch_threads(n_threads)
        nlp = load_pipeline(model, gpu=gpu, config=config)
        self.string_fields = (text_field, question_field)
        self.annotate = BatchAnnotator(nlp, text_field=text_field, question_field=question_field)

    def __call__(self, batch):
        """pyarrow.Table in, pyarrow.Table out: the rows with their output columns."""
        rows = self.annotate(table_to_rows(batch))
        return rows_to_table(rows, string_fields=self.string_fields)


def annotate_dataset(
    ds,
    model: Union[str, Path],
    *,
    text_field: str = "text",
    question_field: str = "question",
    batch_size: int = DEFAULT_BATCH_SIZE,
    workers: int = 1,
    threads_per_worker: int = 1,
    gpus_per_worker: float = 0,
    config: Optional[Dict[str, Any]] = None,
    annotator_cls: type = RayAnnotator,
    **ray_remote_args: Any,
):
    """Annotate a Ray Dataset: every row gets ents, cats, the answer columns and error.

    Lazy, as any Ray Data transform: nothing runs until the dataset is consumed or written
    (`ds.write_parquet(...)`, `ds.iter_batches()`). Output order follows Ray's
    `DataContext.execution_options.preserve_order` (off by default; the CLI turns it on).

    ds (ray.data.Dataset): Rows with a `text_field` column (and optionally `question_field`).
    model (Union[str, Path]): A pipeline folder (reachable at the same path on every node) or an
        installed package name, loaded inside each actor.
    batch_size (int): Rows per `nlp.pipe` call in an actor.
    workers (int): Actors (one pipeline each).
    threads_per_worker (int): CPUs reserved per actor, and its torch threads.
    gpus_per_worker (float): GPUs per actor; > 0 runs the pipeline on the GPU.
    config (Optional[Dict[str, Any]]): Overrides of the pipeline's config.cfg, applied in each
        actor as it loads the pipeline (load_pipeline).
    annotator_cls (type): RayAnnotator or a subclass (to add columns, or hooks).
    ray_remote_args: Passed on to `map_batches` (e.g. `max_restarts`, `memory`).
    RETURNS (ray.data.Dataset): The annotated dataset.
    """
    ray = require_ray()
    from spacy.language import Language

    if isinstance(model, Language):
        raise TypeError(
            "annotate_dataset loads the pipeline inside each actor: pass its folder or package "
            "name, not a loaded Language (which would be pickled through the object store)"
        )
    for name, value in (
        ("batch_size", batch_size),
        ("workers", workers),
        ("threads_per_worker", threads_per_worker),
    ):
        if value < 1:
            raise ValueError(f"expected {name} >= 1, got {value}")
    if gpus_per_worker < 0:
        raise ValueError(f"expected gpus_per_worker >= 0, got {gpus_per_worker}")
    # Actors do not share the driver's working folder: a relative path must become absolute.
    model_arg = str(Path(model).resolve()) if Path(model).exists() else str(model)
    # Blocks of one batch each: Ray hands a block to one actor, so an input read as one big
    # block (a small Parquet file) would keep the other actors idle. Streaming, order kept.
    ds = ds.repartition(target_num_rows_per_block=batch_size)
    return ds.map_batches(
        annotator_cls,
        fn_constructor_kwargs={
            "model": model_arg,
            "text_field": text_field,
            "question_field": question_field,
            "n_threads": threads_per_worker,
            "gpu": gpus_per_worker > 0,
            "config": dict(config or {}),
        },
        batch_size=batch_size,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=threads_per_worker,
        num_gpus=gpus_per_worker or None,
        **ray_remote_args,
    )


def read_dataset(files: Sequence[Path], kind: str, *, string_fields: Sequence[str]):
    """A Ray Dataset of the input files with Ray's own readers, in file order.

    Unlike the local reader, Arrow's JSON reader fails on a line that is not a JSON object
    (the run stops before any output): check such files with `--engine local`.
    """
    ray = require_ray()
    paths = [str(path) for path in files]
    if kind == "parquet":
        return ray.data.read_parquet(paths)
    if kind == "jsonl":
        return ray.data.read_json(paths, lines=True)
    return ray.data.read_csv(
        paths,
        parse_options=csv_parse_options(kind),
        convert_options=csv_convert_options(string_fields),
        file_extensions=None,  # the files are chosen already (.csv or .tsv)
    )


@contextmanager
def ray_session(
    address: Optional[str] = None, *, dashboard: bool = False, num_cpus: Optional[int] = None
) -> Iterator[Dict[str, Any]]:
    """Connect to a Ray cluster, or start a local one, for the length of the block.

    address (Optional[str]): A running cluster ("ray://...", "host:port", "auto"); by default
        RAY_ADDRESS, else a new local cluster. A driver connected here is disconnected at
        the end; the cluster keeps running.
    dashboard (bool): Start the dashboard of a local cluster (on 127.0.0.1).
    num_cpus (Optional[int]): CPUs of a local cluster (default: all).
    YIELDS (Dict[str, Any]): {"started": bool, "address": the GCS address}.

    A local cluster listens on 127.0.0.1 only and is shut down at the end, leaving no Ray
    process behind. If Ray is already initialized in this process (the caller's own cluster),
    it is used and left as it is.
    """
    address = address or os.environ.get("RAY_ADDRESS") or None
    if not address:
        # Before Ray is imported: it reads the switch once. Set for our processes only.
        for name, value in LOOPBACK_ONLY_ENV.items():
            os.environ.setdefault(name, value)
    ray = require_ray()
    if ray.is_initialized():
        yield {"started": False, "address": ray.get_runtime_context().gcs_address}
        return
    if address:
        ray.init(address=address, log_to_driver=True)
        started = False
    else:
        ray.init(
            num_cpus=num_cpus,
            include_dashboard=dashboard,
            dashboard_host="127.0.0.1",
            _node_ip_address="127.0.0.1",
        )
        started = True
    try:
        yield {"started": started, "address": ray.get_runtime_context().gcs_address}
    finally:
        ray.shutdown()
