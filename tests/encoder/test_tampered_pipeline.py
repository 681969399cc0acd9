"""A tampered pipeline never runs the pickle planted in it: loading fails clearly, naming the
file, or ignores what it does not read. Unpickling is forbidden throughout (forbid_unpickling),
and the payload, if it ran, would create a marker file."""

import json
import os
import pickle
import shlex
import shutil
from pathlib import Path

import numpy
import pytest
import spacy
from saved_pipelines import edit_encoder_message, forbid_unpickling, pickle_traces, torch_save_bytes
from spacy.util import load_model_from_init_py
from util import assert_same_outputs, run_module

from spacy_bert_tasks.encoder.serialization import WEIGHTS_FORMAT, WeightsFormatError


class Payload:
    """Unpickling this runs a shell command that creates `marker`."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


@pytest.fixture
def marker(tmp_path):
    return tmp_path / "payload-ran"


@pytest.fixture
def pipeline(all_heads_saved, tmp_path):
    """A copy of the saved all-heads pipeline, to tamper with."""
    return Path(shutil.copytree(all_heads_saved[1], tmp_path / "pipeline"))


def load_without_unpickling(path: Path):
    with forbid_unpickling() as calls:
        try:
            return spacy.load(path)
        finally:
            assert calls == []


def test_payload_runs_when_unpickled(marker):
    # The marker shows a payload that ran: the tests below can fail.
    pickle.loads(pickle.dumps(Payload(marker)))
    assert marker.exists()


def plant_pickle(msg, marker):
    msg["state"] = pickle.dumps(Payload(marker))
    del msg["weights_format"]


def plant_torch_save(msg, marker):
    # The format spacy-transformers writes, here with an object in it.
    msg["state"] = torch_save_bytes({"embeddings.word_embeddings.weight": Payload(marker)})
    del msg["weights_format"]


@pytest.mark.parametrize("plant", [plant_pickle, plant_torch_save])
def test_pickled_weights_are_refused(pipeline, marker, plant):
    model_path = pipeline / "transformer" / "model"
    edit_encoder_message(model_path, lambda msg: plant(msg, marker))
    assert pickle_traces(pipeline)
    with pytest.raises(WeightsFormatError) as err:
        load_without_unpickling(pipeline)
    message = str(err.value)
    assert message.startswith(f"{model_path}: ")
    assert "got torch.save's pickle format" in message
    assert "upgrade-weights" in message
    assert not marker.exists()


def test_pickle_labelled_safetensors_is_refused(pipeline, marker):
    def plant(msg):
        msg["state"] = pickle.dumps(Payload(marker))
        msg["weights_format"] = WEIGHTS_FORMAT

    edit_encoder_message(pipeline / "transformer" / "model", plant)
    with pytest.raises(WeightsFormatError, match="not valid safetensors data"):
        load_without_unpickling(pipeline)
    assert not marker.exists()


def test_unknown_weights_format_is_refused(pipeline):
    model_path = pipeline / "transformer" / "model"
    edit_encoder_message(model_path, lambda msg: msg.update(weights_format="npz"))
    with pytest.raises(WeightsFormatError, match="got 'npz'"):
        load_without_unpickling(pipeline)


def test_model_folder_of_hugging_face_files_is_refused(pipeline, marker):
    # spacy-transformers 1.0's layout, which the stock loader hands to transformers.
    model_path = pipeline / "transformer" / "model"
    model_path.unlink()
    model_path.mkdir()
    (model_path / "pytorch_model.bin").write_bytes(torch_save_bytes({"w": Payload(marker)}))
    (model_path / "config.json").write_text(json.dumps({"model_type": "bert"}), encoding="utf8")
    expected = f"{model_path}: expected the encoder's model file"
    with pytest.raises(WeightsFormatError, match=expected):
        load_without_unpickling(pipeline)
    assert not marker.exists()


def test_truncated_encoder_file_is_named(pipeline):
    # What a crash in the middle of writing it leaves.
    model_path = pipeline / "transformer" / "model"
    model_path.write_bytes(model_path.read_bytes()[:5000])
    with pytest.raises(ValueError, match=f"{model_path}: could not read the saved encoder"):
        load_without_unpickling(pipeline)


def test_tokenizer_file_names_cannot_leave_their_folder(pipeline, tmp_path):
    escaped = tmp_path / "escaped.txt"
    # Up to the root from any temporary folder (fewer than 16 levels deep), and absolute.
    names = ["../" * 16 + os.path.relpath(escaped, "/"), str(escaped)]

    def plant(msg):
        for name in names:
            msg["tokenizer"][name] = b"written outside"

    edit_encoder_message(pipeline / "transformer" / "model", plant)
    with pytest.raises(WeightsFormatError, match="expected plain tokenizer file names"):
        load_without_unpickling(pipeline)
    assert not escaped.exists()


def test_remote_code_in_the_saved_config_is_not_run(pipeline, marker, all_heads_saved):
    code = f"import pathlib\npathlib.Path({str(marker)!r}).touch()\n"

    def plant(msg):
        tokenizer = msg["tokenizer"]
        tokenizer["evil.py"] = code.encode("utf8")
        tokenizer_config = json.loads(tokenizer["tokenizer_config.json"])
        tokenizer_config["auto_map"] = {"AutoTokenizer": ["evil.Tokenizer", "evil.Tokenizer"]}
        tokenizer["tokenizer_config.json"] = json.dumps(tokenizer_config).encode("utf8")
        tokenizer["kwargs"]["trust_remote_code"] = True
        msg["config"]["auto_map"] = {"AutoConfig": "evil.Config", "AutoModel": "evil.Model"}

    edit_encoder_message(pipeline / "transformer" / "model", plant)
    nlp = load_without_unpickling(pipeline)
    # transformers' own classes were used: the pipeline works as saved.
    texts = ["John visited London", "good movie"]
    assert_same_outputs([nlp(t) for t in texts], [all_heads_saved[0](t) for t in texts])
    assert not marker.exists()


def test_pickles_beside_the_pipeline_files_are_ignored(pipeline, marker, all_heads_saved):
    payload = torch_save_bytes({"w": Payload(marker)})
    for name in [
        "pytorch_model.bin",
        "transformer/pytorch_model.bin",
        "transformer/model.pkl",
        "ner/model.pt",
        "qa/weights.bin",
        "vocab/vectors.pkl",
    ]:
        (pipeline / name).write_bytes(payload)
    nlp = load_without_unpickling(pipeline)
    texts = ["John visited London", "good movie"]
    assert_same_outputs([nlp(t) for t in texts], [all_heads_saved[0](t) for t in texts])
    assert not marker.exists()


def test_pickled_vectors_are_refused(pipeline, marker):
    # numpy.save of an object array is a pickle: spaCy reads vectors with allow_pickle=False.
    with open(pipeline / "vocab" / "vectors", "wb") as file_:
        numpy.save(file_, numpy.array([Payload(marker)], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="allow_pickle=False"):
        load_without_unpickling(pipeline)
    assert not marker.exists()


def test_tampered_model_package_is_refused(all_heads_saved, tmp_path, marker):
    """`spacy package` (no build) and a load through the package's __init__.py, as installed."""
    _, folder = all_heads_saved
    run_module("spacy", "package", str(folder), str(tmp_path), "--build", "none", cwd=tmp_path)
    (init_py,) = tmp_path.glob("*/*/__init__.py")
    # As the package's setup.py does when it builds.
    shutil.copy(init_py.parent.parent / "meta.json", init_py.parent)
    with forbid_unpickling() as calls:
        nlp = load_model_from_init_py(init_py)
    assert calls == [] and nlp.pipe_names == ["transformer", "ner", "textcat", "qa"]
    (model_path,) = init_py.parent.glob("*/transformer/model")
    edit_encoder_message(model_path, lambda msg: plant_torch_save(msg, marker))
    with pytest.raises(WeightsFormatError, match=f"{model_path}: expected the encoder weights"):
        with forbid_unpickling() as calls:
            load_model_from_init_py(init_py)
    assert calls == [] and not marker.exists()
