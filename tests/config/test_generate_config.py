"""`generate_config` and `python -m spacy_bert_tasks init-config`: every combination builds."""

import itertools

import pytest
from config_leaves import config_leaves
from spacy import util
from spacy.util import registry
from thinc.api import Config
from typer.testing import CliRunner
from util import CAT_LABELS, adam, cats_examples, ner_examples, train_steps

from spacy_bert_tasks.cli import app
from spacy_bert_tasks.config import generate_config
from spacy_bert_tasks.config.generate import filled_config
from spacy_bert_tasks.encoder import EMBEDDED_ENCODER

TASK_SETS = [
    ["ner"],
    ["textcat"],
    ["ner", "textcat"],
    ["textcat", "ner"],
    ["qa"],
    ["ner", "textcat", "qa"],
]
COMBINATIONS = [
    (tasks, ner_head, multilabel)
    for tasks, ner_head, multilabel in itertools.product(
        TASK_SETS, ["bert_ner", "ner"], [False, True]
    )
    # Options for an absent head change nothing: test them once.
    if ("ner" in tasks or ner_head == "bert_ner") and ("textcat" in tasks or not multilabel)
]


def combination_id(combination):
    tasks, ner_head, multilabel = combination
    return "-".join(tasks) + f"-{ner_head}" + ("-multilabel" if multilabel else "")


@pytest.mark.parametrize("combination", COMBINATIONS, ids=combination_id)
def test_every_combination_builds(tiny_bert, combination):
    tasks, ner_head, multilabel = combination
    config = generate_config(tasks, encoder=tiny_bert, ner_head=ner_head, multilabel=multilabel)
    # As `spacy train` reads it: from the written text.
    config = Config().from_str(config.to_str())
    nlp = util.load_model_from_config(config, auto_fill=True, validate=True)
    # spaCy's own NER does not release doc._.trf_data: a doc_cleaner does it when NER is last.
    cleaner = ["doc_cleaner"] if tasks[-1] == "ner" and ner_head == "ner" else []
    assert nlp.pipe_names == ["transformer", *tasks, *cleaner]
    assert nlp.get_pipe_meta("transformer").factory == "bert_transformer"
    assert config["components"]["transformer"]["model"]["name"] == tiny_bert
    # QA runs its own pair pass through the encoder: linked, but not a listener.
    assert nlp.get_pipe("transformer").listening_components == [t for t in tasks if t != "qa"]
    reader = "spacy-bert-tasks.Corpus.v1" if "qa" in tasks else "spacy.Corpus.v1"
    assert config["corpora"]["train"]["@readers"] == reader
    if "qa" in tasks:
        assert nlp.get_pipe("qa").encoder is nlp.get_pipe("transformer")
    if "ner" in tasks:
        assert nlp.get_pipe_meta("ner").factory == ner_head
    if "textcat" in tasks:
        assert nlp.get_pipe_meta("textcat").factory == "bert_textcat"
        assert nlp.get_pipe("textcat").multi_label == multilabel


def test_training_settings():
    config = generate_config(["ner"], max_steps=100, learn_rate=1e-4, warmup_fraction=0.2)
    # The default encoder is the factory's, written out.
    assert config["components"]["transformer"]["model"]["name"] == EMBEDDED_ENCODER
    training = config["training"]
    assert training["max_steps"] == 100
    assert training["optimizer"]["learn_rate"]["warmup_steps"] == 20
    assert training["optimizer"]["learn_rate"]["initial_rate"] == 1e-4
    assert training["optimizer"]["grad_clip"] == 1.0
    assert config["corpora"]["train"]["max_length"] == 0
    assert config["system"]["gpu_allocator"] is None
    assert generate_config(["ner"], gpu=True)["system"]["gpu_allocator"] == "pytorch"


def test_batch_sizes_for_cpu_and_gpu():
    # Small encoder batches on CPU (cache-friendly, lower peak memory), large ones on GPU.
    for gpu, items, windows in [(False, 1024, 8), (True, 4096, 32)]:
        components = generate_config(["ner", "qa"], gpu=gpu)["components"]
        assert components["transformer"]["max_batch_items"] == items
        assert components["qa"]["max_batch_windows"] == windows


@pytest.mark.parametrize(
    "tasks, batcher",
    [
        (["ner"], "spacy.batch_by_padded.v1"),
        (["qa"], "spacy.batch_by_padded.v1"),
        (["ner", "textcat"], "spacy-bert-tasks.batch_by_task.v1"),
        (["ner", "textcat", "qa"], "spacy-bert-tasks.batch_by_task.v1"),
    ],
)
def test_several_heads_train_one_task_per_batch(tasks, batcher):
    """Joint configs batch by task, every task's docs once per epoch; one head keeps spaCy's."""
    for gpu, size in [(False, 1000), (True, 4000)]:
        written = generate_config(tasks, gpu=gpu)["training"]["batcher"]
        assert written["@batchers"] == batcher
        assert written["size"] == size
        if len(tasks) > 1:
            assert written["shares"] == "corpus"
        registry.resolve({"batcher": written})  # every setting is the batcher's


@pytest.mark.parametrize(
    "tasks, ner_head", [(["textcat", "ner"], "ner"), (["ner", "textcat"], "bert_ner")]
)
def test_generated_pipeline_trains_and_predicts(tiny_bert, tasks, ner_head):
    config = generate_config(tasks, encoder=tiny_bert, ner_head=ner_head)
    nlp = util.load_model_from_config(config, auto_fill=True, validate=True)
    examples = ner_examples(nlp) + cats_examples(nlp)
    nlp.initialize(lambda: examples)
    losses = train_steps(nlp, examples, adam(), 2, batch_size=4)
    assert set(losses) == {"transformer", *tasks}
    doc = nlp("John visited London yesterday")
    assert doc.has_annotation("ENT_IOB")
    assert set(doc.cats) == set(CAT_LABELS)
    # Whichever head runs last (a doc_cleaner after spaCy's NER), the encoder output is released.
    assert doc._.trf_data is None


@pytest.mark.parametrize(
    "tasks, kwargs, message",
    [
        (["pos"], {}, "Unknown or missing tasks"),
        ([], {}, "Unknown or missing tasks"),
        ([" ", ""], {}, "Unknown or missing tasks"),
        (["ner", "pos"], {}, r"\[.pos.\]"),
        (["ner"], {"ner_head": "spancat"}, "Unknown NER head 'spancat'"),
        (["ner"], {"max_steps": 0}, "max_steps"),
        (["ner"], {"warmup_fraction": 1.0}, "warmup_fraction"),
        (["ner"], {"lang": "zz"}, "Unknown language code 'zz'"),
    ],
)
def test_bad_arguments_raise(tasks, kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate_config(tasks, **kwargs)


def test_duplicate_tasks_collapse():
    config = generate_config(["ner", " ner", "textcat"])
    assert config["nlp"]["pipeline"] == ["transformer", "ner", "textcat"]


runner = CliRunner()


def test_init_config_cli_writes_config(tiny_bert, tmp_path):
    output = tmp_path / "sub" / "out.cfg"
    args = ["init-config", str(output), "--tasks", "ner,textcat", "--encoder", tiny_bert]
    result = runner.invoke(app, args + ["--multilabel", "--max-steps", "50"])
    assert result.exit_code == 0, result.output
    config = util.load_config(output)
    assert config["nlp"]["pipeline"] == ["transformer", "ner", "textcat"]
    assert config["components"]["transformer"]["model"]["name"] == tiny_bert
    assert config["components"]["textcat"]["model"]["exclusive_classes"] is False
    assert config["training"]["max_steps"] == 50
    util.load_model_from_config(config, auto_fill=True, validate=True)


def test_init_config_cli_bad_tasks_fail(tmp_path):
    output = tmp_path / "out.cfg"
    result = runner.invoke(app, ["init-config", str(output), "--tasks", "ner,pos"])
    assert result.exit_code == 1
    assert "Unknown or missing tasks" in result.output
    assert not output.exists()


def test_init_config_cli_unknown_language_is_one_line(tmp_path):
    output = tmp_path / "out.cfg"
    result = runner.invoke(app, ["init-config", str(output), "--lang", "zz"])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback
    assert "Unknown language code 'zz'" in result.output
    assert "Traceback" not in result.output and not output.exists()


def differing(block, defaults):
    """Dotted paths of the settings in which two blocks differ (or that only one has)."""
    written, default = config_leaves(block), config_leaves(defaults)
    return {path for path in {*written, *default} if written.get(path, ()) != default.get(path, ())}


@pytest.mark.parametrize("gpu, multilabel, squad_v2", [(False, False, False), (True, True, True)])
@pytest.mark.parametrize("ner_head", ["bert_ner", "ner"])
def test_components_differ_from_the_factories_only_where_init_config_sets_them(
    tiny_bert, gpu, multilabel, squad_v2, ner_head
):
    config = generate_config(
        ["ner", "textcat", "qa"],
        encoder=tiny_bert,
        gpu=gpu,
        multilabel=multilabel,
        squad_v2=squad_v2,
        ner_head=ner_head,
    )
    written = config["components"]
    # What spaCy fills for each component from its factory alone.
    bare = Config(config, section_order=list(config.keys()))
    bare["components"] = {name: {"factory": block["factory"]} for name, block in written.items()}
    defaults = filled_config(bare)["components"]
    expected = {
        "transformer": {"model.name"} | ({"max_batch_items"} if gpu else set()),
        # Each head names the encoder it reads; spaCy's NER reads it instead of its own tok2vec.
        "ner": {"model.tok2vec.upstream"}
        if ner_head == "bert_ner"
        else {"model.tok2vec", "model.use_upper"},
        "textcat": {"model.tok2vec.upstream"}
        | ({"model.exclusive_classes"} if multilabel else set()),
        "qa": {"model.upstream"}
        | ({"max_batch_windows"} if gpu else set())
        | ({"allow_no_answer"} if squad_v2 else set()),
    }
    for name, block in written.items():
        found = differing(block, defaults[name])
        if ner_head == "ner" and name == "ner":
            found = {path for path in found if not path.startswith("model.tok2vec.")}
            found.add("model.tok2vec")
        assert found == expected[name], name
    assert written["transformer"]["model"]["name"] == tiny_bert
    assert written["qa"]["max_seq_length"] == 384 and written["qa"]["allow_no_answer"] is squad_v2


def test_debug_config_reads_the_written_file(tmp_path, capsys):
    from spacy.cli.debug_config import debug_config
    from spacy.tokens import DocBin

    generate_config(["ner", "textcat", "qa"]).to_disk(tmp_path / "config.cfg")
    DocBin().to_disk(tmp_path / "empty.spacy")
    corpora = {
        "paths.train": str(tmp_path / "empty.spacy"),
        "paths.dev": str(tmp_path / "empty.spacy"),
    }
    debug_config(tmp_path / "config.cfg", overrides=corpora)  # exits on an invalid config
    assert "Config is valid" in capsys.readouterr().out
