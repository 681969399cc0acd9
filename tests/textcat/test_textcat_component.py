"""The `bert_textcat` head: exclusive and multi-label, missing cats, scorer, checklist."""

import numpy
import pytest
from spacy.training import Example
from util import (
    CAT_LABELS,
    CATS_DATA,
    MULTILABEL_DATA,
    assert_same_outputs,
    cats_examples,
    encoder_only_initialized,
    make_nlp,
    ner_examples,
    predicted_examples,
    round_trip_bytes,
    round_trip_disk,
    trained_nlp,
    unannotated_example,
)

from spacy_bert_tasks.textcat import BertTextCategorizer, score_known_cats

TEXTS = [text for text, _ in CATS_DATA] + ["good film", "John"]
MULTILABEL = {"model": {"exclusive_classes": False}}


@pytest.fixture(scope="module")
def exclusive(tiny_bert):
    return trained_nlp(tiny_bert, ("textcat",), cats_examples, 30)


@pytest.fixture(scope="module")
def multilabel(tiny_bert):
    return trained_nlp(
        tiny_bert,
        ("textcat",),
        lambda nlp: cats_examples(nlp, MULTILABEL_DATA),
        30,
        textcat=MULTILABEL,
    )


def test_add_pipe_links_to_encoder(tiny_bert):
    nlp = make_nlp(tiny_bert, ("textcat",))
    textcat = nlp.get_pipe("textcat")
    assert isinstance(textcat, BertTextCategorizer)
    assert nlp.get_pipe("transformer").listening_components == ["textcat"]
    assert not textcat.multi_label
    assert make_nlp(tiny_bert, ("textcat",), textcat=MULTILABEL).get_pipe("textcat").multi_label


def test_predict_before_initialize_is_a_clear_error(tiny_bert):
    nlp = encoder_only_initialized(tiny_bert, "textcat", cats_examples)
    with pytest.raises(ValueError, match="'textcat' could not be run.*initialize"):
        nlp("good movie")


def test_exclusive_overfits(exclusive):
    nlp, examples = exclusive
    scores = nlp.evaluate(examples)
    assert scores["cats_score"] == 1.0
    assert scores["cats_accuracy"] == 1.0
    for doc in nlp.pipe(TEXTS):
        assert set(doc.cats) == set(CAT_LABELS)
        assert sum(doc.cats.values()) == pytest.approx(1.0, abs=1e-5)


def test_multilabel_overfits(multilabel):
    nlp, examples = multilabel
    assert nlp.evaluate(examples)["cats_macro_f"] == 1.0
    for eg, doc in zip(examples, nlp.pipe(eg.reference.text for eg in examples)):
        predicted = {label for label, score in doc.cats.items() if score >= 0.5}
        assert predicted == {label for label, value in eg.reference.cats.items() if value}


@pytest.fixture(params=["exclusive", "multilabel"])
def either(request):
    """Each trained pipeline in turn: exclusive, then multi-label."""
    return request.getfixturevalue(request.param)


def test_doc_without_cats_has_zero_gradient_row(either):
    nlp, examples = either
    textcat = nlp.get_pipe("textcat")
    labels = textcat.labels
    batch = [examples[0], unannotated_example(nlp, "good movie"), examples[1]]
    scores = numpy.full((3, len(labels)), 0.5, dtype="f")
    loss, d_scores = textcat.get_loss(batch, scores)
    d_scores = numpy.asarray(d_scores)
    assert not d_scores[1].any()
    assert d_scores[0].any() and d_scores[2].any()
    assert loss > 0
    loss_alone, _ = textcat.get_loss(batch[1:2], scores[1:2])
    assert loss_alone == 0.0


def test_multilabel_label_missing_from_cats_is_masked(multilabel):
    nlp, _ = multilabel
    textcat = nlp.get_pipe("textcat")
    eg = Example.from_dict(nlp.make_doc("good film"), {"cats": {"POSITIVE": 1.0}})
    scores = numpy.full((1, len(textcat.labels)), 0.5, dtype="f")
    _, d_scores = textcat.get_loss([eg], scores)
    row = dict(zip(textcat.labels, numpy.asarray(d_scores)[0]))
    assert row["FILM"] == 0.0 and row["POSITIVE"] == pytest.approx(-0.5)


def test_batch_without_cats_is_skipped(exclusive):
    nlp, _ = exclusive
    assert nlp.get_pipe("textcat").update(ner_examples(nlp)) == {"textcat": 0.0}


def test_scorer_ignores_docs_without_gold_cats(either):
    nlp, examples = either
    textcat = nlp.get_pipe("textcat")
    predicted = predicted_examples(nlp, examples)
    extra = [unannotated_example(nlp, text) for text in ("good movie", "John visited London")]
    extra = predicted_examples(nlp, extra)
    kwargs = {"labels": textcat.labels, "multi_label": textcat.multi_label}
    alone = score_known_cats(predicted, **kwargs)
    mixed = score_known_cats(predicted[:2] + extra + predicted[2:], **kwargs)
    assert alone["cats_docs_without_gold"] == 0
    assert mixed["cats_docs_without_gold"] == 2
    for key in ("cats_score", "cats_micro_f", "cats_macro_f", "cats_f_per_type"):
        assert mixed[key] == alone[key], key
    assert alone["cats_score"] == 1.0
    # The component's own scoring goes through the same scorer.
    assert nlp.get_pipe("textcat").score(predicted[:2] + extra)["cats_docs_without_gold"] == 2


def test_scorer_accuracy_exclusive_only(exclusive, multilabel):
    nlp, examples = exclusive
    predicted = predicted_examples(nlp, examples)
    scores = score_known_cats(predicted, labels=CAT_LABELS, multi_label=False)
    assert scores["cats_accuracy"] == 1.0
    scores = score_known_cats(predicted, labels=CAT_LABELS, multi_label=True)
    assert "cats_accuracy" not in scores


def test_disk_round_trip(either, tmp_path):
    nlp, _ = either
    loaded = round_trip_disk(nlp, tmp_path)
    assert loaded.get_pipe("textcat").multi_label == nlp.get_pipe("textcat").multi_label
    assert_same_outputs(loaded.pipe(TEXTS), nlp.pipe(TEXTS))


def test_bytes_round_trip(either):
    nlp, _ = either
    assert_same_outputs(round_trip_bytes(nlp).pipe(TEXTS), nlp.pipe(TEXTS))


def test_pipe_equals_call(either):
    nlp, _ = either
    assert_same_outputs(nlp.pipe(TEXTS, batch_size=4), [nlp(text) for text in TEXTS])


def test_empty_doc(exclusive):
    nlp, _ = exclusive
    doc = nlp("")
    assert set(doc.cats) == set(CAT_LABELS)
    assert all(0.0 <= score <= 1.0 for score in doc.cats.values())


def test_empty_doc_pipe_equals_call(exclusive):
    nlp, _ = exclusive
    texts = ["", "good movie"]
    assert_same_outputs(nlp.pipe(texts), [nlp(text) for text in texts])
