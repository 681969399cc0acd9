"""The `bert_qa` head: the component checklist of STYLE.md on the tiny BERT.

The trained pipeline is transformer + textcat + qa, trained on a corpus that mixes cats-only docs
and QA docs, so the checks below also cover a QA head next to a listener head.
"""

import pytest
import spacy
from util import (
    QA_DATA,
    QA_SETTINGS,
    add_qa,
    answer_outputs,
    assert_same_answers,
    assert_same_group,
    cats_examples,
    encoder_config,
    qa_doc,
    qa_docs,
    qa_examples,
    qa_nlp,
    qa_outputs,
    round_trip_bytes,
    round_trip_disk,
    trained_qa_nlp,
)

from spacy_bert_tasks.qa.component import SpanQuestionAnswerer
from spacy_bert_tasks.qa.windows import PairWindows

# A context of 66 one-wordpiece words: 4 windows at QA_SETTINGS; and one of 198 words, longer
# than the tiny BERT's 128 positions (the doc-level pass strides it; QA windows fit anyway).
LONG = " ".join(["john visited london yesterday and mary works in paris with paul"] * 6)
VERY_LONG = " ".join([LONG] * 3)
# QA docs, docs without a question (None) and edge cases, in one stream.
PAIRS = QA_DATA + [
    ("good movie", None, None),
    (LONG, "who met the bank ?", None),
    ("john", "who visited london ?", None),
    ("", "who visited london ?", None),
    (VERY_LONG, "where is mary ?", None),
    ("terrible film", None, None),
]


def mixed_examples(nlp):
    return cats_examples(nlp) + qa_examples(nlp)


@pytest.fixture(scope="module")
def trained(tiny_bert):
    return trained_qa_nlp(tiny_bert, mixed_examples, 30, ("textcat",))


def fail(*args, **kwargs):
    raise AssertionError("this component must not run")


def test_add_pipe_links_to_encoder(tiny_bert):
    nlp = qa_nlp(tiny_bert, ("textcat",))
    qa = nlp.get_pipe("qa")
    assert isinstance(qa, SpanQuestionAnswerer)
    assert qa.encoder is nlp.get_pipe("transformer")
    # Linked through its hook, not as a listener: the doc-level pass is the listeners' only.
    assert nlp.get_pipe("transformer").listening_components == ["textcat"]
    named = add_qa(nlp, name="qa2", upstream="transformer")
    assert named.encoder is nlp.get_pipe("transformer")


def test_no_encoder_before_it_is_a_clear_error(tiny_bert):
    alone = spacy.blank("en")
    qa = add_qa(alone)
    with pytest.raises(ValueError, match="'qa' is not linked to an encoder.*bert_transformer"):
        qa.encoder
    with pytest.raises(ValueError, match="'qa' is not linked to an encoder"):
        alone.initialize(lambda: qa_examples(alone))
    # The encoder after the QA head does not count: it runs too late.
    after = spacy.blank("en")
    add_qa(after)
    after.add_pipe("bert_transformer", name="transformer", config=encoder_config(tiny_bert))
    with pytest.raises(ValueError, match="'qa' is not linked to an encoder"):
        after.initialize(lambda: qa_examples(after))
    other = qa_nlp(tiny_bert, upstream="encoder2")
    with pytest.raises(ValueError, match="upstream setting: 'encoder2'"):
        other.get_pipe("qa").encoder


def test_removed_encoder_unlinks_qa(tiny_bert):
    nlp = qa_nlp(tiny_bert)
    nlp.initialize(lambda: qa_examples(nlp))
    nlp.remove_pipe("transformer")
    with pytest.raises(ValueError, match="not linked to an encoder"):
        nlp(qa_doc(nlp, "john visited london", "who visited london ?"))
    # An encoder added back links it again (spaCy relinks the pipeline on add_pipe).
    nlp.add_pipe(
        "bert_transformer", name="transformer", first=True, config=encoder_config(tiny_bert)
    )
    assert nlp.get_pipe("qa").encoder is nlp.get_pipe("transformer")


def test_predict_before_initialize_is_a_clear_error(tiny_bert):
    nlp = qa_nlp(tiny_bert)
    nlp.get_pipe("transformer").initialize(lambda: qa_examples(nlp), nlp=nlp)
    with pytest.raises(ValueError, match="'qa' is not initialized.*initialize"):
        nlp(qa_doc(nlp, "john visited london", "who visited london ?"))
    with pytest.raises(ValueError, match="'qa' is not initialized"):
        nlp.get_pipe("qa").ask([nlp.make_doc("john visited london")], [["who ?"]])


def test_docs_without_question_are_untouched(trained):
    nlp, _ = trained
    doc = nlp("good movie")
    assert "answers" not in doc.spans
    assert set(doc.cats) == {"NEG", "POS"}
    # Nor does a QA doc get anything but the answers from the QA head.
    doc = nlp(qa_doc(nlp, *QA_DATA[0][:2]))
    assert list(doc.spans) == ["answers"]


def test_overfits_toy_set(trained):
    nlp, examples = trained
    scores = nlp.evaluate(examples)
    assert scores["qa_exact"] == 1.0
    assert scores["qa_f1"] == 1.0
    assert scores["qa_total"] == len(QA_DATA)
    assert scores["qa_docs_without_question"] == len(examples) - len(QA_DATA)
    for (_, _, answer), doc in zip(QA_DATA, nlp.pipe(qa_docs(nlp))):
        assert doc.spans["answers"][0].text == answer


def test_answer_group_attrs(trained):
    nlp, _ = trained
    for (context, question, _), doc in zip(PAIRS, nlp.pipe(qa_docs(nlp, PAIRS))):
        if question is None:
            continue
        spans, scores, texts, no_answer, null = qa_outputs(doc)
        group = doc.spans["answers"]
        assert len(spans) == len(scores) == len(texts)
        assert all(0.0 <= score <= 1.0 for score in scores)
        assert scores == sorted(scores, reverse=True)
        assert no_answer is False  # allow_no_answer is off
        assert isinstance(null, float)
        if context:
            assert texts and texts[0] in context
            # Spans are the answers snapped to whole tokens.
            assert all(text in span.text for text, span in zip(texts, group))
        else:
            assert spans == []


def test_n_best_and_max_answer_length(trained, monkeypatch):
    nlp, _ = trained
    monkeypatch.setitem(nlp.get_pipe("qa").cfg, "n_best", 2)
    monkeypatch.setitem(nlp.get_pipe("qa").cfg, "max_answer_length", 1)
    docs = [doc for doc in nlp.pipe(qa_docs(nlp, PAIRS)) if doc._.question and doc.text]
    # Every word here is one wordpiece: answers of one wordpiece are one token.
    assert all(1 <= len(doc.spans["answers"]) <= 2 for doc in docs)
    assert all(len(span) == 1 for doc in docs for span in doc.spans["answers"])


def test_doc_answer_is_the_best_span(trained):
    nlp, _ = trained
    doc = nlp(qa_doc(nlp, *QA_DATA[0][:2]))
    assert doc._.answer == doc.spans["answers"][0]
    assert doc._.answer.text == QA_DATA[0][2]
    assert nlp("good movie")._.answer is None


def test_custom_spans_key(trained, monkeypatch):
    nlp, examples = trained
    monkeypatch.setitem(nlp.get_pipe("qa").cfg, "spans_key", "qa_answers")
    doc = nlp(qa_doc(nlp, *QA_DATA[0][:2]))
    assert list(doc.spans) == ["qa_answers"]
    assert doc.spans["qa_answers"].name == "qa_answers"
    # The scorer reads the same setting.
    assert nlp.evaluate(examples)["qa_exact"] == 1.0


def test_doc_answer_follows_spans_key(trained, monkeypatch):
    nlp, _ = trained
    monkeypatch.setitem(nlp.get_pipe("qa").cfg, "spans_key", "qa_answers")
    doc = nlp(qa_doc(nlp, *QA_DATA[0][:2]))
    assert doc._.answer is not None and doc._.answer.text == QA_DATA[0][2]


def test_disk_round_trip(trained, tmp_path):
    nlp, examples = trained
    loaded = round_trip_disk(nlp, tmp_path)
    assert loaded.get_pipe("qa").encoder is loaded.get_pipe("transformer")
    assert loaded.get_pipe("qa").cfg == nlp.get_pipe("qa").cfg
    assert_same_answers(loaded.pipe(qa_docs(loaded, PAIRS)), nlp.pipe(qa_docs(nlp, PAIRS)))
    assert loaded.evaluate(examples)["qa_exact"] == 1.0


def test_bytes_round_trip(trained):
    nlp, _ = trained
    loaded = round_trip_bytes(nlp)
    assert loaded.get_pipe("qa").encoder is loaded.get_pipe("transformer")
    assert_same_answers(loaded.pipe(qa_docs(loaded, PAIRS)), nlp.pipe(qa_docs(nlp, PAIRS)))


def test_saved_pipeline_holds_one_copy_of_the_encoder(trained, tmp_path):
    nlp, _ = trained
    nlp.to_disk(tmp_path)
    encoder_size = (tmp_path / "transformer" / "model").stat().st_size
    qa_size = sum(path.stat().st_size for path in (tmp_path / "qa").rglob("*") if path.is_file())
    # The QA head is one 32 -> 2 linear layer; the encoder is the whole BERT.
    assert qa_size < 0.02 * encoder_size
    # Nor does the QA model tree hold the torch module in memory (the optimizer would step it).
    assert not any(node.shims for node in nlp.get_pipe("qa").model.walk())


@pytest.mark.parametrize("batch_size", [1, 2, 7])
def test_pipe_equals_call(trained, batch_size):
    nlp, _ = trained
    expected = [nlp(doc) for doc in qa_docs(nlp, PAIRS)]
    assert_same_answers(nlp.pipe(qa_docs(nlp, PAIRS), batch_size=batch_size), expected)


def test_max_batch_windows_does_not_change_answers(trained, monkeypatch):
    nlp, _ = trained
    expected = list(nlp.pipe(qa_docs(nlp, PAIRS)))
    assert nlp.get_pipe("qa").cfg["max_batch_windows"] > 1  # the default batches windows
    monkeypatch.setitem(nlp.get_pipe("qa").cfg, "max_batch_windows", 1)
    assert_same_answers(nlp.pipe(qa_docs(nlp, PAIRS)), expected)


def test_prediction_encodes_the_longest_windows_first(trained, monkeypatch):
    nlp, _ = trained
    qa = nlp.get_pipe("qa")
    monkeypatch.setitem(qa.cfg, "max_batch_windows", 2)
    widths, wordpieces = [], PairWindows.wordpieces

    def recording(windows, indices, pad_id):
        batch = wordpieces(windows, indices, pad_id)
        widths.append(batch.input_ids.shape[1])
        return batch

    monkeypatch.setattr(PairWindows, "wordpieces", recording)
    list(nlp.pipe(qa_docs(nlp, PAIRS)))
    # One batch of docs: its windows' chunks from the widest down (PairWindows.chunks says why).
    assert len(widths) > 2 and widths == sorted(widths, reverse=True) and widths[0] > widths[-1]


def test_ask_answers_on_the_original_docs_only(trained, monkeypatch):
    nlp, _ = trained
    questions = [[QA_DATA[0][1], "where did john go ?"], [], [QA_DATA[1][1]]]
    docs = [nlp.make_doc(QA_DATA[0][0]), nlp.make_doc("good movie"), nlp.make_doc(QA_DATA[1][0])]
    before = [doc.to_bytes() for doc in docs]
    for name in ("transformer", "textcat"):
        monkeypatch.setattr(type(nlp.get_pipe(name)), "predict", fail)
    answers = nlp.get_pipe("qa").ask(docs, questions)
    monkeypatch.undo()
    assert [len(groups) for groups in answers] == [2, 0, 1]
    assert [doc.to_bytes() for doc in docs] == before
    assert all(not doc.cats and not doc.spans and doc._.question is None for doc in docs)
    for doc, groups, doc_questions in zip(docs, answers, questions):
        for group, question in zip(groups, doc_questions):
            assert group.doc is doc and group.name == "answers"
            assert all(span.doc is doc for span in group)
            # The same answers as the pipeline gives the question on a doc of its own.
            alone = nlp(qa_doc(nlp, doc.text, question))
            assert_same_group(answer_outputs(group), qa_outputs(alone))
    assert answers[0][0][0].text == QA_DATA[0][2]
    assert answers[2][0][0].text == QA_DATA[1][2]


def test_ask_same_doc_twice(trained):
    nlp, _ = trained
    doc = nlp.make_doc(QA_DATA[0][0])
    answers = nlp.get_pipe("qa").ask([doc, doc], [[QA_DATA[0][1]], ["who ?", "where ?"]])
    assert [len(groups) for groups in answers] == [1, 2]


def test_settings_leaving_no_room_for_context_are_rejected(tiny_bert):
    nlp = qa_nlp(tiny_bert)
    settings = {**QA_SETTINGS, "doc_stride": 21}  # 32 - 8 - 3 = 21 context wordpieces per window
    with pytest.raises(ValueError, match="must exceed doc_stride = 21"):
        add_qa(nlp, name="qa2", **settings)
    with pytest.raises(ValueError, match="max_batch_windows must be at least 1"):
        add_qa(nlp, name="qa3", max_batch_windows=0)


def test_windows_longer_than_the_encoder_positions(tmp_path):
    from conftest import write_tiny_bert

    short_bert = str(write_tiny_bert(tmp_path / "bert32", max_position_embeddings=32))
    nlp = qa_nlp(short_bert, max_seq_length=64)
    try:
        nlp.initialize(lambda: qa_examples(nlp))
        doc = nlp(qa_doc(nlp, LONG, "who visited london ?"))
    except ValueError as err:
        assert "max_seq_length" in str(err)
    else:
        assert len(doc.spans["answers"]) > 0
