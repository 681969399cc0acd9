"""Fixtures for the encoder's tests: one saved pipeline with every head, shared read-only."""
import pytest

from saved_pipelines import all_heads_nlp


@pytest.fixture(scope="session")
def all_heads_saved(tiny_bert, tmp_path_factory):
    """(nlp, folder): encoder + bert_ner + bert_textcat + bert_qa, trained 3 steps, saved.
    Tests that change the files work on a copy of the folder."""
    nlp = all_heads_nlp(tiny_bert)
    folder = tmp_path_factory.mktemp("all_heads") / "pipeline"
    nlp.to_disk(folder)
    return nlp, folder
