"""Pair windows `[CLS] question [SEP] context [SEP]`: sizes, segments, overlap, gold positions;
long, empty and unanswerable inputs through the component."""

import numpy
import pytest
import spacy
from conftest import TINY_WORDS
from hypothesis import given, settings
from hypothesis import strategies as st
from util import QA_DATA, QA_SETTINGS, qa_doc, qa_examples, qa_outputs, trained_qa_nlp

from spacy_bert_tasks.qa.windows import answer_positions, encode_pairs

STRIDE = QA_SETTINGS["doc_stride"]
QUESTION = "who visited london ?"  # 4 wordpieces: windows of 32 hold 25 context wordpieces
# 60 one-wordpiece words: 4 windows (25 context wordpieces, then 17 new ones per window).
LONG = " ".join(["john visited london yesterday and mary works in paris with paul at"] * 5)
# Long contexts whose answer ends them.
END_DATA = [
    (LONG + " berlin", "where is paul ?", "berlin"),
    (LONG + " google", "who is a company ?", "google"),
    (LONG + " in new york", "what is the capital of france ?", "new york"),
]
# SQuAD 2.0: the same contexts asked questions they do not answer.
NO_ANSWER_DATA = [
    ("john visited london yesterday", "where is google ?", None),
    ("mary works in paris", "who met the bank ?", None),
    ("the president met the bank", "who visited london ?", None),
]


@pytest.fixture(scope="module")
def tokenizer(tiny_bert):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_bert)


def windows_of(tokenizer, questions, contexts, **overrides):
    return encode_pairs(tokenizer, questions, contexts, **{**QA_SETTINGS, **overrides})


def words(text):
    return spacy.blank("en").make_doc(text)


def context_positions(windows, i):
    return numpy.flatnonzero(windows.sequence_ids[i] == 1)


def positions(windows, answer):
    """answer_positions of a (start_char, end_char) answer in each window."""
    return [
        answer_positions(windows.offsets[i], windows.sequence_ids[i], answer)
        for i in range(len(windows))
    ]


def char_span(windows, i, start, end):
    """The context characters of window i's wordpieces start..end (inclusive)."""
    return int(windows.offsets[i][start, 0]), int(windows.offsets[i][end, 1])


def end_data(nlp):
    return qa_examples(nlp, END_DATA + QA_DATA)


def with_no_answers(nlp):
    return qa_examples(nlp, QA_DATA + NO_ANSWER_DATA)


@pytest.fixture(scope="module")
def end_trained(tiny_bert):
    return trained_qa_nlp(tiny_bert, end_data, 30)


@pytest.fixture(scope="module")
def squad2(tiny_bert):
    return trained_qa_nlp(tiny_bert, with_no_answers, 40, learn_rate=0.003, allow_no_answer=True)


def test_long_context_windows(tokenizer):
    windows = windows_of(tokenizer, [QUESTION, "who ?"], [LONG, "john visited london"])
    assert windows.pair_of_window == [0, 0, 0, 0, 1]
    assert windows.n_truncated_questions == 0
    for i in range(len(windows)):
        ids, types = windows.input_ids[i], numpy.asarray(windows.token_type_ids[i])
        seq = windows.sequence_ids[i]
        assert len(ids) <= QA_SETTINGS["max_seq_length"]
        assert len(ids) == len(types) == len(seq) == len(windows.offsets[i])
        assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
        # Segment 0: [CLS] question [SEP]; segment 1: context [SEP].
        assert (types[seq == 0] == 0).all() and (types[seq == 1] == 1).all()
        first_context = context_positions(windows, i)[0]
        assert (types[:first_context] == 0).all() and (types[first_context:] == 1).all()
        question = QUESTION if windows.pair_of_window[i] == 0 else "who ?"
        question_ids = numpy.asarray(ids)[seq == 0]
        assert tokenizer.convert_ids_to_tokens(question_ids) == tokenizer.tokenize(question)
    # Every context wordpiece is in some window, in order.
    starts = [windows.offsets[i][context_positions(windows, i), 0] for i in range(4)]
    assert sorted(set(numpy.concatenate(starts).tolist())) == [token.idx for token in words(LONG)]


def test_windows_overlap_by_doc_stride(tokenizer):
    windows = windows_of(tokenizer, [QUESTION], [LONG])
    for i in range(len(windows) - 1):
        before = windows.offsets[i][context_positions(windows, i)]
        after = windows.offsets[i + 1][context_positions(windows, i + 1)]
        assert (before[-STRIDE:] == after[:STRIDE]).all()
        # Beyond the overlap, the next window starts on new context.
        assert after[STRIDE, 0] > before[-1, 0]


def test_chunks_group_by_length_and_prediction_order_runs_them_longest_first(tokenizer):
    contexts = [LONG, "john visited london", " ".join(LONG.split()[:30]), "mary works"]
    windows = windows_of(tokenizer, [QUESTION] * 4, contexts)
    lengths = [len(ids) for ids in windows.input_ids]
    shortest_first = list(windows.chunks(2))
    assert sorted(i for chunk in shortest_first for i in chunk) == list(range(len(windows)))
    widths = [max(lengths[i] for i in chunk) for chunk in shortest_first]
    assert widths == sorted(widths) and widths[0] < widths[-1]
    # The same chunks, the longest first (prediction: see PairWindows.chunks).
    assert list(windows.chunks(2, longest_first=True)) == shortest_first[::-1]


def test_answer_across_a_window_boundary(tokenizer):
    windows = windows_of(tokenizer, [QUESTION], [LONG])
    first, second = context_positions(windows, 0), context_positions(windows, 1)
    # The last overlap wordpiece (in both windows) and the next one (in the second only).
    start, end = second[STRIDE - 1], second[STRIDE]
    answer = char_span(windows, 1, start, end)
    assert positions(windows, answer)[:3] == [(0, 0), (start, end), (0, 0)]
    # The word before the overlap (in the first window only) and the first overlap wordpiece.
    start, end = first[-STRIDE - 1], first[-STRIDE]
    assert positions(windows, char_span(windows, 0, start, end))[:2] == [(start, end), (0, 0)]
    # From the word before the overlap to the word after it: whole in no window.
    answer = (int(windows.offsets[0][start, 0]), int(windows.offsets[1][second[STRIDE], 1]))
    assert positions(windows, answer) == [(0, 0)] * len(windows)


def test_answer_at_the_end_of_a_long_context_positions(tokenizer):
    context, question, answer = END_DATA[0]
    windows = windows_of(tokenizer, [question], [context])
    assert len(windows) >= 3
    gold = (len(context) - len(answer), len(context))
    last = context_positions(windows, len(windows) - 1)[-1]
    assert positions(windows, gold) == [(0, 0)] * (len(windows) - 1) + [(last, last)]
    assert positions(windows, None) == [(0, 0)] * len(windows)


def test_answer_at_the_end_of_a_long_context_is_found(end_trained):
    nlp, examples = end_trained
    for context, question, answer in END_DATA:
        doc = nlp(qa_doc(nlp, context, question))
        best = doc.spans["answers"][0]
        assert (best.text, best.end) == (answer, len(doc))
    assert nlp.evaluate(examples)["qa_exact"] == 1.0


@settings(max_examples=40, deadline=None)
@given(
    context_words=st.lists(st.sampled_from(TINY_WORDS), min_size=1, max_size=80),
    question=st.lists(st.sampled_from(TINY_WORDS), min_size=0, max_size=12),
    stride=st.integers(1, 12),
    data=st.data(),
)
def test_short_answers_are_whole_in_some_window(tokenizer, context_words, question, stride, data):
    # Windows overlap by `stride` wordpieces, so any span of up to stride + 1 wordpieces (here
    # words: one wordpiece each) lies whole in one window, where its positions map back to it.
    context = " ".join(context_words)
    windows = windows_of(tokenizer, [" ".join(question)], [context], doc_stride=stride)
    assert all(len(ids) <= QA_SETTINGS["max_seq_length"] for ids in windows.input_ids)
    assert windows.n_truncated_questions == int(len(question) > QA_SETTINGS["max_question_length"])
    first = data.draw(st.integers(0, len(context_words) - 1))
    last = data.draw(st.integers(first, min(len(context_words) - 1, first + stride)))
    doc = words(context)
    answer = (doc[first].idx, doc[last].idx + len(doc[last]))
    found = [
        char_span(windows, i, start, end)
        for i, (start, end) in enumerate(positions(windows, answer))
        if (start, end) != (0, 0)
    ]
    assert found and all(span == answer for span in found)


def test_long_question_is_cut(tokenizer, end_trained):
    long_question = "who is the president of the bank in new york ?"  # 11 wordpieces
    windows = windows_of(tokenizer, [long_question, QUESTION], [LONG, LONG])
    assert windows.n_truncated_questions == 1
    for i in range(len(windows)):
        n_question = int((windows.sequence_ids[i] == 0).sum())
        expected = QA_SETTINGS["max_question_length"] if windows.pair_of_window[i] == 0 else 4
        assert n_question == expected
        assert len(windows.input_ids[i]) <= QA_SETTINGS["max_seq_length"]
    nlp, _ = end_trained
    with pytest.warns(UserWarning, match="1 question.* longer than max_question_length = 8"):
        doc = nlp(qa_doc(nlp, LONG, long_question))
    assert len(doc.spans["answers"]) > 0


@pytest.mark.parametrize("context, question", [("", QUESTION), (LONG, ""), ("", ""), ("  ", "who")])
def test_empty_question_or_context(tokenizer, end_trained, context, question):
    windows = windows_of(tokenizer, [question], [context])
    assert len(windows) >= 1
    nlp, _ = end_trained
    spans, scores, texts, no_answer, _ = qa_outputs(nlp(qa_doc(nlp, context, question)))
    # Without allow_no_answer, "no answer" is never the prediction: an empty group instead.
    assert no_answer is False
    if context.strip():
        assert spans and texts[0] in context
    else:
        assert spans == scores == texts == []


def test_empty_context_with_no_answer_allowed(squad2):
    nlp, _ = squad2
    spans, _, _, no_answer, _ = qa_outputs(nlp(qa_doc(nlp, "", QUESTION)))
    assert spans == [] and no_answer is True


def test_learns_to_say_no_answer(squad2):
    nlp, examples = squad2
    for context, question, answer in QA_DATA + NO_ANSWER_DATA:
        doc = nlp(qa_doc(nlp, context, question))
        spans, scores, texts, no_answer, _ = qa_outputs(doc)
        assert no_answer is (answer is None), (question, texts[:1])
        if answer is not None:
            assert texts[0] == doc._.answer.text == answer
        else:
            assert doc._.answer is None
        # The "no answer" option takes part in the probabilities but has no span.
        assert sum(scores) < 1.0 and len(scores) == len(spans)
    scores = nlp.evaluate(examples)
    assert scores["qa_no_ans_exact"] == 1.0
    assert scores["qa_has_ans_exact"] == 1.0
    assert scores["qa_exact"] == 1.0
