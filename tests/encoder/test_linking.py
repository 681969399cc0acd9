"""Heads stay linked to the encoder through rename, sourcing, freezing and replace_listeners."""

import pytest
import spacy
import torch
from util import (
    adam,
    assert_same_outputs,
    both_examples,
    encoder_params,
    initialized_nlp,
    ner_examples,
    outputs,
    round_trip_disk,
    snapshot,
    train_steps,
    trained_nlp,
)

TEXTS = ["John visited London yesterday", "good movie", "Mary works in Paris"]


@pytest.fixture(scope="module")
def trained(tiny_bert):
    return trained_nlp(tiny_bert, ("ner", "textcat"), both_examples, 15)[0]


def fresh_copy(nlp, tmp_path):
    """An independent copy of the trained pipeline (tests below change theirs)."""
    return round_trip_disk(nlp, tmp_path)


def test_renamed_encoder_keeps_heads_linked(trained, tmp_path):
    nlp = fresh_copy(trained, tmp_path)
    expected = [outputs(doc) for doc in nlp.pipe(TEXTS)]
    nlp.rename_pipe("transformer", "encoder")
    assert nlp.get_pipe("encoder").listening_components == ["ner", "textcat"]
    assert [outputs(doc) for doc in nlp.pipe(TEXTS)] == expected
    assert nlp(TEXTS[0])._.trf_data is None
    with nlp.select_pipes(disable=["encoder"]):
        with pytest.raises(ValueError, match="encoder 'encoder'"):
            nlp(TEXTS[0])


def test_sourced_encoder_and_one_head(trained, tmp_path):
    # Sourced components are the source's objects (spaCy shares them): source from a loaded copy,
    # as `spacy assemble` and [components.x] source = "..." do.
    source = fresh_copy(trained, tmp_path)
    nlp = spacy.blank("en")
    nlp.add_pipe("transformer", source=source)
    nlp.add_pipe("ner", source=source)
    assert nlp.get_pipe("transformer").listening_components == ["ner"]
    doc = nlp(TEXTS[0])
    # NER is now the last head: it releases the encoder output.
    assert doc._.trf_data is None
    assert outputs(doc)[:2] == outputs(trained(TEXTS[0]))[:2]


def test_frozen_annotating_encoder_trains_heads_only(tiny_bert):
    # frozen_components = annotating_components = ["transformer"] in spacy train.
    nlp = initialized_nlp(tiny_bert, ("ner",), ner_examples)
    examples = ner_examples(nlp)
    before = snapshot(nlp)
    train_steps(nlp, examples, adam(), 30, frozen=["transformer"])
    assert all(torch.equal(p, before[name]) for name, p in encoder_params(nlp).items())
    assert nlp.evaluate(examples)["ents_f"] == 1.0


def test_replace_listeners_ner_round_trip(trained, tmp_path):
    nlp = fresh_copy(trained, tmp_path / "copy")
    expected = [outputs(doc) for doc in nlp.pipe(TEXTS)]
    nlp.replace_listeners("transformer", "ner", ["model.tok2vec"])
    assert nlp.get_pipe("transformer").listening_components == ["textcat"]
    # In memory the NER head now owns an encoder copy and predicts as before.
    assert [outputs(doc)[:2] for doc in nlp.pipe(TEXTS)] == [e[:2] for e in expected]
    assert_same_outputs(round_trip_disk(nlp, tmp_path / "replaced").pipe(TEXTS), nlp.pipe(TEXTS))


def test_replace_listeners_textcat(trained, tmp_path):
    nlp = fresh_copy(trained, tmp_path)
    expected = [outputs(doc)[2] for doc in nlp.pipe(TEXTS)]
    nlp.replace_listeners("transformer", "textcat", ["model.tok2vec"])
    assert nlp.get_pipe("transformer").listening_components == ["ner"]
    assert [outputs(doc)[2] for doc in nlp.pipe(TEXTS)] == expected


def test_removed_encoder_unlinks_the_listening_heads(trained, tmp_path):
    nlp = fresh_copy(trained, tmp_path)
    nlp.remove_pipe("transformer")
    with pytest.raises(ValueError, match="No encoder is linked to this listener"):
        nlp(TEXTS[0])
