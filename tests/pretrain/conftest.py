"""A toy corpus of templated sentences: a tiny BERT learns its masked words in a few dozen steps."""

import random
from pathlib import Path

import pytest

TEMPLATES = (
    "{person} visited {city} yesterday .",
    "{person} works at {company} in {city} .",
    "the {company} office in {city} is new .",
    "{person} said the movie was {opinion} .",
)
FILL = {
    "person": ("john", "mary", "paul"),
    "city": ("london", "paris", "berlin"),
    "company": ("google", "apple", "microsoft"),
    "opinion": ("good", "great", "terrible"),
}


def toy_paragraphs(n_docs: int, seed: int = 0) -> str:
    """`n_docs` docs of three sentences, one sentence per line, blank lines between docs."""
    rng = random.Random(seed)
    docs = []
    for _ in range(n_docs):
        sentences = [
            rng.choice(TEMPLATES).format(**{k: rng.choice(v) for k, v in FILL.items()})
            for _ in range(3)
        ]
        docs.append("\n".join(sentences))
    return "\n\n".join(docs) + "\n"


@pytest.fixture
def toy_raw(tmp_path) -> Path:
    path = tmp_path / "raw.txt"
    path.write_text(toy_paragraphs(60), encoding="utf8")
    return path
