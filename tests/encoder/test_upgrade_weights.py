"""`upgrade-weights`: pipelines saved with torch.save weights become loadable, unchanged."""

import pytest
import spacy
from saved_pipelines import encoder_messages, forbid_unpickling, pickle_traces
from spacy_transformers.layers.hf_shim import HFShim
from typer.testing import CliRunner
from util import assert_same_outputs

from spacy_bert_tasks.cli import app
from spacy_bert_tasks.encoder.serialization import SafeHFShim, WeightsFormatError

runner = CliRunner()


def printed(result) -> str:
    """The command's output with wasabi's line wrapping undone."""
    return " ".join(result.output.split())


TEXTS = ["John visited London yesterday", "good movie"]


@pytest.fixture
def old_pipeline(all_heads_saved, tmp_path, monkeypatch):
    """The all-heads pipeline saved as before safetensors: by spacy-transformers' HFShim."""
    nlp, _ = all_heads_saved
    with monkeypatch.context() as patch:
        patch.setattr(SafeHFShim, "to_bytes", HFShim.to_bytes)
        nlp.to_disk(tmp_path / "old")
    return tmp_path / "old"


def test_old_pipeline_is_refused_then_upgraded(all_heads_saved, old_pipeline):
    assert any("transformer/model" in trace for trace in pickle_traces(old_pipeline))
    with pytest.raises(WeightsFormatError, match="upgrade-weights"):
        spacy.load(old_pipeline)
    result = runner.invoke(app, ["upgrade-weights", str(old_pipeline)])
    assert result.exit_code == 0, result.output
    assert f"Converted {old_pipeline / 'transformer' / 'model'}" in printed(result)
    assert pickle_traces(old_pipeline) == []
    (msg,) = encoder_messages(old_pipeline / "transformer" / "model")
    assert msg["weights_format"] == "safetensors"
    with forbid_unpickling():
        loaded = spacy.load(old_pipeline)
    nlp, _ = all_heads_saved
    assert_same_outputs([loaded(text) for text in TEXTS], [nlp(text) for text in TEXTS])
    # A second run finds nothing to do and changes nothing.
    before = (old_pipeline / "transformer" / "model").read_bytes()
    result = runner.invoke(app, ["upgrade-weights", str(old_pipeline)])
    assert result.exit_code == 0 and "nothing to convert" in printed(result)
    assert (old_pipeline / "transformer" / "model").read_bytes() == before


def test_folder_without_config_fails_clearly(tmp_path):
    result = runner.invoke(app, ["upgrade-weights", str(tmp_path)])
    assert result.exit_code == 1
    assert f"{tmp_path / 'config.cfg'}: expected a saved pipeline's config.cfg" in printed(result)
