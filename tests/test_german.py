"""A non-English pipeline: German (`--lang de`) on a cased, multilingual-style encoder vocabulary.

The tiny random BERT here stands in for bert-base-multilingual-cased: WordPiece, case kept
(do_lower_case false), umlauts and ß in the vocabulary.
"""

import string
from pathlib import Path

import spacy
from spacy import util
from spacy.training import Example
from util import adam, train_steps

from spacy_bert_tasks.config import generate_config

GERMAN_WORDS = (
    "der die das und in im ist war hat nach Berlin München Köln Straße Müller Schröder Anna Jürgen "
    "besuchte wohnt arbeitet bei Firma gut schlecht großartig schrecklich Film Buch gestern heute"
).split()
NER_DATA = [
    ("Anna besuchte gestern München.", [(0, 4, "PER"), (22, 29, "LOC")]),
    ("Jürgen Müller wohnt in Köln.", [(0, 13, "PER"), (23, 27, "LOC")]),
    ("Schröder arbeitet in Berlin.", [(0, 8, "PER"), (21, 27, "LOC")]),
]
CATS_DATA = [
    ("Der Film war großartig.", {"POS": 1.0, "NEG": 0.0}),
    ("Das Buch ist schrecklich.", {"POS": 0.0, "NEG": 1.0}),
]


def write_cased_multilingual_bert(path: Path) -> str:
    from transformers import BertConfig, BertModel, BertTokenizerFast

    chars = list(string.ascii_letters + string.digits + string.punctuation + "äöüÄÖÜß")
    vocab = (
        ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        + chars
        + ["##" + c for c in chars]
        + GERMAN_WORDS
    )
    vocab = list(dict.fromkeys(vocab))
    path.mkdir(parents=True, exist_ok=True)
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf8")
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    import torch

    torch.manual_seed(0)
    BertModel(config).save_pretrained(str(path))
    # As bert-base-multilingual-cased: no lower-casing, accents kept.
    tokenizer = BertTokenizerFast(
        vocab_file=str(path / "vocab.txt"), do_lower_case=False, strip_accents=False
    )
    tokenizer.model_max_length = 128
    tokenizer.save_pretrained(str(path))
    return str(path)


def test_german_pipeline_trains_saves_and_loads(tmp_path):
    encoder = write_cased_multilingual_bert(tmp_path / "encoder")
    config = generate_config(
        ["ner", "textcat"], encoder=encoder, lang="de", max_steps=10, learn_rate=1e-3
    )
    nlp = util.load_model_from_config(config, auto_fill=True)
    assert nlp.lang == "de"
    # German tokenizer exceptions (not English ones): "z.B." stays one token.
    assert [t.text for t in nlp.make_doc("z.B. in München.")] == ["z.B.", "in", "München", "."]
    examples = [
        Example.from_dict(nlp.make_doc(text), {"entities": ents}) for text, ents in NER_DATA
    ]
    examples += [Example.from_dict(nlp.make_doc(text), {"cats": cats}) for text, cats in CATS_DATA]
    nlp.initialize(lambda: examples)
    # Cased wordpieces, umlauts kept: no [UNK] for these words.
    tokenizer = nlp.get_pipe("transformer").tokenizer
    pieces = tokenizer("Jürgen Müller wohnt in Köln.")["input_ids"]
    assert tokenizer.unk_token_id not in pieces
    losses = [train_steps(nlp, examples, adam(0.01), 1) for _ in range(15)]
    assert losses[-1]["ner"] < losses[0]["ner"] and losses[-1]["textcat"] < losses[0]["textcat"]
    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    assert loaded.lang == "de" and loaded.pipe_names == ["transformer", "ner", "textcat"]
    for text, _ in NER_DATA + CATS_DATA:
        before, after = nlp(text), loaded(text)
        assert [(e.text, e.label_) for e in before.ents] == [(e.text, e.label_) for e in after.ents]
        assert all(abs(before.cats[label] - after.cats[label]) < 1e-5 for label in before.cats)
    assert [(e.text, e.label_) for e in loaded("Anna besuchte gestern München.").ents] == [
        ("Anna", "PER"),
        ("München", "LOC"),
    ]
