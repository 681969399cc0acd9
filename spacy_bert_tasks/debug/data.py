"""Statistics of a training config's corpora, per task, for `python -m spacy_bert_tasks debug-data`.

spaCy's `debug data` reports NER and textcat label statistics only for its own factories
(`ner`, `textcat`...): it knows nothing of `bert_ner`, `bert_textcat` or `bert_qa`, and offers no
hook for other components. This reads the corpora as `spacy train` would (the config's readers,
so QA questions come along) and counts, per corpus:

- NER: entities per label; docs without entity annotation (ignored by the NER loss); entities
  that no encoder window holds whole (strided windows of `window` tokens, `stride` apart: such
  an entity is only ever seen cut in two).
- textcat: docs per positive label; docs without cats (ignored by the textcat loss).
- QA: questions; docs without a question; gold answers whose characters do not fall on token
  boundaries (trained on the expanded span); questions longer than `max_question_length`
  wordpieces (cut); contexts longer than one window (split into several).
"""

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional

from spacy.language import Language
from spacy.training import Example

from ..qa.extensions import install_qa_extensions

# [CLS] question [SEP] context [SEP]
PAIR_SPECIAL_TOKENS = 3


@dataclass
class CorpusStats:
    """What `corpus_stats` found in one corpus (all counts; labels in descending frequency)."""

    n_docs: int = 0
    entity_labels: Counter = field(default_factory=Counter)
    docs_without_entities_annotation: int = 0
    entities_crossing_windows: List[str] = field(default_factory=list)
    cat_labels: Counter = field(default_factory=Counter)
    docs_without_cats: int = 0
    questions: int = 0
    docs_without_question: int = 0
    unaligned_answers: List[str] = field(default_factory=list)
    long_questions: List[str] = field(default_factory=list)
    long_contexts: int = 0

    def to_dict(self) -> Dict[str, Any]:
        data = dict(self.__dict__)
        data["entity_labels"] = dict(self.entity_labels.most_common())
        data["cat_labels"] = dict(self.cat_labels.most_common())
        return data


def corpus_stats(
    examples: Iterable[Example],
    *,
    window: Optional[int] = None,
    stride: Optional[int] = None,
    tokenizer=None,
    max_seq_length: int = 384,
    max_question_length: int = 64,
) -> CorpusStats:
    """Count labels, unannotated docs and what the encoder's limits do to the gold, per task.

    examples (Iterable[Example]): The corpus, as its reader yields it.
    window, stride (Optional[int]): The encoder's strided windows, in spaCy tokens; None skips
        the entity check (another span getter).
    tokenizer: The encoder's Hugging Face tokenizer, for the QA checks in wordpieces; None
        skips them.
    max_seq_length, max_question_length (int): bert_qa's settings.
    RETURNS (CorpusStats): The counts.
    """
    install_qa_extensions()
    stats = CorpusStats()
    for eg in examples:
        doc = eg.reference
        stats.n_docs += 1
        where = f"doc {stats.n_docs - 1}"
        if doc.has_annotation("ENT_IOB"):
            stats.entity_labels.update(ent.label_ for ent in doc.ents)
            if window is not None and stride is not None:
                stats.entities_crossing_windows.extend(
                    f"{where}: {ent.text!r} ({ent.label_}, tokens {ent.start}-{ent.end})"
                    for ent in doc.ents
                    if not _in_one_window(ent.start, ent.end, len(doc), window, stride)
                )
        else:
            stats.docs_without_entities_annotation += 1
        if doc.cats:
            stats.cat_labels.update(label for label, value in doc.cats.items() if value >= 0.5)
        else:
            stats.docs_without_cats += 1
        if eg.predicted._.question is None and doc._.question is None:
            stats.docs_without_question += 1
            continue
        stats.questions += 1
        question = doc._.question or eg.predicted._.question
        for answer in doc._.gold_answers or ():
            start, text = answer["answer_start"], answer["text"]
            if doc.char_span(start, start + len(text)) is None:
                stats.unaligned_answers.append(
                    f"{where} ({doc._.qa_id}): {text!r} at character {start}"
                )
        if tokenizer is not None:
            n_question = len(tokenizer(question, add_special_tokens=False)["input_ids"])
            if n_question > max_question_length:
                stats.long_questions.append(f"{where} ({doc._.qa_id}): {n_question} wordpieces")
            n_context = len(tokenizer(doc.text, add_special_tokens=False)["input_ids"])
            room = max_seq_length - min(n_question, max_question_length) - PAIR_SPECIAL_TOKENS
            stats.long_contexts += n_context > room
    return stats


def _in_one_window(start: int, end: int, length: int, window: int, stride: int) -> bool:
    """Whether tokens [start, end) lie inside one of the windows [k*stride, k*stride + window)."""
    if length <= window:
        return True
    first_window = max(0, (end - window + stride - 1) // stride)  # the first that reaches `end`
    return first_window * stride <= start


def encoder_settings(nlp: Language) -> Dict[str, Any]:
    """The window, stride and encoder name of the pipeline's bert_transformer, and bert_qa's limits."""
    settings: Dict[str, Any] = {}
    for name in nlp.component_names:
        config = nlp.config["components"][name]
        if config.get("factory") == "bert_transformer":
            model = config.get("model", {})
            settings["encoder"] = model.get("name")
            get_spans = model.get("get_spans", {})
            if get_spans.get("@span_getters") == "spacy-transformers.strided_spans.v1":
                settings["window"], settings["stride"] = get_spans["window"], get_spans["stride"]
        elif config.get("factory") == "bert_qa":
            settings["max_seq_length"] = config.get("max_seq_length", 384)
            settings["max_question_length"] = config.get("max_question_length", 64)
    return settings
