"""Pre-training on a tiny BERT: the loss falls, a resumed run equals an uninterrupted one, the
output is an encoder that init-config and spaCy training accept."""

import json
import os
import signal

import pytest
import spacy
import torch
from safetensors.torch import load_file
from util import adam, make_nlp, ner_examples, train_steps

from spacy_bert_tasks.config import generate_config
from spacy_bert_tasks.pretrain import loop
from spacy_bert_tasks.pretrain.data import DataSettings
from spacy_bert_tasks.pretrain.loop import TrainSettings
from spacy_bert_tasks.pretrain.model import HEADS_FILE, load_starting_point
from spacy_bert_tasks.pretrain.run import pretrain

SMALL = DataSettings(max_length=32, stride=8, batch_tokens=256, heldout_share=0.1)


def _run(raw, out_dir, encoder, *, data=SMALL, **train):
    settings = TrainSettings(
        **{"learn_rate": 2e-3, "warmup_share": 0.1, "eval_every": 1000, **train}
    )
    return pretrain(
        raw,
        out_dir,
        encoder=encoder,
        data_settings=data,
        train_settings=settings,
        echo=lambda text: None,
    )


def _weights(out_dir):
    return {
        **load_file(str(out_dir / "encoder" / "model.safetensors")),
        **load_file(str(out_dir / HEADS_FILE)),
    }


def test_masked_lm_loss_falls_on_a_toy_corpus(tiny_bert, toy_raw, tmp_path):
    meta = _run(toy_raw, tmp_path / "out", tiny_bert, max_steps=60, log_every=5)
    assert meta["mlm_head"] == "initialized" and meta["nsp_head"] == "not trained"
    assert meta["heldout_perplexity_after"] < 0.5 * meta["heldout_perplexity_before"]
    records = [
        json.loads(line)
        for line in (tmp_path / "out" / "pretrain_log.jsonl").read_text().splitlines()
    ]
    losses = [r["mlm_loss"] for r in records if "mlm_loss" in r]
    assert len(losses) == 12 and losses[-1] < 0.7 * losses[0]
    assert records[-1]["step"] == 60 and records[-1]["words_per_second"] > 0
    assert not (tmp_path / "out" / "checkpoint").exists()  # removed once the run is exported


def _interrupt_at(monkeypatch, step, how):
    calls = []
    real_step = loop.train_step

    def step_then_interrupt(*args, **kwargs):
        calls.append(1)
        if len(calls) == step:
            if how == "ctrl-c":
                os.kill(os.getpid(), signal.SIGINT)  # arrives mid-step: the step still finishes
            else:
                raise RuntimeError("simulated crash")
        return real_step(*args, **kwargs)

    monkeypatch.setattr(loop, "train_step", step_then_interrupt)


@pytest.mark.parametrize("how,nsp", [("ctrl-c", False), ("crash", True)])
def test_resume_gives_the_weights_of_an_uninterrupted_run(
    tiny_bert, toy_raw, tmp_path, monkeypatch, how, nsp
):
    # Batches of 256 padded tokens: an epoch is a few steps, so the run crosses epochs; dropout on.
    data = DataSettings(max_length=32, stride=8, batch_tokens=256, heldout_share=0.1, nsp=nsp)
    options = dict(data=data, max_steps=14, checkpoint_every=4, eval_every=5)
    _run(toy_raw, tmp_path / "whole", tiny_bert, **options)
    with monkeypatch.context() as patch:
        _interrupt_at(patch, 7, how)
        with pytest.raises(KeyboardInterrupt if how == "ctrl-c" else RuntimeError):
            _run(toy_raw, tmp_path / "cut", tiny_bert, **options)
    saved = json.loads((tmp_path / "cut" / "checkpoint" / "position.json").read_text())["position"]
    assert saved["step"] == (7 if how == "ctrl-c" else 4)
    with pytest.raises(ValueError, match="--resume"):
        _run(toy_raw, tmp_path / "cut", tiny_bert, **options)
    with pytest.raises(ValueError, match="learn_rate"):
        pretrain(
            toy_raw,
            tmp_path / "cut",
            encoder=tiny_bert,
            data_settings=data,
            resume=True,
            train_settings=TrainSettings(
                learn_rate=1e-3, max_steps=14, checkpoint_every=4, eval_every=5
            ),
            echo=lambda t: None,
        )
    pretrain(
        toy_raw,
        tmp_path / "cut",
        encoder=tiny_bert,
        data_settings=data,
        resume=True,
        train_settings=TrainSettings(
            learn_rate=2e-3, warmup_share=0.1, max_steps=14, checkpoint_every=4, eval_every=5
        ),
        echo=lambda t: None,
    )
    whole, resumed = _weights(tmp_path / "whole"), _weights(tmp_path / "cut")
    assert whole.keys() == resumed.keys()
    assert all(torch.equal(whole[key], resumed[key]) for key in whole)
    # The log holds each step once, as the uninterrupted run's does.
    steps = [
        json.loads(line)["step"]
        for line in (tmp_path / "cut" / "pretrain_log.jsonl").read_text().splitlines()
    ]
    assert steps == [
        json.loads(line)["step"]
        for line in (tmp_path / "whole" / "pretrain_log.jsonl").read_text().splitlines()
    ]


def test_output_feeds_init_config_and_spacy_training(tiny_bert, toy_raw, tmp_path):
    out_dir = tmp_path / "adapted"
    _run(toy_raw, out_dir, tiny_bert, max_steps=3)
    config = generate_config(["ner"], encoder=str(out_dir), max_steps=2)
    assert config["components"]["transformer"]["model"]["name"] == str(out_dir)
    nlp = spacy.util.load_model_from_config(config, auto_fill=True)
    examples = ner_examples(nlp)
    nlp.initialize(lambda: examples)
    module, _ = nlp.get_pipe("transformer").hf_encoder()
    exported = load_file(str(out_dir / "encoder" / "model.safetensors"))
    assert all(torch.equal(module.state_dict()[key], exported[key]) for key in exported)
    assert not any(key.startswith("cls.") for key in exported)  # the heads stay beside the encoder
    before = {key: value.clone() for key, value in module.state_dict().items()}
    losses = train_steps(nlp, examples, adam(), 2)
    assert losses["ner"] > 0
    assert any(not torch.equal(before[key], value) for key, value in module.state_dict().items())


def test_start_from_a_pipeline_or_an_earlier_output(tiny_bert, all_heads_saved, toy_raw, tmp_path):
    nlp, folder = all_heads_saved
    start = load_starting_point(str(folder))
    module, _ = nlp.get_pipe("transformer").hf_encoder()
    assert all(
        torch.equal(start.model.bert.state_dict()[k], v) for k, v in module.state_dict().items()
    )
    assert start.mlm_head == "initialized"
    assert (
        start.model.cls.predictions.decoder.weight
        is start.model.bert.embeddings.word_embeddings.weight
    )
    _run(toy_raw, tmp_path / "first", str(folder), max_steps=2)
    again = load_starting_point(str(tmp_path / "first"))
    assert again.mlm_head == "loaded"
    heads = load_file(str(tmp_path / "first" / HEADS_FILE))
    assert all(torch.equal(again.model.cls.state_dict()[k], v) for k, v in heads.items())


def test_freeze_encoder_trains_the_heads_only(tiny_bert, toy_raw, tmp_path):
    meta = _run(toy_raw, tmp_path / "probe", tiny_bert, max_steps=5, freeze_encoder=True)
    torch.manual_seed(0)  # as the run seeds before it initializes the heads
    start = load_starting_point(tiny_bert)
    exported = load_file(str(tmp_path / "probe" / "encoder" / "model.safetensors"))
    assert all(
        torch.equal(start.model.bert.state_dict()[key], value) for key, value in exported.items()
    )
    heads = load_file(str(tmp_path / "probe" / HEADS_FILE))
    assert torch.equal(
        heads["seq_relationship.weight"], start.model.cls.seq_relationship.weight
    )  # same start
    assert not torch.equal(
        heads["predictions.transform.dense.weight"],
        start.model.cls.predictions.transform.dense.weight,
    )
    assert meta["heldout_perplexity_after"] < meta["heldout_perplexity_before"]


def test_an_uninitialized_encoder_has_no_weights_to_hand_out(tiny_bert):
    nlp = make_nlp(tiny_bert, heads=("ner",))
    with pytest.raises(ValueError, match="has no weights yet"):
        nlp.get_pipe("transformer").hf_encoder()
    nlp.initialize(lambda: ner_examples(nlp))
    module, tokenizer = nlp.get_pipe("transformer").hf_encoder()
    assert module.config.model_type == "bert" and tokenizer.is_fast
