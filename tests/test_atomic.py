"""save_pipeline: a pipeline folder is replaced all at once, or not at all."""

from pathlib import Path

import pytest
import spacy
from spacy.language import Language
from training_runs import tree_digest

from spacy_bert_tasks import atomic
from spacy_bert_tasks.atomic import save_pipeline


class Saver:
    """A component that writes one file, or gets a Ctrl-C halfway through the pipeline's save."""

    def __init__(self, interrupt: bool):
        self.interrupt = interrupt

    def __call__(self, doc):
        return doc

    def to_disk(self, path, exclude=()):
        if self.interrupt:
            raise KeyboardInterrupt
        Path(path).mkdir()
        (Path(path) / "data").write_text("saved", encoding="utf8")

    def from_disk(self, path, exclude=()):
        return self


@Language.factory("test_atomic_saver", default_config={"interrupt": False})
def make_saver(nlp, name, interrupt: bool):
    return Saver(interrupt)


def pipeline(interrupt=False, label="v1"):
    nlp = spacy.blank("en")
    nlp.meta["version"] = "0.0.1" if label == "v1" else "0.0.2"
    # The tokenizer, meta and config are written before the components: an interrupt in the
    # component leaves a half-written folder.
    nlp.add_pipe("test_atomic_saver", config={"interrupt": interrupt})
    return nlp


def test_new_and_replaced_pipeline(tmp_path):
    target = tmp_path / "model"
    save_pipeline(pipeline(), target)
    assert spacy.load(target).meta["version"] == "0.0.1"
    save_pipeline(pipeline(label="v2"), target)
    assert spacy.load(target).meta["version"] == "0.0.2"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_interrupted_save_keeps_old_pipeline(tmp_path):
    target = tmp_path / "model"
    save_pipeline(pipeline(), target)
    before = tree_digest(target)
    with pytest.raises(KeyboardInterrupt):
        save_pipeline(pipeline(interrupt=True, label="v2"), target)
    assert tree_digest(target) == before
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_in_place_to_disk_mixes_old_and_new(tmp_path):
    # Why save_pipeline exists: the same interrupt during nlp.to_disk leaves a mixed folder.
    target = tmp_path / "model"
    save_pipeline(pipeline(), target)
    with pytest.raises(KeyboardInterrupt):
        pipeline(interrupt=True, label="v2").to_disk(target)
    assert spacy.load(target).meta["version"] == "0.0.2"  # new meta, old component files


def test_failed_swap_puts_old_pipeline_back(tmp_path, monkeypatch):
    target = tmp_path / "model"
    save_pipeline(pipeline(), target)
    before = tree_digest(target)
    real_replace = atomic.os.replace
    calls = []

    def replace(src, dst):
        calls.append(src)
        if len(calls) == 2:  # the new folder into place
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        save_pipeline(pipeline(label="v2"), target)
    assert tree_digest(target) == before
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
