"""spacy-bert-tasks.release_freed_memory.v1/v2: malloc_trim between training steps (glibc), and
v2's cap on oneDNN's kernel caches; generated configs train with v2."""

import os
import subprocess
import sys
import textwrap

import pytest
import spacy
import torch
from spacy import util
from spacy.util import registry

from spacy_bert_tasks.config import generate_config
from spacy_bert_tasks.training import kernel_caches, memory

CAPACITY_VARIABLES = (
    *kernel_caches.PRIMITIVE_CACHE_VARIABLES,
    kernel_caches.IDEEP_CACHE_VARIABLE,
)


@pytest.fixture
def clean_kernel_cache_env(monkeypatch):
    """No capacity set, and whatever a test sets is undone after it (monkeypatch restores)."""
    for name in CAPACITY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def resident_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def trims_at(callback, monkeypatch, n_steps=7):
    calls = []
    monkeypatch.setattr(memory, "release_freed_memory", lambda: calls.append(1) or True)
    for step in range(n_steps):
        callback(spacy.blank("en"), {"step": step, "epoch": 0})
    return len(calls)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_freed_heap_memory_goes_back_to_the_os():
    # Many blocks below the mmap threshold, freed except every 64th: the heap keeps its size
    # (live blocks pin it) until malloc_trim returns the free pages between them.
    blocks = [bytearray(16 * 1024) for _ in range(20000)]  # about 320 MB in the heap
    kept = blocks[::64]
    del blocks
    before = resident_mb()
    assert memory.release_freed_memory()
    assert resident_mb() < before - 150
    assert len(kept) == 313


def test_v1_trims_every_n_steps_and_leaves_the_kernel_caches(clean_kernel_cache_env):
    v1 = registry.callbacks.get("spacy-bert-tasks.release_freed_memory.v1")
    assert trims_at(v1(every_n_steps=3), clean_kernel_cache_env) == 3  # steps 0, 3, 6
    assert trims_at(v1(), clean_kernel_cache_env) == 7
    assert not any(name in os.environ for name in CAPACITY_VARIABLES)
    with pytest.raises(ValueError, match="every_n_steps"):
        v1(every_n_steps=0)


def test_v2_trims_every_n_steps_or_never(clean_kernel_cache_env):
    v2 = registry.callbacks.get("spacy-bert-tasks.release_freed_memory.v2")
    assert trims_at(v2(onednn_cache_capacity=None), clean_kernel_cache_env, 25) == 3  # 0, 10, 20
    assert trims_at(v2(every_n_steps=4), clean_kernel_cache_env) == 2
    assert trims_at(v2(every_n_steps=None), clean_kernel_cache_env) == 0
    with pytest.raises(ValueError, match="every_n_steps must be >= 1"):
        v2(every_n_steps=0)


def test_v2_caps_the_kernel_caches_unless_the_user_did(clean_kernel_cache_env):
    v2 = registry.callbacks.get("spacy-bert-tasks.release_freed_memory.v2")
    v2(onednn_cache_capacity=32)
    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == "32"
    assert os.environ["LRU_CACHE_CAPACITY"] == "32"
    # The user's own setting (either spelling of oneDNN's) stays.
    clean_kernel_cache_env.delenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY")
    clean_kernel_cache_env.setenv("DNNL_PRIMITIVE_CACHE_CAPACITY", "500")
    clean_kernel_cache_env.setenv("LRU_CACHE_CAPACITY", "7")
    in_effect = kernel_caches.limit_kernel_caches(64)
    assert in_effect == {"DNNL_PRIMITIVE_CACHE_CAPACITY": "500", "LRU_CACHE_CAPACITY": "7"}
    assert "ONEDNN_PRIMITIVE_CACHE_CAPACITY" not in os.environ
    with pytest.raises(ValueError, match="onednn_cache_capacity must be >= 1"):
        v2(onednn_cache_capacity=0)


@pytest.mark.parametrize("tasks", [["ner"], ["textcat"], ["qa"], ["ner", "textcat", "qa"]])
def test_generated_configs_train_with_the_memory_callback(clean_kernel_cache_env, tasks):
    config = util.load_config_from_str(generate_config(tasks).to_str(), interpolate=False)
    block = config["training"]["before_update"]
    assert block == {
        "@callbacks": "spacy-bert-tasks.release_freed_memory.v2",
        "every_n_steps": 10,
        "onednn_cache_capacity": 64,
    }
    # Resolved as spacy train resolves [training]: a callable that trims at steps 0 and 10.
    callback = registry.resolve({"cb": block})["cb"]
    assert trims_at(callback, clean_kernel_cache_env, 11) == 2


# Training-like steps under bf16 autocast, a new number of rows each step (as padded batches
# have): how much the memory malloc reports *in use* grows over the last 40 of 80 steps, in MB,
# with or without the callback.
BF16_STEPS = textwrap.dedent(
    """
    import sys
    import torch
    from spacy.util import registry
    from spacy_bert_tasks.encoder import heap
    from spacy_bert_tasks.training import memory  # registers the callbacks
    if sys.argv[1] == "capped":  # built when spacy train resolves [training]: before any step
        registry.callbacks.get("spacy-bert-tasks.release_freed_memory.v2")()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    layers = torch.nn.Sequential(
        torch.nn.Linear(256, 1024), torch.nn.GELU(), torch.nn.Linear(1024, 256)
    )
    optimizer = torch.optim.AdamW(layers.parameters())
    def step(rows):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = layers(torch.randn(rows, 256))
        out.float().sum().backward()
        optimizer.step()
        optimizer.zero_grad()
    for i in range(40):  # more kernels than a capped cache keeps
        step(40 + 7 * i)
    start = heap.heap_usage()[0]
    for i in range(40, 80):
        step(40 + 7 * i)
    print((heap.heap_usage()[0] - start) / 2**20)
    """
)


def bf16_matmuls_use_onednn() -> bool:
    return (
        sys.platform.startswith("linux")
        and torch.backends.mkldnn.is_available()
        and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    )


@pytest.mark.skipif(not bf16_matmuls_use_onednn(), reason="bf16 matmuls through oneDNN, glibc")
def test_capped_kernel_caches_stop_bf16_steps_from_growing_memory_in_use(clean_kernel_cache_env):
    def grown_mb(mode: str) -> float:
        run = subprocess.run(
            [sys.executable, "-c", BF16_STEPS, mode], capture_output=True, text=True, timeout=300
        )
        assert run.returncode == 0, run.stderr[-3000:]
        return float(run.stdout.strip().splitlines()[-1])

    default, capped = grown_mb("default"), grown_mb("capped")
    # Each new shape leaves compiled kernels in both caches (about 2 MB a step here) until
    # 1,024 are kept; capped at 64 kernels, full after the first steps, they stop growing.
    assert default > 30
    assert capped < min(5, default / 10)
