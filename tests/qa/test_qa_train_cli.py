"""`spacy train` and `spacy evaluate` end to end on a corpus mixing QA (SQuAD) and textcat docs."""

import json
from pathlib import Path

import pytest
import spacy
from spacy.tokens import DocBin
from spacy.util import registry
from util import QA_DATA, QA_SETTINGS, cats_examples, qa_doc, run_module

from spacy_bert_tasks.config import generate_config
from spacy_bert_tasks.convert.squad import convert_squad

QA_KEYS = ("qa_exact", "qa_f1", "qa_total", "qa_docs_without_question")


def squad_json(data=QA_DATA):
    paragraphs = [
        {
            "context": context,
            "qas": [
                {
                    "id": f"q{i}",
                    "question": question,
                    "answers": [{"text": answer, "answer_start": context.index(answer)}],
                }
            ],
        }
        for i, (context, question, answer) in enumerate(data)
    ]
    return {"version": "v2.0", "data": [{"title": "toy", "paragraphs": paragraphs}]}


def write_corpus(folder):
    """A folder of two .spacy files: SQuAD docs (converted) and cats-only docs."""
    folder.mkdir()
    (folder.parent / "squad.json").write_text(json.dumps(squad_json()), encoding="utf8")
    convert_squad(folder.parent / "squad.json", folder / "qa.spacy")
    docs = [eg.reference for eg in cats_examples(spacy.blank("en"))]
    DocBin(docs=docs).to_disk(folder / "cats.spacy")
    return folder


@pytest.fixture(scope="module")
def trained(tiny_bert, tmp_path_factory):
    """(folder, corpus) after `spacy train` of textcat + qa for 20 steps on the toy corpus."""
    folder = tmp_path_factory.mktemp("qa_train")
    # A high learning rate, so that 20 steps learn the toy answers (scores above zero).
    config = generate_config(["textcat", "qa"], encoder=tiny_bert, max_steps=20, learn_rate=1e-3)
    assert config["corpora"]["train"]["@readers"] == "spacy-bert-tasks.Corpus.v1"
    config["components"]["qa"].update(QA_SETTINGS)
    config.to_disk(folder / "config.cfg")
    corpus = str(write_corpus(folder / "corpus"))
    run_module(
        "spacy",
        "train",
        "config.cfg",
        "--output",
        "out",
        "--paths.train",
        corpus,
        "--paths.dev",
        corpus,
        "--training.eval_frequency",
        "10",
        cwd=folder,
    )
    return folder, corpus


def reader_scores(nlp, corpus):
    """nlp.evaluate on the corpus as the training config reads it (questions included)."""
    examples = registry.readers.get("spacy-bert-tasks.Corpus.v1")(path=corpus, gold_preproc=False)
    return nlp.evaluate(list(examples(nlp)))


def test_spacy_train(trained):
    folder, corpus = trained
    nlp = spacy.load(folder / "out" / "model-last")
    assert nlp.pipe_names == ["transformer", "textcat", "qa"]
    assert nlp.get_pipe("qa").encoder is nlp.get_pipe("transformer")
    assert {key: nlp.get_pipe("qa").cfg[key] for key in QA_SETTINGS} == QA_SETTINGS
    meta = json.loads((folder / "out" / "model-last" / "meta.json").read_text(encoding="utf8"))
    scores = reader_scores(nlp, corpus)
    assert scores["qa_total"] == len(QA_DATA)
    assert scores["qa_docs_without_question"] == len(cats_examples(nlp))
    assert 0.0 < scores["qa_f1"] <= 1.0
    # The last evaluation during training is the same model on the same corpus.
    assert meta["performance"]["qa_f1"] == pytest.approx(scores["qa_f1"])
    context, question, _ = QA_DATA[0]
    doc = nlp(qa_doc(nlp, context, question))
    assert doc.spans["answers"].attrs["texts"][0] in context


def test_spacy_evaluate_scores_qa(trained):
    folder, corpus = trained
    run_module(
        "spacy", "evaluate", "out/model-last", corpus, "--output", "metrics.json", cwd=folder
    )
    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf8"))
    assert 0.0 <= metrics["cats_score"] <= 1.0
    expected = reader_scores(spacy.load(folder / "out" / "model-last"), corpus)
    assert {key: metrics[key] for key in QA_KEYS} == pytest.approx(
        {key: expected[key] for key in QA_KEYS}
    )


def test_evaluate_prints_qa_scores_on_the_console(trained):
    # spaCy's evaluate prints a fixed list of score names; ours adds the others (QA EM/F1).
    folder, corpus = trained
    repo = str(Path(__file__).resolve().parents[2])
    result = run_module(
        "spacy_bert_tasks",
        "evaluate",
        "out/model-last",
        corpus,
        "--output",
        "ours.json",
        cwd=folder,
        env={"PYTHONPATH": repo},
    )
    metrics = json.loads((folder / "ours.json").read_text(encoding="utf8"))
    lines = result.stdout.splitlines()
    assert any("TEXTCAT" in line for line in lines)  # spaCy's own table
    assert "Other scores" in result.stdout
    row = next(line for line in lines if line.split()[:1] == ["qa_f1"])
    assert row.split()[1] == f"{100 * metrics['qa_f1']:.2f}"
    assert next(line for line in lines if line.split()[:1] == ["qa_total"]).split()[1] == str(
        len(QA_DATA)
    )
