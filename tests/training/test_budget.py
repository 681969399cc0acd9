"""Budgets in epochs, evaluations that score the last step, checkpoints that carry their own scores."""

import pytest
import spacy
import srsly
from spacy import util
from spacy.training.batchers import minibatch_by_padded_size
from training_runs import train_with_cli, training_config, write_corpus
from typer.testing import CliRunner

from spacy_bert_tasks.cli import app
from spacy_bert_tasks.qa.corpus import QACorpus
from spacy_bert_tasks.training.batcher import configure_batch_by_task
from spacy_bert_tasks.training.budget import (
    doc_lengths,
    evaluation_schedule,
    steps_for_epochs,
)

runner = CliRunner()


@pytest.mark.parametrize("asked", [1, 5, 50, 60, 300, 400, 899, 900, 901, 20000, 20001])
def test_the_last_step_is_an_evaluation(asked):
    max_steps, every = evaluation_schedule(asked)
    assert max_steps % every == 0
    assert every <= 200
    assert asked <= max_steps < asked + max(4, asked / 200) + 1
    assert max_steps // every >= min(4, asked)


def test_steps_for_epochs_count_padded_batches(tmp_path):
    corpus = write_corpus(tmp_path / "corpus")
    lengths = doc_lengths(corpus)
    assert {task: len(group) for task, group in lengths.items()} == {
        "ner": 4,
        "textcat": 4,
        "qa": 4,
    }
    all_docs = [range(n) for group in lengths.values() for n in group]
    per_epoch = len(list(minibatch_by_padded_size(all_docs, 20)))
    assert per_epoch > 1
    assert steps_for_epochs(corpus, 3, batch_size=20) == 3 * per_epoch
    assert steps_for_epochs(corpus / "ner.spacy", 1, batch_size=1000) == 1
    with pytest.raises(FileNotFoundError, match="missing"):
        steps_for_epochs(tmp_path / "missing", 1, batch_size=20)


@pytest.mark.parametrize("size", [20, 60, 1000])
def test_steps_for_epochs_by_task_count_what_the_task_batcher_makes(tmp_path, size):
    """One task per batch: each task's docs are batched apart, so a joint corpus makes more
    batches than when mixed, and the count matches batch_by_task.v1's epoch."""
    corpus = write_corpus(tmp_path / "corpus")
    nlp = spacy.blank("en")
    examples = list(QACorpus(corpus)(nlp))
    batches = list(configure_batch_by_task(size, seed=0)(examples))
    assert sum(len(batch) for batch in batches) == len(examples)
    assert steps_for_epochs(corpus, 1, batch_size=size, by_task=True) == len(batches)
    assert steps_for_epochs(corpus, 1, batch_size=size, by_task=True) >= steps_for_epochs(
        corpus, 1, batch_size=size
    )
    assert steps_for_epochs(corpus, 1, batch_size=1000, by_task=True) == 3  # one per task


def test_init_config_sizes_the_budget_in_epochs(tmp_path, tiny_bert):
    corpus = write_corpus(tmp_path / "corpus")
    out = tmp_path / "config.cfg"
    args = ["init-config", str(out), "--tasks", "ner,textcat,qa", "--encoder", tiny_bert]
    result = runner.invoke(app, args + ["--epochs", "40", "--train", str(corpus)])
    assert result.exit_code == 0, result.output
    training = util.load_config(out)["training"]
    expected = evaluation_schedule(steps_for_epochs(corpus, 40, batch_size=1000, by_task=True))
    assert (training["max_steps"], training["eval_frequency"]) == tuple(expected)
    assert training["optimizer"]["learn_rate"]["total_steps"] == training["max_steps"]
    result = runner.invoke(app, args + ["--epochs", "2"])
    assert result.exit_code == 1 and "--train" in result.output


def test_model_best_and_model_last_carry_their_own_scores(tmp_path, tiny_bert):
    """The generated schedule (10 steps, evaluated every 2) scores the last step."""
    corpus = write_corpus(tmp_path / "corpus")
    config = training_config(tiny_bert, max_steps=10, eval_frequency=1)
    config["training"]["eval_frequency"] = evaluation_schedule(10).eval_frequency
    result, out, records = train_with_cli(config, tmp_path, corpus)
    assert result.exit_code == 0, result.output
    assert records[-1]["step"] == 10
    last = srsly.read_json(out / "model-last" / "meta.json")["performance"]
    best = srsly.read_json(out / "model-best" / "meta.json")["performance"]
    best_record = max(records, key=lambda r: (r["score"], -r["step"]))
    for meta, record in ((last, records[-1]), (best, best_record)):
        assert meta["qa_f1"] * 100 == pytest.approx(record["scores"]["qa_f1"])
        assert meta["ents_f"] * 100 == pytest.approx(record["scores"]["ents_f"])
    # QA trains the encoder: its loss is logged (it was 0.00 for a QA-only run).
    assert all(r["losses"]["transformer"] > 0 for r in records[1:])
