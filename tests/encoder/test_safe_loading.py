"""Saved pipelines hold no pickle: encoder weights are safetensors, and loading never unpickles."""

import spacy
import torch
from safetensors.torch import load as load_safetensors
from saved_pipelines import encoder_messages, forbid_unpickling, pickle_traces
from util import (
    QA_DATA,
    assert_same_answers,
    assert_same_outputs,
    encoder_params,
    make_nlp,
    qa_docs,
    round_trip_bytes,
)

from spacy_bert_tasks.encoder.serialization import WEIGHTS_FORMAT

TEXTS = ["John visited London yesterday", "good movie", "Mary works in Paris"]


def test_saved_pipeline_holds_no_pickle(all_heads_saved):
    _, folder = all_heads_saved
    assert pickle_traces(folder) == []


def test_stock_encoder_pickles_weights(tiny_bert, tmp_path):
    # The check above can fail: spacy-transformers' own encoder saves torch.save output.
    nlp = make_nlp(tiny_bert, (), factory="transformer")
    nlp.initialize()
    nlp.to_disk(tmp_path / "stock")
    assert any("transformer/model" in trace for trace in pickle_traces(tmp_path / "stock"))


def test_encoder_weights_are_the_torch_parameters(all_heads_saved):
    nlp, folder = all_heads_saved
    (msg,) = encoder_messages(folder / "transformer" / "model")
    assert msg["weights_format"] == WEIGHTS_FORMAT
    saved = load_safetensors(msg["state"])
    params = encoder_params(nlp)
    assert set(params) <= set(saved)
    for name, param in params.items():
        assert torch.equal(saved[name], param.detach()), name
    # One copy of the weights: no head saves an encoder of its own.
    for name in ("ner", "textcat", "qa"):
        assert encoder_messages(folder / name / "model") == []


def outputs_of(nlp):
    """Docs through the whole pipeline: plain texts (NER, cats), then QA pairs."""
    return [nlp(text) for text in TEXTS], list(nlp.pipe(qa_docs(nlp)))


def assert_same_pipeline_outputs(nlp, loaded):
    docs, qa = outputs_of(nlp)
    loaded_docs, loaded_qa = outputs_of(loaded)
    assert_same_outputs(docs, loaded_docs)
    assert_same_answers(qa, loaded_qa)
    assert all(doc.spans["answers"] for doc in loaded_qa) and len(loaded_qa) == len(QA_DATA)


def assert_qa_reads_loaded_encoder(loaded):
    encoder = loaded.get_pipe("transformer")
    assert loaded.get_pipe("qa").encoder is encoder
    # The module the QA pass runs is the loaded encoder's, which holds the loaded weights.
    assert encoder.model.shim._model is encoder.model.transformer


def test_spacy_load_never_unpickles_and_gives_same_outputs(all_heads_saved):
    nlp, folder = all_heads_saved
    with forbid_unpickling() as calls:
        loaded = spacy.load(folder)
    assert calls == []
    assert_qa_reads_loaded_encoder(loaded)
    assert_same_pipeline_outputs(nlp, loaded)
    for name, param in encoder_params(loaded).items():
        assert torch.equal(param, encoder_params(nlp)[name]), name


def test_bytes_round_trip_never_unpickles_and_gives_same_outputs(all_heads_saved):
    nlp, _ = all_heads_saved
    data = nlp.to_bytes()
    assert not any(trace in data for trace in (b"PK\x03\x04", b"data.pkl", b"torch._utils"))
    with forbid_unpickling() as calls:
        loaded = round_trip_bytes(nlp)
    assert calls == []
    assert_qa_reads_loaded_encoder(loaded)
    assert_same_pipeline_outputs(nlp, loaded)


def test_head_with_its_own_encoder_saves_safetensors(all_heads_saved, tmp_path):
    # nlp.replace_listeners gives the head a copy of the encoder, saved in the head's model file.
    _, folder = all_heads_saved
    nlp = spacy.load(folder)
    nlp.replace_listeners("transformer", "ner", ["model.tok2vec"])
    nlp.to_disk(tmp_path / "replaced")
    assert pickle_traces(tmp_path / "replaced") == []
    (msg,) = encoder_messages(tmp_path / "replaced" / "ner" / "model")
    assert msg["weights_format"] == WEIGHTS_FORMAT
    with forbid_unpickling() as calls:
        loaded = spacy.load(tmp_path / "replaced")
    assert calls == []
    assert_same_outputs([loaded(text) for text in TEXTS], [nlp(text) for text in TEXTS])
