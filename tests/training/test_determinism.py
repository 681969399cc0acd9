"""Same seed, same data: bit-identical weights on CPU, even across processes with different
hash seeds (set and dict order of strings); another seed gives other weights.

Each run is a real `spacy train` in a fresh process (encoder, bert_ner, bert_textcat, bert_qa
on the tiny BERT, dropout on), so nothing cached in this process can make two runs agree.
"""

from pathlib import Path

import numpy
import pytest
import spacy
import torch
from training_runs import HEADS, training_config, write_corpus
from util import encoder_params, run_module

MODEL_FILES = [f"{name}/model" for name in ("transformer",) + HEADS]


@pytest.fixture(scope="module")
def workdir(tiny_bert, tmp_path_factory):
    folder = tmp_path_factory.mktemp("determinism")
    training_config(tiny_bert, max_steps=8, eval_frequency=4).to_disk(folder / "config.cfg")
    write_corpus(folder / "corpus")
    return folder


def train(workdir: Path, output: str, *, seed: int, hash_seed: str) -> Path:
    run_module(
        "spacy",
        "train",
        "config.cfg",
        "--output",
        output,
        "--paths.train",
        "corpus",
        "--paths.dev",
        "corpus",
        "--system.seed",
        str(seed),
        cwd=workdir,
        env={"PYTHONHASHSEED": hash_seed},
    )
    return workdir / output / "model-last"


@pytest.fixture(scope="module")
def runs(workdir):
    """Two runs with seed 0 (different hash seeds) and one with seed 1."""
    return (
        train(workdir, "a", seed=0, hash_seed="1"),
        train(workdir, "b", seed=0, hash_seed="2"),
        train(workdir, "c", seed=1, hash_seed="1"),
    )


def head_params(nlp, name):
    """The head's parameters by (node index, node name, param name)."""
    return {
        (i, node.name, param): node.get_param(param)
        for i, node in enumerate(nlp.get_pipe(name).model.walk())
        for param in node.param_names
        if node.has_param(param)
    }


def differing_weights(path_a: Path, path_b: Path):
    """The encoder tensors and head parameters that differ between two saved pipelines."""
    nlp_a, nlp_b = spacy.load(path_a), spacy.load(path_b)
    params_a, params_b = encoder_params(nlp_a), encoder_params(nlp_b)
    assert params_a.keys() == params_b.keys()
    differ = [f"transformer {n}" for n in params_a if not torch.equal(params_a[n], params_b[n])]
    for name in HEADS:
        heads_a, heads_b = head_params(nlp_a, name), head_params(nlp_b, name)
        assert heads_a.keys() == heads_b.keys() and heads_a
        differ += [
            f"{name} {key}" for key in heads_a if not numpy.array_equal(heads_a[key], heads_b[key])
        ]
    return differ


def test_same_seed_gives_identical_weights(runs):
    run_a, run_b, _ = runs
    assert differing_weights(run_a, run_b) == []
    # The saved files too, byte for byte (meta.json differs: it records speeds).
    for name in MODEL_FILES:
        assert (run_a / name).read_bytes() == (run_b / name).read_bytes(), name


def test_other_seed_gives_other_weights(runs):
    run_a, _, run_c = runs
    differ = differing_weights(run_a, run_c)
    # Dropout differs, so every head and the encoder itself end up elsewhere.
    for name in ("transformer",) + HEADS:
        assert any(item.startswith(f"{name} ") for item in differ), name
