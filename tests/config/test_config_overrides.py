"""Generated configs are complete: every setting can be overridden on the command line through
spaCy's own override path, and the file is what `spacy init fill-config` makes of it."""

import inspect

import pytest
import spacy
from config_leaves import config_leaves
from spacy import util
from spacy.cli.init_config import fill_config
from spacy.language import Language
from spacy.tokens import DocBin
from typer.testing import CliRunner
from util import cats_examples, ner_examples, qa_doc, qa_examples

from spacy_bert_tasks.cli import app
from spacy_bert_tasks.config import generate_config

# (tasks, ner_head): every set of heads, in the order given; spaCy's transition NER both last
# (a doc_cleaner follows it) and not.
COMBINATIONS = [
    (["ner"], "bert_ner"),
    (["textcat"], "bert_ner"),
    (["qa"], "bert_ner"),
    (["ner", "textcat"], "bert_ner"),
    (["ner", "qa"], "bert_ner"),
    (["textcat", "qa"], "bert_ner"),
    (["ner", "textcat", "qa"], "bert_ner"),
    (["ner"], "ner"),
    (["textcat", "ner"], "ner"),
    (["ner", "textcat", "qa"], "ner"),
]
COMBINATION_IDS = ["-".join(tasks) + f"-{head}" for tasks, head in COMBINATIONS]

# A new value for every setting of each factory's block (paths inside the component's block),
# valid on a CPU with the tiny BERT and the toy data. "name" is set to the tiny BERT in the tests.
OVERRIDES = {
    "bert_transformer": {
        "model.train_precision": "fp32",
        "model.mixed_precision": True,
        "model.tokenizer_config.use_fast": True,
        # Keys added to sections that the file writes empty.
        "model.transformer_config.hidden_dropout_prob": 0.0,
        "model.grad_scaler_config.init_scale": 256.0,
        "model.get_spans.window": 64,
        "model.get_spans.stride": 48,
        "max_batch_items": 512,
        "keep_trf_data": True,
        "inference_precision": "int8",
        "int8_fp32_layers": ["encoder.layer.*.output.dense"],
        "int8_activation_range": "reduced",
        "inference_graph": "compiled",  # int8 predictions ignore it: nothing is compiled here
        "release_heap": "off",
    },
    "bert_ner": {
        "model.dropout": 0.2,
        "model.tok2vec.grad_factor": 0.5,
        "model.tok2vec.upstream": "*",
        "tag_scheme": "BIO",
        "spans_key": "entities",
    },
    "ner": {
        "model.state_type": "ner",
        "model.extra_state_tokens": True,
        "model.hidden_width": 32,
        "model.maxout_pieces": 3,
        "model.use_upper": True,
        "model.tok2vec.grad_factor": 0.5,
        "model.tok2vec.upstream": "*",
        "update_with_oracle_cut_size": 50,
        "incorrect_spans_key": "incorrect",
    },
    "bert_textcat": {
        "model.dropout": 0.2,
        "model.exclusive_classes": False,
        "model.tok2vec.grad_factor": 0.5,
        "model.tok2vec.upstream": "*",
        "model.tok2vec.pooling": "mean",
        "threshold": 0.3,
    },
    "bert_qa": {
        "model.dropout": 0.2,
        "model.upstream": "*",
        # Windows that fit the tiny BERT (128 positions).
        "max_seq_length": 32,
        "doc_stride": 8,
        "max_question_length": 8,
        "n_best": 5,
        "max_answer_length": 10,
        "allow_no_answer": True,
        "null_score_diff_threshold": 0.5,
        "spans_key": "qa_answers",
        "max_batch_windows": 4,
    },
    "doc_cleaner": {"attrs.tensor": None, "silent": False},
}
# Settings overridden with the value they have: QA's pair windows need the fast tokenizer's
# offsets, "ner" is the only state type of a NER, and a doc_cleaner sets attributes to None.
SAME_VALUE = {"model.tokenizer_config.use_fast", "model.state_type", "attrs.tensor"}
# Set from the labels at initialization (the output width, the transition system).
FROM_THE_DATA = {"model.nO", "moves"}
# Keys with a dot of their own, which no override can name (spaCy splits the key at its dots):
# the file is the place to change them.
DOTTED_KEYS = {"attrs._.trf_data"}


def setting(config, dotted):
    for key in dotted.split("."):
        config = config[key]
    return config


def component_overrides(config, encoder):
    """{"components.NAME.PATH": value} for every component of the config, from OVERRIDES."""
    overrides = {"components.transformer.model.name": encoder}
    for name, block in config["components"].items():
        for path, value in OVERRIDES[block["factory"]].items():
            overrides[f"components.{name}.{path}"] = value
    return overrides


@pytest.mark.parametrize("tasks, ner_head", COMBINATIONS, ids=COMBINATION_IDS)
def test_the_table_names_every_setting_with_a_new_value(tasks, ner_head):
    # So that the override test below covers every setting a generated config writes.
    components = generate_config(tasks, ner_head=ner_head)["components"]
    for name, block in components.items():
        table = OVERRIDES[block["factory"]]
        written = {
            path: value
            for path, value in config_leaves(block).items()
            if path != "factory" and not path.rsplit(".", 1)[-1].startswith("@")
        }
        missing = set(written) - set(table) - FROM_THE_DATA - DOTTED_KEYS - {"model.name"}
        assert not missing, f"no override for [components.{name}] {sorted(missing)}"
        for path, value in table.items():
            if path in written:
                assert (value == written[path]) == (path in SAME_VALUE), (name, path)


@pytest.mark.parametrize("tasks, ner_head", COMBINATIONS, ids=COMBINATION_IDS)
def test_every_component_setting_can_be_overridden(tiny_bert, tmp_path, tasks, ner_head):
    path = tmp_path / "config.cfg"
    generate_config(tasks, ner_head=ner_head).to_disk(path)
    overrides = component_overrides(util.load_config(path), tiny_bert)
    # As `spacy train config.cfg --components.transformer.model.train_precision fp32 ...` does:
    # spaCy refuses an override whose section is not in the file.
    config = util.load_config(path, overrides=overrides, interpolate=False)
    nlp = util.load_model_from_config(config, auto_fill=True, validate=True)
    # The components were built from the overridden values (none replaced by a default).
    for key, value in overrides.items():
        assert setting(nlp.config, key) == value, key
    encoder = nlp.get_pipe("transformer")
    assert encoder.inference_precision == "int8" and encoder.release_heap == "off"
    assert encoder.inference_graph == "compiled"
    examples = ner_examples(nlp) + cats_examples(nlp)
    if "qa" in tasks:
        examples += qa_examples(nlp)
    nlp.initialize(lambda: examples)
    assert encoder.model.transformer.config.hidden_dropout_prob == 0.0
    doc = nlp("John visited London yesterday")
    if "ner" in tasks:
        assert doc.has_annotation("ENT_IOB")
    if "textcat" in tasks:
        assert nlp.get_pipe("textcat").multi_label and set(doc.cats) == {"NEG", "POS"}
    if "ner" in tasks and ner_head == "bert_ner":
        assert "entities" in doc.spans and nlp.get_pipe("ner").cfg["tag_scheme"] == "BIO"
    # keep_trf_data = true keeps the encoder output, unless a doc_cleaner follows.
    assert (doc._.trf_data is None) == ("doc_cleaner" in nlp.pipe_names)
    if "qa" in tasks:
        qa = nlp.get_pipe("qa")
        assert qa.cfg["max_seq_length"] == 32 and qa.cfg["allow_no_answer"] is True
        asked = nlp(qa_doc(nlp, "john visited london yesterday", "who visited london ?"))
        assert "qa_answers" in asked.spans


@pytest.mark.parametrize("tasks, ner_head", COMBINATIONS, ids=COMBINATION_IDS)
def test_the_written_config_is_what_fill_config_makes_of_it(tmp_path, tasks, ner_head):
    # No setting silently different: spaCy's fill-config changes nothing, not even the order.
    options = {"gpu": True, "multilabel": True, "squad_v2": True} if len(tasks) > 2 else {}
    written = tmp_path / "config.cfg"
    generate_config(tasks, ner_head=ner_head, **options).to_disk(written)
    fill_config(tmp_path / "filled.cfg", written, silent=True)
    text = written.read_text(encoding="utf8")
    assert (tmp_path / "filled.cfg").read_text(encoding="utf8") == text
    assert (
        "[components.transformer.model]" in text
        and "[components.transformer.model.get_spans]" in text
    )


def test_factory_blocks_agree_with_their_functions_defaults():
    # A block that names a function itself gets the function's own defaults where spaCy fills
    # it (the transition NER's listener: spaCy's NER block names another tok2vec, so none of the
    # factory's listener defaults merge into it). They must be the factory's.
    spacy.blank("en")  # imports every spacy_factories entry point
    for factory in ("bert_transformer", "bert_ner", "bert_textcat", "bert_qa"):
        for where, block in _function_blocks(Language.get_factory_meta(factory).default_config):
            promise = next(key for key in block if key.startswith("@"))
            function = util.registry.get(promise[1:], block[promise])
            for name, parameter in inspect.signature(function).parameters.items():
                if name in block and parameter.default is not inspect.Parameter.empty:
                    assert block[name] == parameter.default, (factory, where, name)


def _function_blocks(block, where="model"):
    if any(key.startswith("@") for key in block):
        yield where, block
    for key, value in block.items():
        if isinstance(value, dict):
            yield from _function_blocks(value, f"{where}.{key}")


def test_train_cli_overrides_a_model_setting_of_an_init_config_file(tiny_bert, tmp_path):
    # The command-line path users take: init-config with the defaults, then the encoder and its
    # precision, and a head's dropout, given to `train` as overrides.
    runner = CliRunner()
    config = tmp_path / "config.cfg"
    result = runner.invoke(app, ["init-config", str(config), "--tasks", "ner"])
    assert result.exit_code == 0, result.output
    corpus = tmp_path / "train.spacy"
    DocBin(docs=[eg.reference for eg in ner_examples(spacy.blank("en"))]).to_disk(corpus)
    overrides = {
        "--paths.train": str(corpus),
        "--paths.dev": str(corpus),
        "--training.max_steps": "2",
        "--training.eval_frequency": "1",
        "--components.transformer.model.name": tiny_bert,
        "--components.transformer.model.train_precision": "fp32",
        "--components.transformer.model.get_spans.window": "64",
        "--components.ner.model.dropout": "0.2",
    }
    args = ["train", str(config), "--output", str(tmp_path / "out")]
    result = runner.invoke(app, args + [part for pair in overrides.items() for part in pair])
    assert result.exit_code == 0, result.output
    nlp = spacy.load(tmp_path / "out" / "model-last")
    trained = nlp.config["components"]
    assert trained["transformer"]["model"]["train_precision"] == "fp32"
    assert trained["transformer"]["model"]["get_spans"]["window"] == 64
    assert trained["ner"]["model"]["dropout"] == 0.2
    assert nlp("John visited London").has_annotation("ENT_IOB")


def test_an_override_swaps_the_window_function(tiny_bert, tmp_path):
    # A block given whole replaces the file's: the strided windows' window/stride go with it.
    from spacy.cli._util import parse_config_overrides

    path = tmp_path / "config.cfg"
    generate_config(["ner"]).to_disk(path)
    args = [
        "--components.transformer.model.name",
        tiny_bert,
        "--components.transformer.model.get_spans",
        '{"@span_getters": "spacy-bert-tasks.wordpiece_windows.v1", "window": 64, "overlap": 16}',
    ]
    config = util.load_config(path, overrides=parse_config_overrides(args), interpolate=False)
    nlp = util.load_model_from_config(config, auto_fill=True, validate=True)
    assert nlp.config["components"]["transformer"]["model"]["get_spans"] == {
        "@span_getters": "spacy-bert-tasks.wordpiece_windows.v1",
        "window": 64,
        "overlap": 16,
    }
    windows = nlp.get_pipe("transformer").model.attrs["get_spans"]
    assert (type(windows).__name__, windows.window, windows.overlap) == ("WordpieceWindows", 64, 16)
    nlp.initialize(lambda: ner_examples(nlp))
    assert nlp(" ".join(["london"] * 150)).has_annotation("ENT_IOB")
