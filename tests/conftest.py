"""Shared fixtures: a tiny random BERT written to disk once, so no test downloads anything."""

import os
import string
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

TINY_WORDS = (
    "the a an of in on at to and or is was be by for with from as it he she they we you i "
    "john mary paul london paris berlin google apple microsoft city company river visited works "
    "lives said good bad great terrible movie film love hate likes best worst happy sad "
    "yesterday today new york times people went saw met who where what when capital france "
    "germany england president bank street"
).split()


def write_tiny_bert(path: Path, *, max_position_embeddings: int = 128) -> Path:
    """A 2-layer, 32-wide random BERT with a small WordPiece vocabulary, saved to `path`."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    vocab = (
        specials + chars + ["##" + c for c in string.ascii_lowercase + string.digits] + TINY_WORDS
    )
    path.mkdir(parents=True, exist_ok=True)
    (path / "vocab.txt").write_text("\n".join(dict.fromkeys(vocab)) + "\n", encoding="utf8")
    config = BertConfig(
        vocab_size=len(dict.fromkeys(vocab)),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=max_position_embeddings,
    )
    import torch

    torch.manual_seed(0)
    BertModel(config).save_pretrained(str(path))
    tokenizer = BertTokenizerFast(vocab_file=str(path / "vocab.txt"), do_lower_case=True)
    tokenizer.model_max_length = max_position_embeddings
    tokenizer.save_pretrained(str(path))
    return path


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> str:
    """Path of the tiny random BERT (max length 128 wordpieces)."""
    return str(write_tiny_bert(tmp_path_factory.mktemp("tiny_bert")))


@pytest.fixture(scope="session")
def all_heads_saved(tiny_bert, tmp_path_factory):
    """(nlp, folder): encoder + bert_ner + bert_textcat + bert_qa, trained 3 steps, saved.
    Tests that change the files work on a copy of the folder."""
    from saved_pipelines import all_heads_nlp

    nlp = all_heads_nlp(tiny_bert)
    folder = tmp_path_factory.mktemp("all_heads") / "pipeline"
    nlp.to_disk(folder)
    return nlp, folder


def pytest_terminal_summary(terminalreporter):
    """Say loudly when tests did not run for want of ../shared (a skip is easy to miss)."""
    from util import SHARED_DATA_MISSING

    skipped = [
        report.nodeid
        for report in terminalreporter.stats.get("skipped", [])
        if SHARED_DATA_MISSING in str(report.longrepr)
    ]
    if skipped:
        terminalreporter.section("tests that did NOT run", sep="!", yellow=True, bold=True)
        terminalreporter.write_line(
            f"{len(skipped)} tests need the shared datasets in ../shared beside the repository "
            "and were skipped (with CI=true they fail instead):",
            yellow=True,
            bold=True,
        )
        for nodeid in skipped:
            terminalreporter.write_line(f"  {nodeid}", yellow=True)
