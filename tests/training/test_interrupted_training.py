"""Ctrl-C during `spacy train`: what an interrupted run leaves in its output folder.

spaCy's loop (spacy.training.loop.train) evaluates every `eval_frequency` steps, then writes
model-last with nlp.to_disk and, at a new best score, replaces model-best with a copy of it
(rmtree + copytree). On any exception or Ctrl-C it saves model-last once more (`finally`). These
tests run that loop in this process on the three-head pipeline and interrupt it at each stage.
"""

import io

import pytest
import spacy
from spacy.training import loop as spacy_loop
from spacy.training.initialize import init_nlp
from spacy.util import load_config
from training_runs import training_config, tree_digest, write_corpus

from spacy_bert_tasks.encoder.component import BertTransformer
from spacy_bert_tasks.ner.component import BertEntityRecognizer

MODEL_FILES = ("transformer/model", "ner/model", "textcat/model", "qa/model")


@pytest.fixture(scope="module")
def config_path(tiny_bert, tmp_path_factory):
    """A config for 12 steps with a checkpoint every 4 (steps 0, 4, 8), and its corpus."""
    folder = tmp_path_factory.mktemp("interrupted_training")
    corpus = str(write_corpus(folder / "corpus"))
    config = training_config(tiny_bert, max_steps=12, eval_frequency=4)
    config["paths"]["train"] = config["paths"]["dev"] = corpus
    config.to_disk(folder / "config.cfg")
    return folder / "config.cfg"


def run_training(config_path, output):
    """spaCy's training loop, as `spacy train` runs it, with its output silenced."""
    nlp = init_nlp(load_config(config_path, interpolate=False))
    output.mkdir(parents=True, exist_ok=True)  # as `spacy train` does
    spacy_loop.train(nlp, output, stdout=io.StringIO(), stderr=io.StringIO())


def interrupt_on_call(monkeypatch, cls, name, n, before_raising):
    """Make `cls.name` raise KeyboardInterrupt on its n-th call, after `before_raising()`."""
    original = getattr(cls, name)
    calls = []

    def patched(*args, **kwargs):
        calls.append(1)
        if len(calls) == n:
            before_raising()
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(cls, name, patched)
    return calls


def assert_loads(path):
    nlp = spacy.load(path)
    assert nlp.pipe_names == ["transformer", "ner", "textcat", "qa"]
    assert nlp("John visited London").cats


def test_ctrl_c_in_a_training_step_keeps_model_best(config_path, tmp_path, monkeypatch):
    output = tmp_path / "out"
    seen = {}
    # Update call 7 is step 6: model-best was saved at step 0 and maybe at step 4.
    interrupt_on_call(
        monkeypatch,
        BertEntityRecognizer,
        "update",
        7,
        lambda: seen.update(best=tree_digest(output / "model-best")),
    )
    with pytest.raises(KeyboardInterrupt):
        run_training(config_path, output)
    assert seen["best"], "model-best was not saved before the interrupt"
    assert tree_digest(output / "model-best") == seen["best"]
    assert_loads(output / "model-best")
    assert_loads(output / "model-last")  # saved again by spaCy's `finally`


def test_ctrl_c_while_saving_a_checkpoint_keeps_model_best(config_path, tmp_path, monkeypatch):
    output = tmp_path / "out"
    seen = {}
    # The encoder's second save is model-last at step 4; the first made model-best (step 0).
    calls = interrupt_on_call(
        monkeypatch,
        BertTransformer,
        "to_disk",
        2,
        lambda: seen.update(best=tree_digest(output / "model-best")),
    )
    with pytest.raises(KeyboardInterrupt):
        run_training(config_path, output)
    assert len(calls) == 3  # the third: spaCy's `finally` saved model-last in full again
    assert tree_digest(output / "model-best") == seen["best"]
    assert_loads(output / "model-best")
    assert_loads(output / "model-last")


def test_ctrl_c_while_copying_model_best_keeps_its_weights_in_model_last(
    config_path, tmp_path, monkeypatch
):
    # spaCy's gap: model-best is deleted, then copied from model-last, so a Ctrl-C in the copy
    # loses model-best. Nothing is lost all the same: model-last, complete before the copy
    # began, holds exactly those weights.
    output = tmp_path / "out"
    seen = {}

    def digest_model_last():
        seen["last"] = tree_digest(output / "model-last")

    interrupt_on_call(monkeypatch, spacy_loop.shutil, "copytree", 1, digest_model_last)
    with pytest.raises(KeyboardInterrupt):
        run_training(config_path, output)
    saved = tree_digest(output / "model-last")
    for name in MODEL_FILES:
        assert saved[name] == seen["last"][name], name
    assert_loads(output / "model-last")
