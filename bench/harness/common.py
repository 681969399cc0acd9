"""Shared pieces of the benchmarks in bench/: texts, fair timing, tables, spaCy pipelines.

numpy, torch, spaCy and transformers are imported inside the functions that need them: the
thread count must reach the environment before numpy and torch load (see `pin_threads`), and a
benchmark parses its arguments first.
"""

import argparse
import gc
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CONLL_VALID = SHARED / "datasets" / "conll2003" / "valid.txt"
SQUAD_DEV = SHARED / "datasets" / "squad" / "squad-v1.1-dev-articles-00-31.json"
SQUAD_DEV_ARTICLES = "26-31"  # the dev articles of the fixed by-article split of SQUAD_DEV
ENT_LABELS = ("PER", "LOC", "ORG", "MISC")
CATS = ("POSITIVE", "NEGATIVE")
# Variables that size the OpenMP / BLAS pools of torch and numpy; read once, when they load.
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")

System = Callable[[], Any]


def positive_int(text: str) -> int:
    """argparse type for counts that must be at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text}")
    return value


def int_list(text: str) -> List[int]:
    """argparse type: '1,8,32' -> [1, 8, 32], each >= 1."""
    return [positive_int(part) for part in text.split(",") if part.strip()]


def pin_threads(n_threads: int) -> None:
    """Give torch and numpy the same thread count for every system, and keep HF offline.

    n_threads (int): Threads for torch's intra-op pool and the BLAS / OpenMP pools.
    """
    for var in THREAD_ENV_VARS:
        os.environ[var] = str(n_threads)
    # A benchmark never downloads: every model comes from a local folder.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    if "numpy" in sys.modules:
        print(
            "warning: numpy was imported before pin_threads; its BLAS pool keeps its own size",
            file=sys.stderr,
        )
    import torch

    torch.set_num_threads(n_threads)


def load_texts(n_texts: int, path: Optional[Path] = None) -> List[str]:
    """The first `n_texts` texts: lines of `path`, or CoNLL-2003 valid sentences.

    n_texts (int): How many texts to return.
    path (Optional[Path]): A UTF-8 file with one text per line (blank lines skipped). By default,
        the sentences of shared/datasets/conll2003/valid.txt, tokens joined by spaces.
    RETURNS (List[str]): The texts, in file order.
    """
    source = path or CONLL_VALID
    if not source.is_file():
        raise FileNotFoundError(
            f"Expected a text file at {source}, found none. Pass --texts FILE (one text per line)."
        )
    lines = source.read_text(encoding="utf8").splitlines()
    texts = [line.strip() for line in lines if line.strip()] if path else _conll_sentences(lines)
    if len(texts) < n_texts:
        raise ValueError(
            f"Expected at least {n_texts} texts in {source}, found {len(texts)}. "
            "Lower --n-texts or give a longer file."
        )
    return texts[:n_texts]


def _conll_sentences(lines: Iterable[str]) -> List[str]:
    # CoNLL-2003: one token per line (token first), a blank line ends a sentence.
    sentences: List[str] = []
    tokens: List[str] = []
    for line in list(lines) + [""]:
        fields = line.split()
        if fields and fields[0] != "-DOCSTART-":
            tokens.append(fields[0])
        elif not fields and tokens:
            sentences.append(" ".join(tokens))
            tokens = []
    return sentences


def load_squad_pairs(
    n_pairs: int, path: Optional[Path] = None, articles: Optional[str] = None
) -> List[Tuple[str, str]]:
    """The first `n_pairs` (question, context) pairs of some SQuAD articles, in file order.

    n_pairs (int): How many pairs to return.
    path (Optional[Path]): A file in the official SQuAD JSON format; by default SQUAD_DEV.
    articles (Optional[str]): Article indices, e.g. "26-31" or "0,3,5-7". By default the dev
        articles of SQUAD_DEV, or every article of another file.
    RETURNS (List[Tuple[str, str]]): (question, context) pairs; a context repeats per question.
    """
    return [(q, c) for q, c, _ in load_squad_questions(n_pairs, path, articles)]


def load_squad_questions(
    n_pairs: int, path: Optional[Path] = None, articles: Optional[str] = None
) -> List[Tuple[str, str, List[str]]]:
    """As load_squad_pairs, with each question's gold answer texts: (question, context, golds)."""
    source = path or SQUAD_DEV
    if not source.is_file():
        raise FileNotFoundError(f"Expected SQuAD JSON at {source}, found none. Pass --squad FILE.")
    data = json.loads(source.read_text(encoding="utf8"))["data"]
    if articles is None and source == SQUAD_DEV:
        articles = SQUAD_DEV_ARTICLES
    indices = range(len(data)) if articles is None else parse_index_ranges(articles)
    if any(not 0 <= index < len(data) for index in indices):
        raise ValueError(f"Expected article indices 0-{len(data) - 1} in {source}, got {articles}.")
    questions = [
        (qa["question"], paragraph["context"], [a["text"] for a in qa.get("answers", [])])
        for index in indices
        for paragraph in data[index]["paragraphs"]
        for qa in paragraph["qas"]
    ]
    if len(questions) < n_pairs:
        raise ValueError(
            f"Expected at least {n_pairs} questions in articles {articles or 'all'} of {source}, "
            f"found {len(questions)}. Lower --n-questions or choose more articles."
        )
    return questions[:n_pairs]


def parse_index_ranges(text: str) -> List[int]:
    """'0,3,5-7' -> [0, 3, 5, 6, 7]: inclusive ranges, as a user types them."""
    indices: List[int] = []
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        indices.extend(range(int(first), int(last or first) + 1))
    return indices


def count_words(texts: Iterable[str]) -> int:
    """Whitespace-separated words: one count that every system is measured against."""
    return sum(len(text.split()) for text in texts)


def time_interleaved(
    systems: Dict[str, System],
    *,
    repeats: int,
    on_warmup: Optional[Callable[[str, Any], None]] = None,
    warm_up: bool = True,
    alternate: bool = False,
) -> Dict[str, List[float]]:
    """Seconds per pass of each system: one untimed warm-up each, then interleaved repeats.

    Repeats run A, B, C, A, B, C...: a slow spell of the machine (another job, thermal limits)
    then hits every system alike instead of one system's whole series. With `alternate`, every
    other repeat runs in reverse (A, B, B, A, ...), so that no system always runs in the state
    the one before it left behind (a warm cache, a heap to trim).

    systems (Dict[str, System]): Name to a callable doing one full pass over the texts.
    repeats (int): Timed passes per system.
    on_warmup (Optional[Callable[[str, Any], None]]): Sees each warm-up pass's return value
        (e.g. to count entities), so that outputs need not be kept.
    warm_up (bool): Whether to run the untimed warm-up pass (False: the caller warmed up).
    alternate (bool): Reverse the order on every other repeat.
    RETURNS (Dict[str, List[float]]): Wall-clock seconds of each timed pass, by system name.
    """
    for name, run in systems.items() if warm_up else ():
        result = run()
        if on_warmup is not None:
            on_warmup(name, result)
        del result
    times: Dict[str, List[float]] = {name: [] for name in systems}
    order = list(systems.items())
    for repeat in range(repeats):
        for name, run in reversed(order) if alternate and repeat % 2 else order:
            # Garbage left by the previous system is collected here, not on this one's clock.
            gc.collect()
            start = time.perf_counter()
            result = run()
            times[name].append(time.perf_counter() - start)
            del result  # freeing the outputs is not part of the pass
    return times


def summarise(seconds: Sequence[float], *, n_words: int, n_texts: int) -> Dict[str, Any]:
    """Median words/s and texts/s over the passes, and their spread (max - min) / median.

    The spread is None for a single pass: there is nothing to compare it with.
    """
    rates = [n_words / s for s in seconds]
    median = statistics.median(rates)
    return {
        "seconds": list(seconds),
        "words_per_s": median,
        "texts_per_s": median * n_texts / n_words if n_words else 0.0,
        "spread": (max(rates) - min(rates)) / median if len(rates) > 1 else None,
    }


def markdown_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], *, text_columns: Sequence[int] = (0,)
) -> str:
    """A Markdown table, padded to line up as plain text too.

    headers (Sequence[str]): Column titles.
    rows (Sequence[Sequence[str]]): Formatted cells, one sequence per row.
    text_columns (Sequence[int]): Left-aligned columns; the others hold numbers and align right.
    RETURNS (str): The table, without a final newline.
    """
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]

    def line(cells: Sequence[str]) -> str:
        padded = [
            str(cell).ljust(width) if i in text_columns else str(cell).rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = ["-" * w if i in text_columns else "-" * (w - 1) + ":" for i, w in enumerate(widths)]
    return "\n".join([line(headers), "| " + " | ".join(rule) + " |"] + [line(r) for r in rows])


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (all systems loaded together)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KB on Linux


def versions() -> Dict[str, str]:
    """Versions of Python and of the libraries whose speed is compared (installed metadata)."""
    from importlib.metadata import version

    libraries = ("torch", "transformers", "spacy", "spacy-transformers", "thinc")
    return {"python": sys.version.split()[0], **{name: version(name) for name in libraries}}


def build_spacy_pipeline(
    tasks: Sequence[str],
    encoder: Optional[str] = None,
    release_heap: Union[bool, str, None] = "trim",
    get_spans: Optional[Dict[str, Any]] = None,
):
    """This package's pipeline for `tasks`, from the generated training config, initialized.

    The heads get random weights from a few synthetic examples: prediction speed does not
    depend on what the weights learned.

    tasks (Sequence[str]): "ner", "textcat" and/or "qa".
    encoder (Optional[str]): A local folder or HF model name; None for the embedded MiniLM.
    release_heap (Union[bool, str, None]): The encoder's `release_heap` mode
        (spacy_bert_tasks/encoder/heap.py); None: the factory's default.
    get_spans (Optional[dict]): The encoder's window settings (a config block); None: as generated.
    RETURNS (Language): Components "transformer" plus the heads, ready for `nlp.pipe`.
    """
    from spacy import util

    from spacy_bert_tasks.config import generate_config

    util.fix_random_seed(0)
    config = generate_config(tasks, **({"encoder": encoder} if encoder else {}))
    if release_heap is not None:
        config["components"]["transformer"]["release_heap"] = release_heap
    if get_spans is not None:
        # The generated config holds only what differs from the factory: no model block yet.
        config["components"]["transformer"].setdefault("model", {})["get_spans"] = get_spans
    nlp = util.load_model_from_config(config, auto_fill=True)
    examples = synthetic_examples(nlp)
    nlp.initialize(lambda: examples)
    return nlp


def synthetic_examples(nlp) -> List:
    """A handful of Examples with every CoNLL entity label and both (exclusive) cats."""
    from spacy.training import Example

    data = [
        (
            "John Smith flew from Paris to Berlin .",
            [(0, 10, "PER"), (21, 26, "LOC"), (30, 36, "LOC")],
            "POSITIVE",
        ),
        ("Microsoft hired Maria Lopez last week .", [(0, 9, "ORG"), (16, 27, "PER")], "NEGATIVE"),
        ("The Italian team lost to Juventus .", [(4, 11, "MISC"), (25, 33, "ORG")], "NEGATIVE"),
        ("Rain again in London today .", [(14, 20, "LOC")], "POSITIVE"),
    ]
    examples = []
    for text, entities, cat in data:
        cats = {label: float(label == cat) for label in CATS}
        examples.append(Example.from_dict(nlp.make_doc(text), {"entities": entities, "cats": cats}))
    return examples


def build_qa_pipeline():
    """The pipeline from `generate_config(["qa"])` ("transformer" + "qa"), initialized.

    Like `build_spacy_pipeline`, on a few synthetic examples: the QA head gets random weights.
    """
    from spacy import util
    from spacy.training import Example

    from spacy_bert_tasks.config import generate_config
    from spacy_bert_tasks.qa.extensions import install_qa_extensions

    install_qa_extensions()
    util.fix_random_seed(0)
    nlp = util.load_model_from_config(generate_config(["qa"]), auto_fill=True)
    data = [
        ("John Smith flew from Paris to Berlin.", "Where did John Smith fly to?", "Berlin"),
        ("Microsoft hired Maria Lopez last week.", "Who did Microsoft hire?", "Maria Lopez"),
    ]
    examples = []
    for context, question, answer in data:
        start = context.index(answer)
        reference = nlp.make_doc(context)
        reference._.question = question
        reference._.gold_answers = [{"text": answer, "answer_start": start}]
        reference.spans["answers"] = [reference.char_span(start, start + len(answer))]
        predicted = nlp.make_doc(context)
        predicted._.question = question
        examples.append(Example(predicted, reference))
    nlp.initialize(lambda: examples)
    return nlp


def write_json(path: Path, data: Dict[str, Any]) -> None:
    """Write `data` as indented JSON, creating the folder if needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf8")


def step_rates(
    seconds: Dict[str, List[float]], words: Sequence[int], ours: str, peer: str
) -> Dict[str, Any]:
    """Training words/s of each side over the same timed steps, and ours / the peer's.

    seconds (Dict[str, List[float]]): Each side's seconds per timed step.
    words (Sequence[int]): Words of each timed step's batch (the same batches on both sides).
    RETURNS (Dict[str, Any]): Per side "seconds", "words_per_s", "median_step_seconds"; "ratio",
        "timed_steps", "words".
    """
    found: Dict[str, Any] = {
        side: {
            "seconds": times,
            "words_per_s": sum(words) / sum(times),
            "median_step_seconds": statistics.median(times),
        }
        for side, times in seconds.items()
    }
    ratio = found[ours]["words_per_s"] / found[peer]["words_per_s"]
    return {**found, "ratio": ratio, "timed_steps": len(words), "words": sum(words)}
