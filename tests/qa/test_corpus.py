"""spacy-bert-tasks.Corpus.v1: questions reach eg.predicted; other docs go through spaCy's Corpus."""

import json
import warnings

import pytest
import spacy
from spacy.tokens import DocBin
from spacy.util import registry

from spacy_bert_tasks.convert import convert_conll
from spacy_bert_tasks.convert.squad import convert_squad, read_squad
from spacy_bert_tasks.qa.corpus import QACorpus

READER = "spacy-bert-tasks.Corpus.v1"
CONTEXT = "Denver Broncos beat the Carolina Panthers. The game was in Santa Clara."
SQUAD = {
    "version": "v2.0",
    "data": [
        {
            "title": "t",
            "paragraphs": [
                {
                    "context": CONTEXT,
                    "qas": [
                        {
                            "id": "a1",
                            "question": "Who won?",
                            "answers": [{"text": "Denver Broncos", "answer_start": 0}],
                        },
                        {"id": "a2", "question": "Who sang?", "answers": [], "is_impossible": True},
                    ],
                }
            ],
        }
    ],
}
# Two sentences of one document: one NER doc of 5 tokens with sentence starts.
CONLL = "John B-PER\nvisited O\nLondon B-LOC\n\nMary B-PER\nsings O\n"


@pytest.fixture
def corpus_dir(tmp_path):
    folder = tmp_path / "corpus"
    (tmp_path / "squad.json").write_text(json.dumps(SQUAD), encoding="utf8")
    (tmp_path / "ner.conll").write_text(CONLL, encoding="utf8")
    convert_squad(tmp_path / "squad.json", folder / "qa.spacy")
    convert_conll(tmp_path / "ner.conll", folder / "ner.spacy", n_sents=2)
    return folder


def read(path, **settings):
    settings.setdefault("gold_preproc", False)
    corpus = registry.readers.get(READER)(path=path, **settings)
    return corpus, list(corpus(spacy.blank("en")))


def test_reader_copies_the_question_to_predicted(corpus_dir):
    _, examples = read(corpus_dir / "qa.spacy")
    assert [eg.predicted._.question for eg in examples] == ["Who won?", "Who sang?"]
    assert [eg.predicted._.qa_id for eg in examples] == ["a1", "a2"]
    # The gold stays on the reference, as a list of dicts (DocBin gave a tuple back).
    assert all(eg.predicted._.gold_answers is None for eg in examples)
    assert examples[0].reference._.gold_answers == [{"text": "Denver Broncos", "answer_start": 0}]
    assert examples[1].reference._.gold_answers == []
    assert [span.text for span in examples[0].reference.spans["answers"]] == ["Denver Broncos"]
    assert "answers" not in examples[0].predicted.spans
    assert examples[0].predicted.text == CONTEXT


def test_mixed_folder_leaves_other_docs_alone(corpus_dir):
    _, examples = read(corpus_dir)
    # spaCy's Corpus reads a folder's files in sorted order: ner.spacy, then qa.spacy.
    assert [eg.predicted._.question for eg in examples] == [None, "Who won?", "Who sang?"]
    ner = examples[0]
    assert [(ent.text, ent.label_) for ent in ner.reference.ents] == [
        ("John", "PER"),
        ("London", "LOC"),
        ("Mary", "PER"),
    ]
    assert ner.reference._.gold_answers is None and "answers" not in ner.reference.spans


def test_max_length_keeps_qa_docs_whole_and_warns_once(corpus_dir):
    with pytest.warns(UserWarning, match="QA docs are kept whole"):
        corpus, examples = read(corpus_dir, max_length=4)
    # The NER doc (5 tokens) is split into its sentences (3 and 2 tokens); QA docs stay whole.
    assert [len(eg.reference) for eg in examples[:2]] == [3, 2]
    assert [eg.predicted._.question for eg in examples[2:]] == ["Who won?", "Who sang?"]
    assert examples[2].reference.text == CONTEXT
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        list(corpus(spacy.blank("en")))  # a second epoch: warned already
    assert not [w for w in caught if "max_length" in str(w.message)]


def test_qa_docs_with_sentences_are_not_split(tmp_path):
    doc = next(read_squad_file(tmp_path))
    for token in doc:
        token.is_sent_start = token.i == 0 or token.nbor(-1).text == "."
    DocBin(docs=[doc], store_user_data=True).to_disk(tmp_path / "qa.spacy")
    for settings in ({"gold_preproc": True}, {"gold_preproc": False, "max_length": 3}):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, (eg,) = read(tmp_path / "qa.spacy", **settings)
        assert eg.predicted._.question == "Who won?" and eg.predicted.text == CONTEXT


def test_gold_preproc_predicted_doc_from_reference_tokens(corpus_dir):
    _, examples = read(corpus_dir, gold_preproc=True)
    # spaCy splits the NER doc into its sentences; the QA docs stay whole.
    assert [eg.predicted._.question for eg in examples] == [None, None, "Who won?", "Who sang?"]
    qa = examples[2]
    assert [t.text for t in qa.predicted] == [t.text for t in qa.reference]


def test_limit_and_config_resolution(corpus_dir):
    config = {
        "train": {
            "@readers": READER,
            "path": str(corpus_dir / "qa.spacy"),
            "gold_preproc": False,
            "limit": 1,
        }
    }
    corpus = registry.resolve(config)["train"]
    assert isinstance(corpus, QACorpus)
    assert [eg.predicted._.question for eg in corpus(spacy.blank("en"))] == ["Who won?"]


def test_missing_path_is_an_error():
    with pytest.raises(ValueError, match="got None"):
        registry.readers.get(READER)(path=None, gold_preproc=False)


def read_squad_file(tmp_path):
    (tmp_path / "squad.json").write_text(json.dumps(SQUAD), encoding="utf8")
    return read_squad(tmp_path / "squad.json")
