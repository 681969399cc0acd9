"""Model card, package meta and the folder `spacy package` gets."""

import pytest
import spacy
import srsly
import yaml

from spacy_bert_tasks.project.card import (
    licenses_sources,
    model_card,
    package_meta,
    prepare_package,
    read_card_spec,
)

SPEC = {
    "description": "A test model.",
    "license": "CC BY-SA 4.0",
    "license_note": "Because of the data.",
    "encoder": {"name": "tiny BERT", "license": "MIT"},
    "sources": [
        {
            "name": "Data A",
            "url": "https://example.org/a",
            "license": "CC BY 4.0",
            "author": "A. Author",
            "used_for": "NER",
        },
        {"name": "Data B", "url": "https://example.org/b", "license": "CC0 1.0"},
    ],
}
SCORES = {"ents_p": 0.5, "ents_r": 0.5, "ents_f": 0.5, "cats_accuracy": 0.75, "speed": 100.0}


@pytest.fixture(scope="module")
def saved_pipeline(tmp_path_factory, tiny_bert):
    from util import both_examples, make_nlp

    nlp = make_nlp(tiny_bert, ("ner", "textcat"))
    nlp.initialize(lambda: both_examples(nlp))
    path = tmp_path_factory.mktemp("pipeline") / "model-best"
    nlp.to_disk(path)
    return path


def test_read_card_spec_checks_keys(tmp_path):
    path = tmp_path / "card.yml"
    path.write_text(yaml.safe_dump(SPEC), encoding="utf8")
    assert read_card_spec(path)["license"] == "CC BY-SA 4.0"
    path.write_text(yaml.safe_dump({**SPEC, "license": ""}), encoding="utf8")
    with pytest.raises(ValueError, match="missing or empty: license"):
        read_card_spec(path)
    path.write_text(yaml.safe_dump({**SPEC, "sources": [{"name": "X"}]}), encoding="utf8")
    with pytest.raises(
        ValueError, match=r"sources\[0\]: expected name, url, license, missing url, license"
    ):
        read_card_spec(path)


def test_package_meta_takes_name_license_sources_and_scores():
    meta = package_meta(
        {"lang": "en", "name": "pipeline", "performance": {"old": 1}},
        SCORES,
        SPEC,
        name="demo",
        version="1.2.3",
    )
    assert (meta["name"], meta["version"], meta["license"]) == ("demo", "1.2.3", "CC BY-SA 4.0")
    assert meta["performance"] == SCORES
    assert meta["sources"][1] == {
        "name": "Data B",
        "url": "https://example.org/b",
        "license": "CC0 1.0",
    }


def test_model_card_and_licenses_sources(saved_pipeline):
    meta = package_meta(
        srsly.read_json(saved_pipeline / "meta.json"), SCORES, SPEC, name="demo", version="1.2.3"
    )
    config = spacy.util.load_config(saved_pipeline / "config.cfg", interpolate=False)
    card = model_card(meta, config, SCORES, SPEC)
    assert card.startswith("# en_demo 1.2.3\n")
    assert 'spacy.load("en_demo")' in card
    assert "| NER | entity F1 | 50.00 |" in card
    labels = {
        line.split(" | ")[0]: line.split(" | ")[1].rstrip(" |")
        for line in card.splitlines()
        if line.startswith("| `")
    }
    assert sorted(labels["| `ner`"].split(", ")) == ["`LOC`", "`PER`"]
    assert sorted(labels["| `textcat`"].split(", ")) == ["`NEG`", "`POS`"]
    assert "tiny BERT, MIT" in card
    assert "| [Data A](https://example.org/a) | NER | CC BY 4.0 | A. Author |" in card
    assert "CC BY-SA 4.0. Because of the data." in card
    text = licenses_sources(SPEC)
    assert (
        "Data A\n------\nauthor: A. Author\nurl: https://example.org/a\nlicense: CC BY 4.0" in text
    )


def test_prepare_package_copies_and_leaves_the_model_alone(saved_pipeline, tmp_path):
    before = (saved_pipeline / "meta.json").read_text()
    output = prepare_package(
        saved_pipeline, SCORES, SPEC, tmp_path / "staging", name="demo", version="1.2.3"
    )
    assert (saved_pipeline / "meta.json").read_text() == before
    assert not (saved_pipeline / "README.md").exists()
    assert srsly.read_json(output / "meta.json")["name"] == "demo"
    assert (output / "README.md").read_text().startswith("# en_demo 1.2.3")
    assert "Data B" in (output / "LICENSES_SOURCES").read_text()
    license_file = (output / "LICENSE").read_text()  # spacy package warns without one
    assert license_file.startswith(
        f"demo 1.2.3 is distributed under the {SPEC['license']} license."
    )
    nlp = spacy.load(output)
    assert nlp.pipe_names == ["transformer", "ner", "textcat"]
    # Again into the same folder: replaced, not merged.
    (output / "stray").write_text("x")
    prepare_package(saved_pipeline, SCORES, SPEC, output, name="demo", version="1.2.3")
    assert not (output / "stray").exists()


def test_prepare_package_rejects_a_bad_name(saved_pipeline, tmp_path):
    with pytest.raises(ValueError, match="Python identifier"):
        prepare_package(saved_pipeline, SCORES, SPEC, tmp_path / "x", name="my-model", version="1")
