"""Odd and wrong inputs to `bert_qa`: what users' data holds, and how misuse of `ask` is told."""

import pytest
from hardening import randomize_heads
from util import QA_DATA, answer_outputs, assert_same_group, qa_doc, qa_examples, qa_nlp, qa_outputs

CONTEXT = QA_DATA[0][0]


@pytest.fixture(scope="module")
def nlp(tiny_bert):
    nlp = qa_nlp(tiny_bert)
    nlp.initialize(lambda: qa_examples(nlp))
    randomize_heads(nlp, seed=0)  # so that there are answers to compare
    return nlp


def test_lone_surrogates_in_a_question_read_as_replacement_characters(nlp):
    # json.loads('"who \\ud83d ?"') gives such a string; the tokenizer rejected the whole batch.
    doc = nlp(qa_doc(nlp, CONTEXT, "who \ud83d visited\udc00 london ?"))
    same = nlp(qa_doc(nlp, CONTEXT, "who \ufffd visited\ufffd london ?"))
    assert len(doc.spans["answers"]) > 0
    assert_same_group(qa_outputs(doc), qa_outputs(same))
    context = nlp.make_doc(CONTEXT)  # held: a span group dies with its doc
    (group,) = nlp.get_pipe("qa").ask([context], [["\ud800"]])[0]
    assert_same_group(answer_outputs(group), qa_outputs(nlp(qa_doc(nlp, CONTEXT, "\ufffd"))))


@pytest.mark.parametrize("question", [42, b"who ?", ["who ?"]])
def test_a_question_that_is_not_a_string_is_a_clear_error(nlp, question):
    doc = qa_doc(nlp, CONTEXT, "who ?")
    doc._.question = question
    with pytest.raises(TypeError, match=r"expected doc\._\.question to be a str"):
        nlp(doc)


def test_ask_wants_docs(nlp):
    with pytest.raises(TypeError, match=r"ask expected Doc objects, got a str; pass nlp\.make_doc"):
        nlp.get_pipe("qa").ask([CONTEXT], [["who ?"]])


def test_ask_wants_one_question_list_per_doc(nlp):
    docs = [nlp.make_doc(CONTEXT), nlp.make_doc("mary works in paris")]
    with pytest.raises(ValueError, match="got 2 docs and 1 lists"):
        nlp.get_pipe("qa").ask(docs, [["who ?"]])
    with pytest.raises(ValueError, match="got 1 docs and 2 lists"):
        nlp.get_pipe("qa").ask(docs[:1], [["who ?"], ["where ?"]])


@pytest.mark.parametrize("questions", [["who visited london ?"], [[None]], [[3]]])
def test_ask_wants_lists_of_strings(nlp, questions):
    # A bare string used to be asked one character at a time.
    with pytest.raises(TypeError, match="a list of question strings per doc"):
        nlp.get_pipe("qa").ask([nlp.make_doc(CONTEXT)], questions)
