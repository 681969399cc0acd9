"""The Ray engine on one local cluster shared by the module (ray.init(num_cpus=2), started
once): same output as the local engine, annotate_dataset, a worker crash mid-run, and a
cluster started by the CLI that listens on 127.0.0.1 only and leaves no process behind."""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spacy_bert_tasks.annotate import (
    AnnotateOptions,
    RayAnnotator,
    annotate_dataset,
    annotate_files,
    annotate_rows,
)

from .conftest import sample_rows, valid_rows, write_jsonl
from .ray_cluster import LOOPBACK, ray_processes_using
from .test_files import comparable, read_output

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.ray
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ray_cluster():
    """One local cluster for the module. Workers import this checkout's package."""
    import ray.data

    ray.init(
        num_cpus=2,
        include_dashboard=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}},
    )
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()


def arrow_friendly_rows():
    """sample_rows with the question column present on every row (Arrow's JSON reader needs
    no more), bad rows included: missing text, too long, blank question."""
    return [{"question": None, **row} for row in sample_rows()]


def assert_same_rows(rows_a, rows_b):
    assert comparable(rows_a) == comparable(rows_b)


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_ray_engine_output_equals_local(ray_cluster, pipeline_dir, tmp_path, suffix):
    rows = arrow_friendly_rows()
    source = tmp_path / f"in{suffix}"
    if suffix == ".jsonl":
        write_jsonl(source, rows)
    else:
        pq.write_table(pa.Table.from_pylist(rows), source)
    local = annotate_files(
        source,
        tmp_path / "local.parquet",
        pipeline_dir,
        AnnotateOptions(progress=False, batch_size=4),
    )
    options = AnnotateOptions(engine="ray", progress=False, batch_size=4)
    summary = annotate_files(source, tmp_path / "ray.parquet", pipeline_dir, options)
    assert (summary.rows, summary.errors) == (local.rows, local.errors)
    ray_rows = read_output(tmp_path / "ray.parquet")
    assert [r["id"] for r in ray_rows] == [r["id"] for r in rows]  # input order
    assert_same_rows(ray_rows, read_output(tmp_path / "local.parquet"))


def test_annotate_dataset_is_annotate_rows_on_a_ray_dataset(ray_cluster, pipeline_dir):
    import ray.data

    rows = valid_rows()
    ds = ray.data.from_items(
        [{"id": r["id"], "text": r["text"], "question": r.get("question")} for r in rows]
    )
    out = sorted(annotate_dataset(ds, pipeline_dir, batch_size=3).take_all(), key=lambda r: r["id"])
    expected = list(annotate_rows([{"question": None, **r} for r in rows], pipeline_dir))
    expected = [{k: v for k, v in r.items() if k != "source"} for r in expected]
    for row in out:
        row["cats"] = dict(row["cats"])
    assert_same_rows(out, sorted(expected, key=lambda r: r["id"]))


def test_annotate_dataset_refuses_a_loaded_pipeline(ray_cluster, pipeline_dir):
    import ray.data
    import spacy

    with pytest.raises(TypeError, match="object store"):
        annotate_dataset(ray.data.from_items([{"text": "a"}]), spacy.load(pipeline_dir))


def crash_once_annotator(marker: str):
    """A RayAnnotator that kills its worker process at its second batch, once per marker file
    (the restarted actor finds the marker and carries on)."""

    class CrashOnce(RayAnnotator):
        calls = 0

        def __call__(self, batch):
            self.calls += 1
            if self.calls == 2:
                try:
                    os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
                except FileExistsError:
                    pass
                else:
                    os._exit(1)  # the process dies mid-run, as when killed
            return super().__call__(batch)

    return CrashOnce


def test_a_worker_crash_mid_run_loses_and_repeats_no_row(ray_cluster, pipeline_dir, tmp_path):
    import ray.data

    n_rows = 40
    rows = [{"id": i, "text": f"john visited london {i}"} for i in range(n_rows)]
    ds = ray.data.from_items(rows, override_num_blocks=8)
    marker = tmp_path / "crashed"
    out = annotate_dataset(
        ds, pipeline_dir, batch_size=5, annotator_cls=crash_once_annotator(str(marker))
    )
    ids = [row["id"] for row in out.take_all()]
    assert marker.exists()  # a worker did die
    assert sorted(ids) == list(range(n_rows))  # every row exactly once


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads /proc (Linux)")
def test_cli_cluster_is_loopback_only_and_leaves_no_process(pipeline_dir, tmp_path):
    """In a fresh interpreter (this one holds the shared cluster): `annotate --engine ray`
    starts its own cluster, which listens on 127.0.0.1 only, and is gone after the run."""
    source = write_jsonl(
        tmp_path / "in.jsonl", [{"id": i, "text": "mary works in paris"} for i in range(3)]
    )
    # A short folder of its own: Ray's socket paths must stay under the 107-byte limit.
    ray_tmp = tempfile.mkdtemp(prefix="sbt-ray-", dir="/tmp")
    script = f"""
import json, os, sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
import ray_cluster
from spacy_bert_tasks.annotate import ray_engine
from spacy_bert_tasks.cli import app
listening = []
def spy(*args, **kwargs):
    # After the run's cluster is up: record what its processes listen on.
    listening.extend(ray_cluster.listening_addresses(ray_cluster.descendants(os.getpid())))
    return original(*args, **kwargs)
original = ray_engine.annotate_dataset
ray_engine.annotate_dataset = spy
try:
    app(["annotate", {str(source)!r}, {str(tmp_path / "out.jsonl")!r}, "--model", {str(pipeline_dir)!r},
         "--engine", "ray", "--no-progress"])
except SystemExit as exit:
    print(json.dumps({{"listening": listening, "code": exit.code}}))
"""
    env = {**os.environ, "RAY_TMPDIR": ray_tmp, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    env.pop("RAY_ADDRESS", None)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["code"] == 0
    assert report["listening"], "no listening socket found: the check saw nothing"
    assert set(report["listening"]) <= LOOPBACK, report["listening"]
    assert [r["id"] for r in read_output(tmp_path / "out.jsonl")] == [0, 1, 2]
    assert ray_processes_using(ray_tmp) == []
