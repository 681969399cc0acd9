"""Fixtures of the annotate tests: the saved all-heads pipeline and rows to annotate."""

import json
from pathlib import Path
from typing import Dict, List

import pytest
from util import QA_DATA


def sample_rows() -> List[Dict]:
    """Rows with ids and an extra column: plain texts, questions, an empty text, and bad rows."""
    rows = [
        {"id": 0, "text": "John visited London yesterday", "source": "a"},
        {"id": 1, "text": "Mary works in Paris", "source": "b"},
        {"id": 2, "text": "", "source": "c"},
        {"id": 3, "text": None, "source": "missing"},
        {"id": 4, "text": "paul lives in berlin", "question": None, "source": "d"},
    ]
    for i, (context, question, _) in enumerate(QA_DATA, start=5):
        rows.append({"id": i, "text": context, "question": question, "source": "qa"})
    # Over spaCy's default nlp.max_length (1,000,000 characters).
    rows.append({"id": 20, "text": "x" * 1_000_001, "source": "long"})
    rows.append({"id": 21, "text": "the bank", "question": "   ", "source": "blank question"})
    return rows


# Ids of the rows of sample_rows() that cannot be processed.
BAD_IDS = (3, 20, 21)


def valid_rows() -> List[Dict]:
    return [row for row in sample_rows() if row["id"] not in BAD_IDS]


def write_jsonl(path: Path, rows: List[Dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf8")
    return path


@pytest.fixture(scope="session")
def pipeline_dir(all_heads_saved):
    """The saved pipeline with encoder, bert_ner, bert_textcat and bert_qa (tiny BERT)."""
    return all_heads_saved[1]
