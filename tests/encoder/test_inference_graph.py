"""`inference_graph = "compiled"`: fp32 predictions through torch.compile of the encoder.

Compiling takes seconds even for the tiny BERT, so the module-scoped pipeline compiles once and
the tests share it; the tests that need a fresh predictor say why.
"""

import os

import numpy
import pytest
import spacy
import torch
from util import adam, both_examples, qa_docs, qa_examples, qa_nlp, qa_outputs, train_steps

TEXTS = ["john visited london", "a longer text than the others , about paris and berlin"]


def three_head_examples(nlp):
    return both_examples(nlp) + qa_examples(nlp)


@pytest.fixture(scope="module")
def nlp(tiny_bert):
    nlp = qa_nlp(tiny_bert, ("ner", "textcat"), transformer={"keep_trf_data": True})
    nlp.initialize(lambda: three_head_examples(nlp))
    train_steps(nlp, three_head_examples(nlp), adam(), 10)
    return nlp


def predictions(nlp, graph, batch_size=8):
    encoder = nlp.get_pipe("transformer")
    previous = encoder.inference_graph
    encoder.set_inference_graph(graph)
    try:
        return list(
            nlp.pipe(qa_docs(nlp) + [nlp.make_doc(t) for t in TEXTS], batch_size=batch_size)
        )
    finally:
        encoder.set_inference_graph(previous)


def assert_same(eager_docs, compiled_docs):
    for a, b in zip(eager_docs, compiled_docs):
        ha = a._.trf_data.model_output.last_hidden_state
        hb = b._.trf_data.model_output.last_hidden_state
        numpy.testing.assert_allclose(hb, ha, rtol=1e-4, atol=1e-5)
        assert [(e.start, e.end, e.label_) for e in a.ents] == [
            (e.start, e.end, e.label_) for e in b.ents
        ]
        for label, score in a.cats.items():
            assert abs(score - b.cats[label]) < 1e-5
        if a._.question:  # QA's pair pass (token type ids, another mask dtype) is compiled too
            numpy.testing.assert_allclose(qa_outputs(b)[1], qa_outputs(a)[1], rtol=1e-4, atol=1e-4)


def compiled_predictor(nlp):
    return nlp.get_pipe("transformer").model.shim._compiled_predictor()


@pytest.mark.parametrize("batch_size", [1, 8])
def test_compiled_predictions_equal_eager(nlp, batch_size):
    eager = predictions(nlp, "eager", batch_size)
    compiled = predictions(nlp, "compiled", batch_size)
    assert_same(eager, compiled)
    predictor = compiled_predictor(nlp)
    assert predictor.eager_reason is None
    assert predictor._compiled is not None  # it did run compiled


def test_a_training_step_switches_to_eager_with_a_warning(tiny_bert):
    # Its own pipeline: the shared one must keep compiling.
    nlp = qa_nlp(tiny_bert, ("ner", "textcat"), transformer={"keep_trf_data": True})
    nlp.initialize(lambda: three_head_examples(nlp))
    predictions(nlp, "compiled")  # compiled on the initial weights
    encoder = nlp.get_pipe("transformer")
    encoder.set_inference_graph("compiled")
    with pytest.warns(UserWarning, match="weights changed in training"):
        train_steps(nlp, three_head_examples(nlp), adam(), 3)
    assert "training" in compiled_predictor(nlp).eager_reason
    # Stale frozen weights would give the initial model's outputs.
    assert_same(predictions(nlp, "eager"), predictions(nlp, "compiled"))


def test_setting_survives_save_and_load_time_override(nlp, tmp_path):
    nlp.to_disk(tmp_path / "eager")
    override = {"components": {"transformer": {"inference_graph": "compiled"}}}
    loaded = spacy.load(tmp_path / "eager", config=override)
    assert loaded.get_pipe("transformer").inference_graph == "compiled"
    loaded.to_disk(tmp_path / "compiled")
    again = spacy.load(tmp_path / "compiled")
    assert again.get_pipe("transformer").inference_graph == "compiled"
    assert_same(predictions(nlp, "eager"), list(again.pipe(qa_docs(again) + TEXTS)))
    assert compiled_predictor(again)._compiled is not None


def assert_new_weights_make_a_new_copy(nlp, graph, current_copy):
    """After the weights change with their versions bumped (as load_state_dict does), `graph`
    predicts as eager does, from a new copy of the module (`current_copy()` is another object)."""
    shim = nlp.get_pipe("transformer").model.shim
    predictions(nlp, graph)
    before = current_copy()
    saved = {k: v.clone() for k, v in shim._model.state_dict().items()}
    try:
        with torch.no_grad():
            for param in shim._model.parameters():
                param.mul_(0.5)  # bumps the versions, as load_state_dict does
        assert_same(predictions(nlp, "eager"), predictions(nlp, graph))
        assert current_copy() is not before
    finally:
        shim._model.load_state_dict(saved)


def test_loading_new_weights_compiles_again(nlp):
    assert_new_weights_make_a_new_copy(nlp, "compiled", lambda: compiled_predictor(nlp)._compiled)


def test_unknown_graph_is_refused(tiny_bert):
    with pytest.raises(ValueError, match="inference_graph must be one of eager, packed, compiled"):
        qa_nlp(tiny_bert, ("ner",), transformer={"inference_graph": "exported"})


def test_a_failed_compile_runs_eagerly_with_a_warning(nlp, monkeypatch):
    def refuse(*args, **kwargs):
        raise RuntimeError("no C++ compiler")

    shim = nlp.get_pipe("transformer").model.shim
    # A fresh predictor, nothing compiled yet; the fixture's is put back afterwards.
    monkeypatch.delitem(shim.__dict__, "_compiled_predict", raising=False)
    monkeypatch.setattr(torch, "compile", lambda *a, **k: refuse)
    with pytest.warns(UserWarning, match="compiling failed .RuntimeError: no C.. compiler"):
        compiled = predictions(nlp, "compiled")
    assert_same(predictions(nlp, "eager"), compiled)
    assert "compiling failed" in compiled_predictor(nlp).eager_reason


def test_bad_input_raises_the_modules_own_error(nlp):
    from thinc.api import ArgsKwargs

    shim = nlp.get_pipe("transformer").model.shim
    too_long = torch.ones((1, 500), dtype=torch.long)  # past the tiny BERT's 128 positions
    shim.set_inference_graph("compiled")
    try:
        with pytest.raises((IndexError, RuntimeError)):
            shim.predict(ArgsKwargs(args=(), kwargs={"input_ids": too_long}))
    finally:
        shim.set_inference_graph("eager")
    assert compiled_predictor(nlp).eager_reason is None  # the input's fault, not compiling's


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_drops_the_parents_graphs(nlp):
    # The parent's kernels would wake an OpenMP pool the child lacks (a hang with the real
    # encoder; the tiny one's kernels are too small to run in parallel): the child compiles anew.
    predictions(nlp, "compiled")
    predictor = compiled_predictor(nlp)
    assert predictor._compiled is not None
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave without running pytest's exit handlers
        os.write(write_end, b"dropped" if predictor._compiled is None else b"kept")
        os._exit(0)
    os.close(write_end)
    reported = os.read(read_end, 16)
    os.waitpid(pid, 0)
    assert reported == b"dropped"
    assert predictor._compiled is not None  # the parent keeps its own


def test_concurrent_calls_leave_inductors_settings_as_they_were(nlp):
    import threading

    import torch._inductor.config as inductor_config

    before = (inductor_config.freezing, inductor_config.compile_threads)
    predictions(nlp, "compiled")  # compiled before the threads start
    encoder = nlp.get_pipe("transformer")
    encoder.set_inference_graph("compiled")
    errors = []

    def predict_many():
        try:
            for _ in range(5):
                list(nlp.pipe(TEXTS * 3, batch_size=2))
        except Exception as error:  # reported below, with the thread's error
            errors.append(error)

    threads = [threading.Thread(target=predict_many) for _ in range(3)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        encoder.set_inference_graph("eager")
    assert not errors
    assert (inductor_config.freezing, inductor_config.compile_threads) == before
