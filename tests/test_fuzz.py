"""Fuzz: wild texts and questions through all three heads, by `nlp`, `nlp.pipe` and `ask`.

Nothing may raise, no doc may be dropped or changed, and every entity and answer must be a
non-empty span inside its doc (see `hardening.doc_problems`). Texts come from three sources, at
least 10,000 in all: a seeded generator (one big `nlp.pipe` call), hypothesis (batches per
example, so that shrinking finds the smallest failing batch), and named edge cases.
"""

import random
import warnings

import pytest
from hardening import (
    GLUES,
    SPECIAL_PIECES,
    WORDS,
    answer_group_problems,
    doc_problems,
    edge_texts,
    three_head_nlp,
    wild_text,
    wild_texts,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from util import assert_same_answers, assert_same_outputs

N_SEEDED = 6500
# Hypothesis: examples, and texts per example (at least 150 * 25 = 3,750 texts).
N_EXAMPLES, MIN_BATCH, MAX_BATCH = 150, 25, 40
QUESTION_SHARE = 0.25
FUZZ_SETTINGS = settings(
    max_examples=N_EXAMPLES,
    deadline=None,
    database=None,  # the working tree is shared: no .hypothesis/ folder
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Any character but lone surrogates (spaCy's tokenizer refuses them in a text), and the pieces
# that break naive code, glued into texts.
any_char = st.characters(exclude_categories=["Cs"])
piece = st.one_of(
    st.text(any_char, max_size=12),
    st.sampled_from(SPECIAL_PIECES),
    st.sampled_from(WORDS),
    st.sampled_from(GLUES),
)
texts_strategy = st.lists(piece, max_size=16).map("".join)
questions_strategy = st.one_of(texts_strategy, st.text(any_char, max_size=300), st.just(""))


@pytest.fixture(scope="module")
def nlp(tiny_bert):
    return three_head_nlp(tiny_bert)


@pytest.fixture(autouse=True)
def quiet():
    # The one expected warning: a token longer than the encoder's limit (the CJK edge case).
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*longer than the encoder's limit")
        yield


def asking(nlp, texts, questions):
    """Fresh docs of `texts`, each asking its question (None: no question)."""
    docs = [nlp.make_doc(text) for text in texts]
    for doc, question in zip(docs, questions):
        doc._.question = question
    return docs


def assert_all_well(docs, texts):
    docs = list(docs)
    assert len(docs) == len(texts), "docs were dropped"
    problems = [problem for doc, text in zip(docs, texts) for problem in doc_problems(doc, text)]
    assert problems == [], "\n".join(problems[:20])


def test_seeded_wild_texts_through_pipe(nlp):
    texts = wild_texts(N_SEEDED, seed=0)
    rng = random.Random(1)
    questions = [wild_text(rng) if rng.random() < QUESTION_SHARE else None for _ in texts]
    docs = list(nlp.pipe(asking(nlp, texts, questions), batch_size=256))
    assert_all_well(docs, texts)
    # The heads saw something: untrained heads with zero weights would pass the checks blind.
    assert sum(len(doc.ents) for doc in docs) > N_SEEDED
    assert (
        sum(len(doc.spans["answers"]) > 0 for doc in docs if doc._.question is not None)
        > N_SEEDED / 10
    )


def test_pipe_equals_call_on_wild_texts(nlp):
    texts = wild_texts(200, seed=2)
    questions = [text[:20] if i % 3 == 0 else None for i, text in enumerate(texts)]
    piped = list(nlp.pipe(asking(nlp, texts, questions), batch_size=64))
    called = [nlp(doc) for doc in asking(nlp, texts, questions)]
    assert_all_well(called, texts)
    assert_same_outputs(piped, called)
    assert_same_answers(piped, called)


@pytest.mark.parametrize("name", list(edge_texts()))
def test_edge_texts(nlp, name):
    text = edge_texts()[name]
    (doc,) = asking(nlp, [text], ["who visited london ?"])
    assert_all_well([nlp(doc)], [text])
    # Between ordinary texts in one batch, with and without a question.
    texts = ["john visited london", text, "good movie", text]
    assert_all_well(nlp.pipe(asking(nlp, texts, [None, None, "who ?", "who ?"])), texts)


def test_hypothesis_batches_through_pipe(nlp):
    n_texts = []

    @FUZZ_SETTINGS
    @given(
        batch=st.lists(
            st.tuples(texts_strategy, st.none() | questions_strategy),
            min_size=MIN_BATCH,
            max_size=MAX_BATCH,
        ),
        batch_size=st.integers(1, 64),
    )
    def check(batch, batch_size):
        texts, questions = zip(*batch)
        assert_all_well(nlp.pipe(asking(nlp, texts, questions), batch_size=batch_size), texts)
        n_texts.append(len(texts))

    check()
    assert sum(n_texts) >= N_EXAMPLES * MIN_BATCH


def test_hypothesis_questions_through_ask(nlp):
    n_questions = []

    @FUZZ_SETTINGS
    @given(contexts=st.lists(texts_strategy, min_size=1, max_size=4), data=st.data())
    def check(contexts, data):
        docs = [nlp.make_doc(text) for text in contexts]
        questions = [data.draw(st.lists(questions_strategy, max_size=4)) for _ in docs]
        answers = nlp.get_pipe("qa").ask(docs, questions)
        assert [len(groups) for groups in answers] == [len(q) for q in questions]
        problems = [
            p
            for doc, groups in zip(docs, answers)
            for g in groups
            for p in answer_group_problems(doc, g)
        ]
        assert problems == [], "\n".join(problems[:20])
        assert all(group.doc is doc for doc, groups in zip(docs, answers) for group in groups)
        n_questions.append(sum(len(q) for q in questions))

    check()
    assert sum(n_questions) > N_EXAMPLES


ODD_QUESTIONS = {
    "empty": "",
    "blank": " \t\n",
    "controls": "\x00\x01\x1b[2J\x7f",
    "zero-width": "\u200b\u200d\ufeff",
    "huge": "who visited london ? " * 1000,  # 21,000 chars: cut to max_question_length
    "one huge word": "x" * 20_000,
    "RTL": "מי ביקר בלונדון ?",
    "emoji": "\U0001f468\u200d\U0001f469\u200d\U0001f467 ?" * 50,
    "lone surrogates": "who \ud83d ?",
}


@pytest.mark.parametrize("name", list(ODD_QUESTIONS))
def test_odd_questions_through_ask_and_pipe(nlp, name):
    question = ODD_QUESTIONS[name]
    contexts = ["john visited london yesterday", "", " ", edge_texts()["very long line"][:3000]]
    docs = [nlp.make_doc(text) for text in contexts]
    answers = nlp.get_pipe("qa").ask(docs, [[question]] * len(docs))
    for doc, (group,) in zip(docs, answers):
        assert answer_group_problems(doc, group) == []
    assert_all_well(nlp.pipe(asking(nlp, contexts, [question] * len(contexts))), contexts)
