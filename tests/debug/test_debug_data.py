"""debug-data: per-task label counts, unannotated docs, and what the encoder's limits cut."""

import json

import spacy
from spacy.tokens import DocBin
from spacy.training import Example
from transformers import AutoTokenizer
from typer.testing import CliRunner

from spacy_bert_tasks.cli import app
from spacy_bert_tasks.config import generate_config
from spacy_bert_tasks.debug.data import corpus_stats
from spacy_bert_tasks.qa.extensions import install_qa_extensions


def qa_example(nlp, context, question, answer_start, answer_text):
    doc = nlp.make_doc(context)
    doc._.question, doc._.qa_id = question, f"q{answer_start}"
    doc._.gold_answers = [{"text": answer_text, "answer_start": answer_start}]
    predicted = nlp.make_doc(context)
    predicted._.question = question
    return Example(predicted, doc)


def examples(nlp):
    install_qa_extensions()
    long_text = " ".join(["the"] * 10 + ["john", "smith"] + ["the"] * 10)  # tokens 10-12
    return [
        Example.from_dict(
            nlp.make_doc("john visited london"), {"entities": [(0, 4, "PER"), (13, 19, "LOC")]}
        ),
        Example.from_dict(nlp.make_doc(long_text), {"entities": [(40, 50, "PER")]}),
        Example.from_dict(nlp.make_doc("good movie"), {"cats": {"POS": 1.0, "NEG": 0.0}}),
        Example.from_dict(nlp.make_doc("bad movie"), {"cats": {"POS": 0.0, "NEG": 1.0}}),
        # "ondon" starts inside the token "london": not on a token boundary.
        qa_example(nlp, "john visited london", "where ?", 14, "ondon"),
        qa_example(nlp, "paul lives in paris " * 20, "who " * 12 + "?", 0, "paul"),
    ]


def test_counts_per_task_and_limits(tiny_bert):
    nlp = spacy.blank("en")
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    # Windows of 8 tokens every 6: [0, 8), [6, 14), [12, 20)...; tokens 10-12 sit in [6, 14),
    # so "john smith" is whole there.
    stats = corpus_stats(
        examples(nlp),
        window=8,
        stride=6,
        tokenizer=tokenizer,
        max_seq_length=32,
        max_question_length=8,
    )
    assert stats.n_docs == 6
    assert stats.entity_labels == {"PER": 2, "LOC": 1}
    assert stats.docs_without_entities_annotation == 4  # the cats and QA docs
    assert stats.entities_crossing_windows == []
    assert stats.cat_labels == {"POS": 1, "NEG": 1} and stats.docs_without_cats == 4
    assert stats.questions == 2 and stats.docs_without_question == 4
    assert (
        len(stats.unaligned_answers) == 1
        and "'ondon' at character 14" in stats.unaligned_answers[0]
    )
    assert len(stats.long_questions) == 1 and "13 wordpieces" in stats.long_questions[0]
    assert stats.long_contexts == 1  # 80 wordpieces of context, 32 per window
    # Windows of 8 every 8 ([0, 8), [8, 16)...): tokens 10-12 still fit; every 11: [0, 8),
    # [11, 19): token 10 is in the first only, token 11 in the second only: cut.
    cut = corpus_stats(examples(nlp), window=8, stride=11)
    assert (
        len(cut.entities_crossing_windows) == 1
        and "'john smith'" in cut.entities_crossing_windows[0]
    )


def test_cli_reads_the_config_corpora(tiny_bert, tmp_path):
    nlp = spacy.blank("en")
    DocBin(docs=[eg.reference for eg in examples(nlp)], store_user_data=True).to_disk(
        tmp_path / "train.spacy"
    )
    generate_config(["ner", "textcat", "qa"], encoder=tiny_bert).to_disk(tmp_path / "config.cfg")
    corpus = str(tmp_path / "train.spacy")
    result = CliRunner().invoke(
        app,
        [
            "debug-data",
            str(tmp_path / "config.cfg"),
            "--json",
            str(tmp_path / "stats.json"),
            "--paths.train",
            corpus,
            "--paths.dev",
            corpus,
        ],
    )
    assert result.exit_code == 0, result.output
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["train"]["entity_labels"] == {"PER": 2, "LOC": 1}
    assert stats["dev"]["questions"] == 2 and len(stats["dev"]["unaligned_answers"]) == 1
    assert (
        "NER: entities per label" in result.output
        and "gold answers not on token boundaries" in result.output
    )
