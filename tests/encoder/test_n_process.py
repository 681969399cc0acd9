"""nlp.pipe(n_process=2) after the encoder ran in the parent, and no orphan worker.

Each case runs in its own Python process: the bug was a hang (a test in this process would never
end) and the orphan case kills the parent.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from util import initialized_nlp

REPO = Path(__file__).resolve().parents[2]
# Fork, /proc: the case is Linux's (elsewhere spaCy's workers are spawned, not forked).
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")
TEXTS = [f"John visited London yesterday {i}" for i in range(20)] + ["good movie"] * 4

# Two torch threads, and a warm-up pass in the parent: torch's OpenMP pool exists at the fork,
# which is what made the workers wait forever (spacy_bert_tasks/encoder/forking.py). With
# inference_graph "compiled", the parent's pass compiles kernels the forked workers must not run.
PIPE_TWO_PROCESSES = """
import json, sys, torch, spacy
torch.set_num_threads(2)
graph = {"components": {"transformer": {"inference_graph": sys.argv[3]}}}
nlp = spacy.load(sys.argv[1], config=graph)
texts = json.loads(sys.argv[2])
list(nlp.pipe(texts[:4]))
docs = list(nlp.pipe(texts, n_process=2, batch_size=4))
print(json.dumps({
    "parent_threads": torch.get_num_threads(),
    "out": [[[e.text, e.label_] for e in d.ents] + [sorted(d.cats.items())] for d in docs],
}))
"""

# Workers busy on an endless stream; the parent prints their pids, then waits to be killed.
ENDLESS_PIPE = """
import itertools, multiprocessing, sys, time, spacy
nlp = spacy.load(sys.argv[1])
docs = nlp.pipe(itertools.repeat("John visited London yesterday"), n_process=2, batch_size=4)
next(docs)
print(" ".join(str(p.pid) for p in multiprocessing.active_children()), flush=True)
time.sleep(600)
"""


@pytest.fixture(scope="module")
def saved_pipeline(tiny_bert, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("n_process") / "pipeline"
    initialized_nlp(tiny_bert).to_disk(folder)
    return folder


def python(code: str, *args: str, **popen) -> subprocess.Popen:
    # PYTHONPATH: the subprocess imports this checkout's package, whichever is installed.
    # Its own session: on failure, killpg ends the workers too (they hold its pipes open).
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env=env,
        text=True,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **popen,
    )


@pytest.mark.parametrize("graph", ["eager", "packed", "compiled"])
def test_pipe_with_two_processes_after_a_pass_in_the_parent(saved_pipeline, graph):
    import json

    import spacy

    proc = python(PIPE_TWO_PROCESSES, str(saved_pipeline), json.dumps(TEXTS), graph)
    # Compiling (in the parent, then in each worker) takes a minute or more on a cold cache.
    timeout = 300 if graph == "compiled" else 60
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"nlp.pipe(n_process=2) did not finish in {timeout} s (workers hung?)")
    assert proc.returncode == 0, stderr[-3000:]
    result = json.loads(stdout.strip().splitlines()[-1])
    assert result["parent_threads"] == 2  # the parent's setting is untouched
    nlp = spacy.load(saved_pipeline)
    expected = [
        [[e.text, e.label_] for e in d.ents] + [sorted(d.cats.items())] for d in nlp.pipe(TEXTS)
    ]
    assert len(result["out"]) == len(TEXTS)
    for got, want in zip(result["out"], expected):
        assert got[:-1] == want[:-1]  # entities
        assert [label for label, _ in got[-1]] == [label for label, _ in want[-1]]
        for (_, score_got), (_, score_want) in zip(got[-1], want[-1]):
            assert abs(score_got - score_want) < 1e-4


def test_workers_exit_when_the_parent_is_killed(saved_pipeline):
    proc = python(ENDLESS_PIPE, str(saved_pipeline))
    line = proc.stdout.readline()
    assert line.strip(), proc.stderr.read()[-3000:]
    workers = [int(pid) for pid in line.split()]
    assert len(workers) == 2
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(alive(pid) for pid in workers):
        time.sleep(0.2)
    survivors = [pid for pid in workers if alive(pid)]
    if survivors:  # don't leave them behind when the test fails
        os.killpg(proc.pid, signal.SIGKILL)
    assert not survivors, f"orphan workers {survivors} outlived their killed parent"


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, dead but not yet reaped by init, counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
