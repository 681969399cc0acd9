"""NER and textcat trained together on one corpus where each doc is annotated for one task only."""

import json

import pytest
import spacy
from spacy.tokens import DocBin
from util import CAT_LABELS, NER_LABELS, cats_examples, ner_examples, run_module, trained_nlp

from spacy_bert_tasks.config import generate_config


def mixed_examples(nlp):
    return ner_examples(nlp) + cats_examples(nlp)


@pytest.mark.parametrize("heads", [("textcat", "ner"), ("ner", "textcat")])
def test_shuffled_mixed_corpus_trains_both_heads(tiny_bert, heads):
    # Batches of 2 from a shuffled corpus: many hold one task only, so each head skips some.
    nlp, examples = trained_nlp(tiny_bert, heads, mixed_examples, 12, batch_size=2, shuffle=True)
    scores = nlp.evaluate(examples)
    assert scores["ents_f"] == 1.0
    assert scores["cats_score"] == 1.0
    assert scores["cats_docs_without_gold"] == len(ner_examples(nlp))
    # Docs of the other task get predictions too, and they are no worse for the mix.
    doc = nlp("John visited London yesterday")
    assert set(doc.cats) == set(CAT_LABELS)
    assert [(e.text, e.label_) for e in doc.ents] == [("John", "PER"), ("London", "LOC")]


def write_corpus(nlp, path):
    """NER-only docs (explicit O via doc.ents) and cats-only docs, as a .spacy file."""
    docs = []
    for eg in mixed_examples(nlp):
        doc = nlp.make_doc(eg.reference.text)
        if eg.reference.cats:
            doc.cats = dict(eg.reference.cats)
        else:
            doc.ents = list(eg.reference.ents)
        docs.append(doc)
    DocBin(docs=docs).to_disk(path)
    return path


def test_spacy_train_and_evaluate_cli(tiny_bert, tmp_path):
    config = generate_config(["ner", "textcat"], encoder=tiny_bert, max_steps=20)
    config.to_disk(tmp_path / "config.cfg")
    corpus = write_corpus(spacy.blank("en"), tmp_path / "corpus.spacy")
    run_module(
        "spacy",
        "train",
        "config.cfg",
        "--output",
        "out",
        "--paths.train",
        str(corpus),
        "--paths.dev",
        str(corpus),
        "--training.eval_frequency",
        "10",
        cwd=tmp_path,
    )
    nlp = spacy.load(tmp_path / "out" / "model-last")
    assert nlp.pipe_names == ["transformer", "ner", "textcat"]
    assert nlp.get_pipe("ner").labels == NER_LABELS
    doc = nlp("John visited London yesterday")
    assert doc.has_annotation("ENT_IOB")
    assert set(doc.cats) == set(CAT_LABELS)
    assert doc._.trf_data is None
    assert (tmp_path / "out" / "model-best").exists()

    result = run_module(
        "spacy",
        "evaluate",
        "out/model-last",
        str(corpus),
        "--output",
        "metrics.json",
        cwd=tmp_path,
    )
    assert "NER (per type)" in result.stdout
    metrics = json.loads((tmp_path / "metrics.json").read_text(encoding="utf8"))
    assert set(metrics["ents_per_type"]) <= set(NER_LABELS)
    assert 0.0 <= metrics["cats_score"] <= 1.0
    assert metrics["cats_docs_without_gold"] == len(ner_examples(nlp))
