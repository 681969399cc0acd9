"""Write a `spacy train` config for a set of heads on one BERT encoder.

The training settings are those of BERT fine-tuning: AdamW at 5e-5 with linear warm-up then
linear decay, weight decay 0.01, gradient clipping at 1.0, dropout 0.1, and batches bounded by
padded size so that long and short docs cost alike.

The config is written whole, as `spacy init config` writes its own: the templates below hold
only what differs from the factories' defaults (the defaults live in the factories), and spaCy's
fill machinery writes out every other setting from those factories. So every setting has its
section in the file and can be overridden on the command line
(`--components.transformer.model.train_precision fp32`): spaCy refuses an override whose section
is missing. `spacy init fill-config` leaves the file as it is.
"""

from typing import Iterable, List, Optional

from spacy import util
from thinc.api import Config

from ..encoder.names import EMBEDDED_ENCODER
from ..training.budget import evaluation_schedule

TASKS = ("ner", "textcat", "qa")
NER_HEADS = ("bert_ner", "ner")

# One head: spaCy's padded batches. Several: one task per batch (training/batcher.py). In a
# mixed batch the heads' gradients add up in the shared encoder, and NER's per-token loss sends
# it 4-10x the gradient norm of textcat's per-doc loss, so the encoder barely learns the smaller
# signal (docs/benchmarks.md, "Joint against single-task training"). "corpus" shares keep each
# task's exposure that of its single-task training: every doc once per epoch.
PADDED_BATCHER = """
[training.batcher]
@batchers = "spacy.batch_by_padded.v1"
discard_oversize = false
size = {batch_size}
buffer = 256
get_length = null
"""

TASK_BATCHER = """
[training.batcher]
@batchers = "spacy-bert-tasks.batch_by_task.v1"
size = {batch_size}
shares = "corpus"
buffer = 256
discard_oversize = false
"""

BASE = """
[paths]
train = null
dev = null

[system]
gpu_allocator = {gpu_allocator}
seed = 0

[nlp]
lang = "{lang}"
pipeline = {pipeline}
# Docs are sorted by length within a batch of this many before encoding: large is faster.
batch_size = 1000

[components]

[components.transformer]
factory = "bert_transformer"

[corpora]

[corpora.train]
@readers = "{reader}"
path = ${{paths.train}}
max_length = 0

[corpora.dev]
@readers = "{reader}"
path = ${{paths.dev}}
max_length = 0

[training]
seed = ${{system.seed}}
gpu_allocator = ${{system.gpu_allocator}}
dropout = 0.1
accumulate_gradient = 1
patience = 0
max_epochs = 0
max_steps = {max_steps}
eval_frequency = {eval_frequency}
frozen_components = []
annotating_components = []
train_corpus = "corpora.train"
dev_corpus = "corpora.dev"

{batcher}
[training.optimizer]
@optimizers = "spacy-bert-tasks.Adam.v2"
head_learn_rate_scale = {head_scale}
beta1 = 0.9
beta2 = 0.999
L2_is_weight_decay = true
L2 = 0.01
grad_clip = 1.0
use_averages = false
eps = 1e-8

[training.optimizer.learn_rate]
@schedules = "warmup_linear.v1"
warmup_steps = {warmup_steps}
total_steps = {max_steps}
initial_rate = {learn_rate}

# Keeps resident memory flat through training (README, "Memory"): malloc_trim every 10 steps
# returns the heaps' freed activations; the oneDNN cap stops bf16 kernels piling up, one per
# batch shape. `before_update = null` under [training] turns both off.
[training.before_update]
@callbacks = "spacy-bert-tasks.release_freed_memory.v2"
every_n_steps = 10
onednn_cache_capacity = 64

# progress_bar "train": a bar with the steps done and the time left, between the table rows
# (spaCy shows it on a terminal only). output_file: a JSON Lines record per evaluation, for
# plotting (`python -m spacy_bert_tasks train` sets it to OUTPUT/train_log.jsonl and flushes it
# at each evaluation).
[training.logger]
@loggers = "spacy.ConsoleLogger.v3"
progress_bar = "train"
console_output = true
output_file = null
"""

# The heads' blocks: only what differs from their factory's defaults (generate_config fills in
# the rest). Each head names the encoder it reads (the factories' default, "*", is any encoder).
LISTENING_HEAD = """
[components.{name}]
factory = "{factory}"

[components.{name}.model]

[components.{name}.model.tok2vec]
upstream = "transformer"
"""

# spaCy's own transition-based NER on the encoder's token vectors (its default reads a tok2vec).
TRANSITION_NER = """
[components.ner]
factory = "ner"

[components.ner.model]
use_upper = false

[components.ner.model.tok2vec]
@architectures = "spacy-bert-tasks.TokenVectorListener.v1"
grad_factor = 1.0
upstream = "transformer"

[components.ner.model.tok2vec.pooling]
@layers = "reduce_mean.v1"
"""

# The factory's defaults are BERT's SQuAD settings, as in Hugging Face's pipeline.
QA = """
[components.qa]
factory = "bert_qa"

[components.qa.model]
upstream = "transformer"
"""

# spaCy's doc_cleaner drops doc._.trf_data by default (and doc.tensor, which no head here sets;
# an `attrs` block naming only _.trf_data would get tensor merged back in from the factory).
DOC_CLEANER = """
[components.doc_cleaner]
factory = "doc_cleaner"
"""


def batches_by_task(tasks: Iterable[str]) -> bool:
    """Whether a config for these heads batches one task at a time (see TASK_BATCHER)."""
    return len(_check_tasks(tasks)) > 1


def generate_config(
    tasks: Iterable[str],
    *,
    encoder: str = EMBEDDED_ENCODER,
    lang: str = "en",
    gpu: bool = False,
    ner_head: str = "bert_ner",
    multilabel: bool = False,
    max_steps: int = 20000,
    learn_rate: float = 5e-5,
    warmup_fraction: float = 0.1,
    batch_size: Optional[int] = None,
    head_learn_rate_scale: float = 20.0,
    squad_v2: bool = False,
) -> Config:
    """A validated training config with every setting written out, the factories' defaults
    included, as `spacy init fill-config` would write it: any setting can be overridden on the
    command line.

    tasks (Iterable[str]): Heads to include: "ner", "textcat", "qa" (any order; at least one).
    encoder (str): HF model name, local folder, or 'embedded:all-MiniLM-L6-v2'.
    lang (str): spaCy language code for the tokenizer.
    gpu (bool): Let PyTorch allocate GPU memory (use with `spacy train --gpu-id 0`) and batch more.
    ner_head (str): "bert_ner" (token classifier) or "ner" (spaCy's transition-based NER).
    multilabel (bool): Text classification with any number of labels per doc.
    max_steps (int): Training steps; the learning rate decays linearly to 0 at the last one.
        Rounded up to a multiple of eval_frequency, so that the last step is scored.
    learn_rate (float): Peak learning rate, reached after the warm-up.
    warmup_fraction (float): Share of `max_steps` spent warming up.
    batch_size (Optional[int]): Padded tokens per batch (default 1000 on CPU, 4000 on GPU).
    head_learn_rate_scale (float): The heads, trained from scratch, learn this many times faster
        than the encoder (spacy-bert-tasks.Adam.v1).
    squad_v2 (bool): QA may answer "no answer" (SQuAD 2.0).
    RETURNS (Config): The config as `init-config` writes it.
    """
    tasks = _check_tasks(tasks)
    try:
        util.get_lang_class(lang)
    except ImportError:  # spaCy's E048, with a traceback through the registry
        raise ValueError(
            f"Unknown language code '{lang}': expected one of spaCy's codes, e.g. en, de, fr or "
            "xx (multi-language); see https://spacy.io/usage/models#languages."
        ) from None
    if ner_head not in NER_HEADS:
        raise ValueError(f"Unknown NER head '{ner_head}': expected one of {', '.join(NER_HEADS)}.")
    if max_steps < 1 or not 0 <= warmup_fraction < 1:
        raise ValueError("max_steps must be >= 1 and warmup_fraction in [0, 1).")
    # The last step is always an evaluation (max_steps may grow by a few steps: budget.py).
    max_steps, eval_frequency = evaluation_schedule(max_steps)
    # spaCy's own NER does not release the encoder output; its doc_cleaner does.
    needs_cleaner = tasks[-1] == "ner" and ner_head == "ner"
    pipeline = ["transformer", *tasks] + (["doc_cleaner"] if needs_cleaner else [])
    text = BASE.format(
        gpu_allocator='"pytorch"' if gpu else "null",
        lang=lang,
        pipeline=str(pipeline).replace("'", '"'),
        max_steps=max_steps,
        eval_frequency=eval_frequency,
        batcher=(TASK_BATCHER if batches_by_task(tasks) else PADDED_BATCHER).format(
            batch_size=batch_size or (4000 if gpu else 1000)
        ),
        warmup_steps=int(max_steps * warmup_fraction),
        learn_rate=learn_rate,
        head_scale=head_learn_rate_scale,
        # spaCy's reader would drop the question that QA docs carry in user data.
        reader="spacy-bert-tasks.Corpus.v1" if "qa" in tasks else "spacy.Corpus.v1",
    )
    if "ner" in tasks:
        bert_ner = LISTENING_HEAD.format(name="ner", factory="bert_ner")
        text += bert_ner if ner_head == "bert_ner" else TRANSITION_NER
    if "textcat" in tasks:
        text += LISTENING_HEAD.format(name="textcat", factory="bert_textcat")
    if "qa" in tasks:
        text += QA
    if needs_cleaner:
        text += DOC_CLEANER
    written = Config().from_str(text, interpolate=False)
    components = written["components"]
    if encoder != EMBEDDED_ENCODER:
        components["transformer"]["model"] = {"name": encoder.replace("\\", "/")}
    if gpu:
        # Larger padded batches: on CPU, small ones stay in the caches (bench/README.md); QA's
        # windows of up to 384 wordpieces likewise (on CPU, 8 peaked 130-170 MB lower than 32
        # with MiniLM in bench/peak_rss.py's workload and ran no slower).
        components["transformer"]["max_batch_items"] = 4096
        if "qa" in tasks:
            components["qa"]["max_batch_windows"] = 32
    if multilabel and "textcat" in tasks:
        components["textcat"]["model"]["exclusive_classes"] = False
    if squad_v2 and "qa" in tasks:
        components["qa"]["allow_no_answer"] = True
    # Building the (uninitialized) pipeline fills every default from the factories and validates
    # the whole config. Every section is kept, the components' model blocks too: spaCy accepts a
    # command-line override only of a setting whose section is in the file.
    config = filled_config(written)
    _functions_first(config)
    return config


def filled_config(config: Config) -> Config:
    """The config with every default filled in (what `spacy init fill-config` writes).

    config (Config): A config, e.g. from `generate_config`.
    RETURNS (Config): The filled config, validated by building its (uninitialized) pipeline.
    """
    return util.load_model_from_config(config, auto_fill=True, validate=True).config


def _functions_first(block: dict) -> None:
    """Put, in each section of `block`, the registered function (`@architectures = ...`) first,
    for the reader: spaCy fills a function's name in after the settings written for it, as in
    `[components.qa.model] upstream = ... @architectures = ...`. In place; order only.
    """
    for key in sorted(block, key=lambda key: not key.startswith("@")):
        block[key] = block.pop(key)  # re-inserted at the end, in the sorted order
        if isinstance(block[key], dict):
            _functions_first(block[key])


def _check_tasks(tasks: Iterable[str]) -> List[str]:
    tasks = [task.strip() for task in tasks if task.strip()]
    unknown = [task for task in tasks if task not in TASKS]
    if unknown or not tasks:
        raise ValueError(
            f"Unknown or missing tasks {unknown or tasks}: choose from {', '.join(TASKS)} "
            "(comma-separated, e.g. --tasks ner,textcat)."
        )
    return list(dict.fromkeys(tasks))
