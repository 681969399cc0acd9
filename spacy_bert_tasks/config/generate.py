"""Write a complete `spacy train` config for a set of heads on one BERT encoder.

The defaults are those of BERT fine-tuning: AdamW at 5e-5 with linear warm-up then linear decay,
weight decay 0.01, gradient clipping at 1.0, dropout 0.1, and batches bounded by padded size so
that long and short docs cost alike. Every value stays editable in the written file.
"""
from typing import Iterable, List, Optional

from spacy import util
from thinc.api import Config

from ..encoder.names import EMBEDDED_ENCODER
from ..training.budget import evaluation_schedule

TASKS = ("ner", "textcat", "qa")
NER_HEADS = ("bert_ner", "ner")

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
max_batch_items = {max_batch_items}
keep_trf_data = false

[components.transformer.model]
@architectures = "spacy-bert-tasks.BertEncoder.v1"
name = "{encoder}"
tokenizer_config = {{"use_fast": true}}
transformer_config = {{}}
mixed_precision = false
grad_scaler_config = {{}}

[components.transformer.model.get_spans]
@span_getters = "spacy-transformers.strided_spans.v1"
window = 128
stride = 96

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

[training.batcher]
@batchers = "spacy.batch_by_padded.v1"
discard_oversize = false
size = {batch_size}
buffer = 256
get_length = null

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

BERT_NER = """
[components.ner]
factory = "bert_ner"
tag_scheme = "BILUO"
spans_key = "ents"

[components.ner.model]
@architectures = "spacy-bert-tasks.TokenClassifier.v1"
dropout = 0.1
"""

# Both NER heads read token vectors from the shared encoder in the same way.
NER_TOKEN_VECTORS = """
[components.ner.model.tok2vec]
@architectures = "spacy-bert-tasks.TokenVectorListener.v1"
grad_factor = 1.0
upstream = "transformer"

[components.ner.model.tok2vec.pooling]
@layers = "reduce_mean.v1"
"""

# spaCy's own transition-based NER, reading the same encoder.
TRANSITION_NER = """
[components.ner]
factory = "ner"

[components.ner.model]
@architectures = "spacy.TransitionBasedParser.v2"
state_type = "ner"
extra_state_tokens = false
hidden_width = 64
maxout_pieces = 2
use_upper = false
nO = null
"""

TEXTCAT = """
[components.textcat]
factory = "bert_textcat"
threshold = 0.5

[components.textcat.model]
@architectures = "spacy-bert-tasks.ClsClassifier.v1"
exclusive_classes = {exclusive}
dropout = 0.1

[components.textcat.model.tok2vec]
@architectures = "spacy-bert-tasks.ClsVectorListener.v1"
grad_factor = 1.0
upstream = "transformer"
"""

# BERT's SQuAD settings (as in Hugging Face's pipeline); the reader passes questions to the model.
QA = """
[components.qa]
factory = "bert_qa"
max_seq_length = 384
doc_stride = 128
max_question_length = 64
n_best = 20
max_answer_length = 30
allow_no_answer = {allow_no_answer}
null_score_diff_threshold = 0.0
spans_key = "answers"
max_batch_windows = {max_batch_windows}
upstream = "transformer"

[components.qa.model]
@architectures = "spacy-bert-tasks.SpanQAHead.v1"
dropout = 0.1
"""

DOC_CLEANER = """
[components.doc_cleaner]
factory = "doc_cleaner"
attrs = {"_.trf_data": null}
silent = true
"""


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
    """A filled and validated training config.

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
    RETURNS (Config): The config, with every default filled in.
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
        # Padded batches (in spaCy tokens): small ones stay in CPU caches (bench/README.md).
        max_batch_items=4096 if gpu else 1024,
        lang=lang,
        pipeline=str(pipeline).replace("'", '"'),
        encoder=encoder.replace("\\", "/"),
        max_steps=max_steps,
        eval_frequency=eval_frequency,
        batch_size=batch_size or (4000 if gpu else 1000),
        warmup_steps=int(max_steps * warmup_fraction),
        learn_rate=learn_rate,
        head_scale=head_learn_rate_scale,
        # spaCy's reader would drop the question that QA docs carry in user data.
        reader="spacy-bert-tasks.Corpus.v1" if "qa" in tasks else "spacy.Corpus.v1",
    )
    if "ner" in tasks:
        text += BERT_NER if ner_head == "bert_ner" else TRANSITION_NER
        text += NER_TOKEN_VECTORS
    if "textcat" in tasks:
        text += TEXTCAT.format(exclusive=str(not multilabel).lower())
    if "qa" in tasks:
        # Windows of up to 384 wordpieces per QA encoder call, each with its activations: on
        # CPU, 8 peaked 130-170 MB lower than 32 with MiniLM in bench/peak_rss.py's workload
        # and ran no slower; GPUs want larger batches, as for max_batch_items.
        text += QA.format(
            allow_no_answer=str(squad_v2).lower(), max_batch_windows=32 if gpu else 8
        )
    if needs_cleaner:
        text += DOC_CLEANER
    config = Config().from_str(text, interpolate=False)
    # Building the (uninitialized) pipeline fills every default and validates the whole config.
    nlp = util.load_model_from_config(config, auto_fill=True, validate=True)
    return nlp.config


def _check_tasks(tasks: Iterable[str]) -> List[str]:
    tasks = [task.strip() for task in tasks if task.strip()]
    unknown = [task for task in tasks if task not in TASKS]
    if unknown or not tasks:
        raise ValueError(
            f"Unknown or missing tasks {unknown or tasks}: choose from {', '.join(TASKS)} "
            "(comma-separated, e.g. --tasks ner,textcat)."
        )
    return list(dict.fromkeys(tasks))
