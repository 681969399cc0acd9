"""The `bert_ner` head: the component checklist of STYLE.md on the tiny BERT."""

import numpy
import pytest
from spacy.tokens import Doc, Span
from spacy.training import Example
from util import (
    NER_DATA,
    NER_LABELS,
    assert_same_outputs,
    encoder_only_initialized,
    initialized_nlp,
    make_nlp,
    ner_examples,
    round_trip_bytes,
    round_trip_disk,
    trained_nlp,
    unannotated_example,
)

from spacy_bert_tasks.ner import BertEntityRecognizer

TEXTS = [text for text, _ in NER_DATA] + ["Paris is good", "John"]


@pytest.fixture(scope="module")
def trained(tiny_bert):
    return trained_nlp(tiny_bert, ("ner",), ner_examples, 30)


def test_add_pipe_links_to_encoder(tiny_bert):
    nlp = make_nlp(tiny_bert, ("ner",))
    ner = nlp.get_pipe("ner")
    assert isinstance(ner, BertEntityRecognizer)
    assert nlp.pipe_names == ["transformer", "ner"]
    assert nlp.get_pipe("transformer").listening_components == ["ner"]
    assert ner.labels == ()
    with pytest.raises(ValueError, match="Unknown tag scheme"):
        nlp.add_pipe("bert_ner", name="ner2", config={"tag_scheme": "IOE"})


def test_predict_before_initialize_is_a_clear_error(tiny_bert):
    nlp = encoder_only_initialized(tiny_bert, "ner", ner_examples)
    with pytest.raises(ValueError, match="'ner' is not initialized"):
        nlp("John visited London")


def test_initialize_labels(tiny_bert):
    nlp = initialized_nlp(tiny_bert, ("ner",), ner_examples)
    ner = nlp.get_pipe("ner")
    assert ner.labels == NER_LABELS
    assert ner.tags[0] == "O" and len(ner.tags) == 1 + 4 * len(NER_LABELS)
    with pytest.raises(ValueError, match="after it was initialized"):
        ner.add_label("ORG")
    nlp = make_nlp(tiny_bert, ("ner",))
    with pytest.raises(ValueError, match="found no entity labels"):
        nlp.initialize(lambda: [unannotated_example(nlp, "the river")])
    # Labels given in [initialize.components.ner] win over the examples'.
    nlp = make_nlp(tiny_bert, ("ner",))
    nlp.config["initialize"]["components"]["ner"] = {"labels": ["ORG", "PER"]}
    nlp.initialize(lambda: ner_examples(nlp))
    assert nlp.get_pipe("ner").labels == ("ORG", "PER")
    # spans_key = null: entities only in doc.ents.
    nlp = initialized_nlp(tiny_bert, ("ner",), ner_examples, ner={"spans_key": None})
    doc = nlp("John visited London")
    assert "ents" not in doc.spans and doc.has_annotation("ENT_IOB")


def test_overfits_toy_set(trained):
    nlp, examples = trained
    scores = nlp.evaluate(examples)
    assert scores["ents_f"] == 1.0
    assert set(scores["ents_per_type"]) == set(NER_LABELS)


def test_bio_scheme_overfits_toy_set(tiny_bert, trained):
    nlp, examples = trained_nlp(tiny_bert, ("ner",), ner_examples, 30, ner={"tag_scheme": "BIO"})
    assert nlp.get_pipe("ner").tags == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    assert nlp.evaluate(examples)["ents_f"] == 1.0
    # Both schemes find the same entities on the training texts.
    biluo_nlp, _ = trained
    for doc, biluo_doc in zip(nlp.pipe(TEXTS[:4]), biluo_nlp.pipe(TEXTS[:4])):
        assert [(e.start, e.end, e.label_) for e in doc.ents] == [
            (e.start, e.end, e.label_) for e in biluo_doc.ents
        ]


def test_entity_scores_in_unit_interval(trained):
    nlp, _ = trained
    for doc in nlp.pipe(TEXTS):
        group = doc.spans["ents"]
        assert [(s.start, s.end, s.label_) for s in group] == [
            (e.start, e.end, e.label_) for e in doc.ents
        ]
        scores = group.attrs["scores"]
        assert len(scores) == len(group)
        assert all(0 < score <= 1 for score in scores)


def test_empty_one_token_and_very_long_docs(trained):
    nlp, _ = trained
    empty = nlp("")
    assert empty.ents == () and len(empty.spans["ents"]) == 0
    for blank in ("   ", "\n"):
        doc = nlp(blank)
        assert doc.ents == () and len(doc.spans["ents"]) == 0
    one = nlp("John")
    assert len(one) == 1 and one.has_annotation("ENT_IOB")
    assert [(e.text, e.label_) for e in one.ents] == [("John", "PER")]
    sentence = "John visited London yesterday"
    long_doc = nlp(" ".join([sentence] * 500))
    assert len(long_doc) == 2000
    assert all(token.ent_iob_ in ("B", "I", "O") for token in long_doc)
    expected = [(4 * i, 4 * i + 1, "PER") for i in range(500)]
    expected += [(4 * i + 2, 4 * i + 3, "LOC") for i in range(500)]
    assert sorted((e.start, e.end, e.label_) for e in long_doc.ents) == sorted(expected)
    assert len(long_doc.spans["ents"].attrs["scores"]) == 1000


def test_pipe_equals_call(trained):
    nlp, _ = trained
    texts = TEXTS + ["", "Mary"]
    assert_same_outputs(nlp.pipe(texts, batch_size=3), [nlp(text) for text in texts])


def test_disk_round_trip(trained, tmp_path):
    nlp, _ = trained
    loaded = round_trip_disk(nlp, tmp_path)
    assert loaded.pipe_names == ["transformer", "ner"]
    assert loaded.get_pipe("ner").labels == NER_LABELS
    assert_same_outputs(loaded.pipe(TEXTS), nlp.pipe(TEXTS))


def test_bytes_round_trip(trained):
    nlp, _ = trained
    loaded = round_trip_bytes(nlp)
    assert_same_outputs(loaded.pipe(TEXTS), nlp.pipe(TEXTS))


def test_missing_entity_annotation_is_masked(trained):
    nlp, _ = trained
    ner = nlp.get_pipe("ner")
    n_tags = len(ner.tags)
    missing = unannotated_example(nlp, "Mary visited Paris")
    text = "Mary visited Paris"
    annotated = Example.from_dict(nlp.make_doc(text), {"entities": ["U-PER", "O", "U-LOC"]})
    partial = Example.from_dict(nlp.make_doc(text), {"entities": ["U-PER", "-", "O"]})
    probs = [numpy.full((3, n_tags), 1 / n_tags, dtype="f") for _ in range(3)]
    loss, d_probs = ner.get_loss([missing, annotated, partial], probs)
    assert not numpy.asarray(d_probs[0]).any()
    assert numpy.asarray(d_probs[1]).any(axis=1).all()
    assert [bool(row.any()) for row in numpy.asarray(d_probs[2])] == [True, False, True]
    # Loss counts the five known tokens only: -log(1/n_tags) each.
    assert loss == pytest.approx(5 * numpy.log(n_tags), rel=1e-5)
    loss_missing, _ = ner.get_loss([missing], probs[:1])
    assert loss_missing == 0.0


def test_misaligned_gold_entity_is_masked(trained):
    nlp, _ = trained
    ner = nlp.get_pipe("ner")
    predicted = nlp.make_doc("JohnSmith visited Paris")
    # The gold tokenization puts an entity boundary inside the predicted token "JohnSmith".
    words, spaces = ["Jo", "hnSmith", "visited", "Paris"], [False, True, True, False]
    reference = Doc(nlp.vocab, words=words, spaces=spaces)
    reference.ents = [Span(reference, 1, 2, "PER"), Span(reference, 3, 4, "LOC")]
    eg = Example(predicted, reference)
    n_tags = len(ner.tags)
    loss, d_probs = ner.get_loss([eg], [numpy.full((3, n_tags), 1 / n_tags, dtype="f")])
    assert [bool(row.any()) for row in numpy.asarray(d_probs[0])] == [False, True, True]
    assert loss == pytest.approx(2 * numpy.log(n_tags), rel=1e-5)


def test_batch_without_entity_annotation_is_skipped(trained):
    nlp, _ = trained
    losses = nlp.get_pipe("ner").update([unannotated_example(nlp, "good movie")])
    assert losses == {"ner": 0.0}
