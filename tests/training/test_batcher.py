"""spacy-bert-tasks.batch_by_task.v1: each task's share of an epoch, one task per padded batch."""

from collections import Counter

import pytest
import spacy
from spacy.training import Example
from spacy.util import registry
from training_runs import train_with_cli, training_config, write_corpus

from spacy_bert_tasks.qa.extensions import install_qa_extensions
from spacy_bert_tasks.training.batcher import example_task
from spacy_bert_tasks.training.exposure import EXPOSURE

SIZE = 200


def toy_epoch():
    """60 short textcat docs (5 tokens) and 40 long QA docs (50 tokens) and 10 NER docs (10)."""
    install_qa_extensions()
    nlp = spacy.blank("en")
    examples = []
    for i in range(60):
        examples.append(
            Example.from_dict(nlp.make_doc(" ".join(["good"] * 5)), {"cats": {"POS": 1.0}})
        )
    for i in range(40):
        doc = nlp.make_doc(" ".join(["context"] * 50))
        doc._.question = "what?"
        examples.append(Example(doc.copy(), doc))
    for i in range(10):
        examples.append(Example.from_dict(nlp.make_doc(" ".join(["Paris"] * 10)), {"entities": []}))
    return examples


def tokens_by_task(batches):
    counts = Counter()
    for batch in batches:
        tasks = {example_task(eg) for eg in batch}
        assert len(tasks) == 1, tasks  # one task per batch
        assert max(len(eg) for eg in batch) * len(batch) <= SIZE
        counts[tasks.pop()] += sum(len(eg) for eg in batch)
    return counts


def test_task_of_a_doc_comes_from_its_annotation():
    examples = toy_epoch()
    assert [example_task(eg) for eg in (examples[0], examples[60], examples[100])] == [
        "textcat",
        "qa",
        "ner",
    ]
    nlp = spacy.blank("en")
    both = Example.from_dict(nlp.make_doc("Paris is nice"), {"entities": [], "cats": {"POS": 1.0}})
    assert example_task(both) == "ner+textcat"
    assert example_task(Example(nlp.make_doc("x"), nlp.make_doc("x"))) == "unannotated"


@pytest.mark.parametrize("shares", ["corpus", "equal", "temperature"])
def test_each_task_gets_its_share_of_the_epoch(shares):
    make = registry.batchers.get("spacy-bert-tasks.batch_by_task.v1")
    batcher = make(SIZE, shares=shares, temperature=2.0, seed=0)
    examples = toy_epoch()
    counts = tokens_by_task(batcher(examples))
    total = 300 + 2000 + 100
    if shares == "corpus":  # every doc once
        assert counts == {"textcat": 300, "qa": 2000, "ner": 100}
    elif shares == "equal":
        for task in ("textcat", "qa", "ner"):
            assert total / 3 <= counts[task] < total / 3 + 50  # a doc at most past the share
    else:
        weights = {"textcat": 300**0.5, "qa": 2000**0.5, "ner": 100**0.5}
        for task, weight in weights.items():
            share = weight / sum(weights.values()) * total
            assert share <= counts[task] < share + 50


def test_batches_are_spread_over_the_epoch_and_seeded():
    make = registry.batchers.get("spacy-bert-tasks.batch_by_task.v1")
    first = [example_task(b[0]) for b in make(SIZE, shares="equal", seed=1)(toy_epoch())]
    again = [example_task(b[0]) for b in make(SIZE, shares="equal", seed=1)(toy_epoch())]
    assert first == again
    half = first[: len(first) // 2]
    assert set(half) == {"textcat", "qa", "ner"}  # not one task after the other


def test_bad_settings_are_clear_errors():
    make = registry.batchers.get("spacy-bert-tasks.batch_by_task.v1")
    with pytest.raises(ValueError, match="shares must be one of"):
        make(SIZE, shares="tokens")
    with pytest.raises(ValueError, match="temperature"):
        make(SIZE, shares="temperature", temperature=0)


def test_training_log_reports_each_tasks_exposure(tmp_path, tiny_bert):
    corpus = write_corpus(tmp_path / "corpus")
    config = training_config(tiny_bert, max_steps=6, eval_frequency=3)
    config["training"]["batcher"] = {
        "@batchers": "spacy-bert-tasks.batch_by_task.v1",
        "size": 40,
        "shares": "equal",
        "seed": 0,
    }
    result, _, records = train_with_cli(config, tmp_path, corpus)
    assert result.exit_code == 0, result.output
    assert "Exposure: ner" in result.output
    last = records[-1]["exposure"]
    assert set(last) == {"ner", "textcat", "qa"}
    for counts in last.values():
        assert counts["docs"] > 0 and counts["wordpieces"] >= counts["tokens"] > 0
    assert EXPOSURE.snapshot() == last  # the log shows the counter at that step
