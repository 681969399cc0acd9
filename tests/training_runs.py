"""Helpers for tests that run spaCy's training loop: a small three-head corpus and config, and a
digest of a saved pipeline folder.

Import as `from training_runs import ...` (tests/ is on sys.path, as for util.py).
"""

import hashlib
from pathlib import Path
from typing import Dict, List, Tuple

import spacy
import srsly
from spacy.tokens import DocBin
from thinc.api import Config
from util import QA_SETTINGS, cats_examples, ner_examples, qa_examples

from spacy_bert_tasks.config import generate_config

HEADS = ("ner", "textcat", "qa")


def write_corpus(folder: Path) -> Path:
    """A folder of NER-only, cats-only and QA docs, one .spacy file each."""
    nlp = spacy.blank("en")
    folder.mkdir()
    for name, examples in [("ner", ner_examples), ("cats", cats_examples), ("qa", qa_examples)]:
        docs = [eg.reference for eg in examples(nlp)]
        DocBin(docs=docs, store_user_data=True).to_disk(folder / f"{name}.spacy")
    return folder


def training_config(tiny_bert: str, *, max_steps: int, eval_frequency: int) -> Config:
    """A `spacy train` config for the encoder and all three heads on the tiny BERT."""
    config = generate_config(HEADS, encoder=tiny_bert, max_steps=max_steps, learn_rate=1e-3)
    config["components"]["qa"].update(QA_SETTINGS)
    config["training"]["eval_frequency"] = eval_frequency
    return config


def tree_digest(folder: Path) -> Dict[str, str]:
    """sha256 of every file under `folder`, by relative path."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(Path(folder).rglob("*"))
        if path.is_file()
    }


def train_with_cli(config: Config, folder: Path, corpus: Path) -> Tuple[object, Path, List[Dict]]:
    """`python -m spacy_bert_tasks train` of `config` on `corpus` (train and dev) in `folder`.

    RETURNS: (the CliRunner result, the output folder, the records of its train_log.jsonl).
    """
    from typer.testing import CliRunner

    from spacy_bert_tasks.cli import app

    config.to_disk(folder / "config.cfg")
    out = folder / "out"
    paths = ["--paths.train", str(corpus), "--paths.dev", str(corpus)]
    result = CliRunner().invoke(
        app, ["train", str(folder / "config.cfg"), "--output", str(out)] + paths
    )
    log = out / "train_log.jsonl"
    records = (
        [srsly.json_loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    )
    return result, out, records
