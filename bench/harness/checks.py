"""Checks that a pipeline's output is sound, for the soak benchmarks and the tests' fuzzing.

- `randomize_heads`: untrained heads start at zero and predict no entity at all, which would
  leave the entity and answer code (and any memory it keeps) out of a measurement or a check.
- `doc_problems`, `answer_group_problems`: what is wrong with a processed doc (empty when all is
  well); `encoder_coverage`, `qa_coverage`: how the encoder's and the QA head's windows see a doc.
- `prose`, `prose_words`: long texts of ordinary words for long-input runs.

It imports neither pytest nor hypothesis; tests/hardening.py builds its fuzzing on it.
"""

import math
import random
from typing import Dict, List, Optional, Sequence

import numpy
from spacy.language import Language
from spacy.tokens import Doc

# Prose for long docs: words of one or several wordpieces, numbers, a URL, punctuation.
PROSE_WORDS = (
    "the a of and to in is was for on that with by as at from his her their it this which "
    "London Paris Berlin Microsoft Google Maria John Smith river company government president "
    "announced yesterday reported million percent market shares season league championship "
    "unbelievably internationalisation 1,234,567 2024-06-01 https://example.com/a/very/long/path?q=1"
).split()


def prose(n_chars: int, *, seed: int) -> str:
    """Exactly `n_chars` characters of sentences of PROSE_WORDS, with paragraph breaks."""
    rng = random.Random(seed)
    sentences: List[str] = []
    size = 0
    while size < n_chars:
        sentence = " ".join(rng.choice(PROSE_WORDS) for _ in range(rng.randint(5, 30))) + ". "
        sentence += "\n\n" if rng.random() < 0.2 else ""
        sentences.append(sentence)
        size += len(sentence)
    return "".join(sentences)[:n_chars]


def prose_words(n_words: int, *, seed: int) -> str:
    """Exactly `n_words` space-separated words of PROSE_WORDS."""
    rng = random.Random(seed)
    return " ".join(rng.choice(PROSE_WORDS) for _ in range(n_words))


def randomize_heads(nlp: Language, *, seed: int, scale: float = 2.0) -> None:
    """Give each head's output layer random weights, so untrained heads find entities and answers.

    scale (float): Standard deviation of the weights times sqrt(input width): large values make
        confident, often invalid tag sequences (so the valid-sequence decoder runs too).
    """
    rng = numpy.random.default_rng(seed)
    for name in ("ner", "textcat", "qa"):
        if name not in nlp.pipe_names:
            continue
        layer = nlp.get_pipe(name).model.get_ref("output_layer")
        weights = layer.get_param("W")
        std = scale / math.sqrt(weights.shape[1])
        layer.set_param("W", layer.ops.asarray(rng.normal(0.0, std, weights.shape).astype("f")))


def doc_problems(
    doc: Doc,
    text: Optional[str] = None,
    *,
    ner_labels: Sequence[str],
    cat_labels: Sequence[str],
) -> List[str]:
    """What is wrong with a doc that the three-head pipeline processed; empty when all is well.

    Checks: the text came through whole; entities and answers are non-empty token spans inside
    the doc whose character offsets match the text; entity scores in (0, 1]; exclusive cats are
    the known labels and sum to 1; answer texts lie within their span; the encoder output was
    released. A doc with `_.question` must have an answer group, one without must not.
    text (Optional[str]): The input text, if the doc was made from one.
    ner_labels, cat_labels (Sequence[str]): The pipeline's entity and cat labels.
    """
    problems = []
    doc_text = doc.text  # once: doc.text joins every token (quadratic per entity on long docs)
    where = f"doc {doc_text[:30]!r}"
    if text is not None and doc_text != text:
        problems.append(f"{where}: text changed ({len(text)} -> {len(doc_text)} chars)")
    group = doc.spans.get("ents")
    spans = list(group) if group is not None else []
    if [(s.start, s.end, s.label_) for s in spans] != [
        (e.start, e.end, e.label_) for e in doc.ents
    ]:
        problems.append(f"{where}: doc.spans['ents'] differs from doc.ents")
    scores = group.attrs.get("scores", []) if group is not None else []
    if len(scores) != len(spans) or not all(0.0 < s <= 1.0 + 1e-6 for s in scores):
        problems.append(f"{where}: entity scores {scores} for {len(spans)} entities")
    problems += [
        f"{where}: entity {p}" for ent in doc.ents for p in span_problems(doc, ent, doc_text)
    ]
    problems += [
        f"{where}: label {ent.label_!r}" for ent in doc.ents if ent.label_ not in ner_labels
    ]
    cats = doc.cats
    if sorted(cats) != sorted(cat_labels) or not all(
        math.isfinite(v) and 0 <= v <= 1 for v in cats.values()
    ):
        problems.append(f"{where}: cats {cats}")
    elif abs(sum(cats.values()) - 1.0) > 1e-4:
        problems.append(f"{where}: exclusive cats sum to {sum(cats.values())}")
    if doc._.trf_data is not None:
        problems.append(f"{where}: doc._.trf_data was not released")
    answers = doc.spans.get("answers")
    if doc._.question is None:
        if answers is not None:
            problems.append(f"{where}: answers for a doc without a question")
    elif answers is None:
        problems.append(f"{where}: no answer group for question {doc._.question[:30]!r}")
    else:
        problems += answer_group_problems(doc, answers, doc_text)
    return problems


def answer_group_problems(doc: Doc, group, doc_text: Optional[str] = None) -> List[str]:
    """What is wrong with a group of QA answers on `doc` (from the pipeline or from `ask`).

    doc_text (Optional[str]): doc.text, if the caller has it already.
    """
    doc_text = doc.text if doc_text is None else doc_text
    where = f"doc {doc_text[:30]!r}"
    problems = [
        f"{where}: answer {p}" for span in group for p in span_problems(doc, span, doc_text)
    ]
    scores, texts = group.attrs["scores"], group.attrs["texts"]
    if not (len(scores) == len(texts) == len(group)):
        problems.append(f"{where}: {len(group)} answers, {len(scores)} scores, {len(texts)} texts")
    if not all(math.isfinite(s) and 0.0 <= s <= 1.0 + 1e-6 for s in scores):
        problems.append(f"{where}: answer scores {scores}")
    for span, answer_text in zip(group, texts):
        # The answer as predicted (character offsets) lies inside the span it was snapped to.
        if not answer_text or answer_text not in span.text:
            problems.append(f"{where}: answer text {answer_text!r} not in its span {span.text!r}")
    if not math.isfinite(group.attrs["null_score"]):
        problems.append(f"{where}: null score {group.attrs['null_score']}")
    return problems


def span_problems(doc: Doc, span, doc_text: str) -> List[str]:
    """What is wrong with a span's token and character offsets in `doc` (whose text is given)."""
    problems = []
    if not 0 <= span.start < span.end <= len(doc):
        problems.append(f"tokens [{span.start}, {span.end}) outside [0, {len(doc)}] or empty")
    if not 0 <= span.start_char < span.end_char <= len(doc_text):
        problems.append(f"chars [{span.start_char}, {span.end_char}) outside [0, {len(doc_text)}]")
    elif span.text != doc_text[span.start_char : span.end_char]:
        problems.append(f"text {span.text!r} is not the text at its offsets")
    return problems


def encoder_coverage(nlp: Language, doc: Doc) -> Dict[str, int]:
    """How the encoder's windows see a doc (tokenization only, no forward pass).

    RETURNS (Dict[str, int]): "tokens"; "uncovered" tokens in no window; "unencoded" tokens with
        visible characters but no wordpiece in any window; "max_window" wordpieces of the longest
        window and the encoder's "limit" (more would be truncated).
    """
    # The encoder's own window fitting, as its forward pass runs it.
    from spacy_bert_tasks.encoder.model import _tokenize_fitting_windows

    model = nlp.get_pipe("transformer").model
    nested_spans, encoding, align = _tokenize_fitting_windows(model, [doc])
    covered = numpy.zeros(len(doc), dtype=bool)
    for span in nested_spans[0]:
        covered[span.start : span.end] = True
    # One row per token in any window, in doc order: its wordpieces, over all its windows.
    pieces = numpy.zeros(len(doc), dtype="int64")
    pieces[covered] = align.lengths
    visible = numpy.asarray(
        [any(c.isprintable() and not c.isspace() for c in t.text) for t in doc], dtype=bool
    )
    return {
        "tokens": len(doc),
        "uncovered": int((~covered).sum()),
        "unencoded": int((visible & (pieces == 0)).sum()),
        "max_window": int(numpy.asarray(encoding["attention_mask"]).sum(axis=1).max(initial=0)),
        "limit": int(model.tokenizer.model_max_length),
    }


def qa_coverage(nlp: Language, doc: Doc) -> Dict[str, int]:
    """How the QA head's windows see a doc asking `doc._.question` (tokenization only).

    RETURNS (Dict[str, int]): "windows"; "chars" of the context that are visible (not space)
        and "uncovered" ones of those in no window's context part; "max_window" wordpieces and
        the encoder's "limit".
    """
    from spacy_bert_tasks.qa.postprocess import CONTEXT_ID

    qa = nlp.get_pipe("qa")
    windows = qa._encode([doc])  # the component's own pair encoding
    covered = numpy.zeros(len(doc.text) + 1, dtype="int64")
    for offsets, sequence_ids in zip(windows.offsets, windows.sequence_ids):
        spans = offsets[sequence_ids == CONTEXT_ID]
        # +1 at each start, -1 at each end: a prefix sum counts the windows over each char.
        numpy.add.at(covered, spans[:, 0], 1)
        numpy.add.at(covered, spans[:, 1], -1)
    counts = numpy.cumsum(covered)[: len(doc.text)]
    visible = numpy.frombuffer(doc.text.encode("utf-32-le"), dtype="<u4") > 32
    return {
        "windows": len(windows),
        "chars": int(visible.sum()),
        "uncovered": int((visible & (counts == 0)).sum()),
        "max_window": max(len(ids) for ids in windows.input_ids),
        "limit": int(qa.encoder.tokenizer.model_max_length),
    }
