"""The `bert_qa` component: extractive span QA on the shared encoder's weights."""

import warnings
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc, SpanGroup
from spacy.training import Example, validate_get_examples
from thinc.api import Config, Model, set_dropout_rate

from ..contract import EncoderHead, EncoderPort
from .extensions import ANSWERS_KEY, install_qa_extensions
from .postprocess import (
    AnswerCandidate,
    WindowLogits,
    best_answers,
    candidate_probabilities,
    choose_answer,
)
from .windows import PairWindows, answer_positions, encode_pairs, tokenizable_question

PairResult = Optional[Tuple[List[AnswerCandidate], float]]

DEFAULT_MODEL = Config().from_str(
    """
[model]
@architectures = "spacy-bert-tasks.SpanQAHead.v1"
dropout = 0.1
upstream = "*"
"""
)["model"]


@Language.factory(
    "bert_qa",
    assigns=["doc.spans"],
    default_config={
        "model": DEFAULT_MODEL,
        "max_seq_length": 384,
        "doc_stride": 128,
        "max_question_length": 64,
        "n_best": 20,
        "max_answer_length": 30,
        "allow_no_answer": False,
        "null_score_diff_threshold": 0.0,
        "spans_key": ANSWERS_KEY,
        "max_batch_windows": 8,
        "scorer": {"@scorers": "spacy-bert-tasks.squad_scorer.v1"},
    },
    default_score_weights={
        "qa_f1": 1.0,
        "qa_exact": 0.0,
        "qa_has_ans_exact": None,
        "qa_has_ans_f1": None,
        "qa_no_ans_exact": None,
        "qa_no_ans_f1": None,
        "qa_total": None,
        "qa_docs_without_question": None,
    },
)
def make_bert_qa(
    nlp: Language,
    name: str,
    model: Model,
    max_seq_length: int,
    doc_stride: int,
    max_question_length: int,
    n_best: int,
    max_answer_length: int,
    allow_no_answer: bool,
    null_score_diff_threshold: float,
    spans_key: str,
    max_batch_windows: int,
    scorer: Optional[Callable],
) -> "SpanQuestionAnswerer":
    """Answers `doc._.question` with a span of the doc, reading the shared BERT encoder.

    model (Model[WordpieceBatch, Floats3d]): Start and end logits per wordpiece of each window,
        usually spacy-bert-tasks.SpanQAHead.v1 (its `upstream` names the encoder).
    max_seq_length (int): Wordpieces per window, [CLS] question [SEP] context [SEP].
    doc_stride (int): Wordpieces shared by consecutive windows of a long context.
    max_question_length (int): Longer questions are cut (with a warning).
    n_best (int): Answers kept per question (and start/end positions paired per window).
    max_answer_length (int): Longest answer, in wordpieces.
    allow_no_answer (bool): SQuAD 2.0: predict "no answer" when the [CLS] score wins.
    null_score_diff_threshold (float): Answer only if null - best <= this (tune on a dev set).
    spans_key (str): Where the n-best answers go: doc.spans[spans_key].
    max_batch_windows (int): Windows per encoder batch. Each holds its activations for up to
        max_seq_length wordpieces: 8 suits CPUs (32 peaked 130-170 MB higher with MiniLM
        and was no faster), 32 GPUs.
    """
    return SpanQuestionAnswerer(
        nlp.vocab,
        model,
        name,
        max_seq_length=max_seq_length,
        doc_stride=doc_stride,
        max_question_length=max_question_length,
        n_best=n_best,
        max_answer_length=max_answer_length,
        allow_no_answer=allow_no_answer,
        null_score_diff_threshold=null_score_diff_threshold,
        spans_key=spans_key,
        max_batch_windows=max_batch_windows,
        scorer=scorer,
    )


class SpanQuestionAnswerer(EncoderHead, TrainablePipe):
    """Extractive QA: [CLS] question [SEP] context [SEP] through the shared encoder.

    The thinc model reads the encoder's pair pass through its `PairLink` (see contract.py), so
    the pipeline holds one copy of the weights and the QA gradient lands in them, in the
    encoder's single backward pass per step. Docs whose `_.question` is None are left alone (a
    mixed pipeline).
    Predictions: doc.spans[spans_key] holds the n-best answers, best first, with attrs "scores"
    (probabilities over the n-best, and "no answer" when allowed), "texts" (the answers exactly
    as predicted, before snapping to tokens), "no_answer" and "null_score".
    """

    def __init__(self, vocab, model: Model, name: str = "bert_qa", *, scorer=None, **settings):
        self.vocab = vocab
        self.model = model
        self.name = name
        self.scorer = scorer
        _check_settings(settings)
        self.cfg: Dict = dict(settings)
        install_qa_extensions()

    # The encoder -------------------------------------------------------------------------------

    @property
    def encoder(self) -> EncoderPort:
        """The linked encoder (a clear error when the pipeline has none before this head)."""
        return self.model.get_ref("encoder_link").linked_port(self.name)

    def learns_from(self, example: Example) -> bool:
        """Whether the example asks a question (the others are not QA docs)."""
        return example.reference._.question is not None

    def initialize(self, get_examples: Callable[[], Iterable[Example]], *, nlp=None) -> None:
        """Size the output layer from the (initialized) encoder; QA needs no labels."""
        validate_get_examples(get_examples, f"{type(self).__name__}.initialize")
        width = self.encoder.width
        self.model.get_ref("output_layer").set_dim("nI", width)
        self.model.initialize()

    # Prediction --------------------------------------------------------------------------------

    def predict(self, docs: Iterable[Doc]) -> List[PairResult]:
        """The n-best answers and the null score of each doc that has a question (else None)."""
        docs = list(docs)
        asked = [i for i, doc in enumerate(docs) if doc._.question is not None]
        results: List[PairResult] = [None] * len(docs)
        if not asked:
            return results
        self._require_initialized()
        windows = self._encode([docs[i] for i in asked])
        logits = [None] * len(windows)
        pad_id = self.encoder.tokenizer.pad_token_id
        for chunk in windows.chunks(self.cfg["max_batch_windows"], longest_first=True):
            batch = windows.wordpieces(chunk, pad_id)
            chunk_logits = self.model.predict(batch)
            for row, i in enumerate(chunk):
                logits[i] = self.model.ops.to_numpy(chunk_logits[row, : batch.lengths[row]])
        per_pair: Dict[int, List[WindowLogits]] = {}
        for i, pair in enumerate(windows.pair_of_window):
            per_pair.setdefault(pair, []).append(
                WindowLogits(
                    logits[i][:, 0], logits[i][:, 1], windows.offsets[i], windows.sequence_ids[i]
                )
            )
        for pair, doc_index in enumerate(asked):
            results[doc_index] = best_answers(
                per_pair[pair],
                n_best=self.cfg["n_best"],
                max_answer_length=self.cfg["max_answer_length"],
            )
        return results

    def set_annotations(self, docs: Iterable[Doc], results: Sequence[PairResult]) -> None:
        """Write the n-best answers, snapped to tokens, into doc.spans[spans_key]."""
        key = self.cfg["spans_key"]
        for doc, result in zip(docs, results):
            if result is not None:
                doc.spans[key] = self._answer_group(doc, *result, name=key)

    def _answer_group(
        self, doc: Doc, candidates: List[AnswerCandidate], null: float, *, name: str
    ) -> SpanGroup:
        allow_no_answer = self.cfg["allow_no_answer"]
        no_answer = choose_answer(
            candidates,
            null,
            null_score_diff_threshold=self.cfg["null_score_diff_threshold"],
            allow_no_answer=allow_no_answer,
        )
        probabilities = candidate_probabilities(candidates, null if allow_no_answer else None)
        # Once: doc.text joins every token, which per candidate made long docs slow.
        text = doc.text
        spans, scores, texts, seen = [], [], [], set()
        for candidate, probability in zip(candidates, probabilities):
            span = doc.char_span(candidate.start_char, candidate.end_char, alignment_mode="expand")
            # Two candidates inside the same tokens snap to one span: keep the better one.
            if span is None or (span.start, span.end) in seen:
                continue
            seen.add((span.start, span.end))
            spans.append(span)
            scores.append(probability)
            texts.append(text[candidate.start_char : candidate.end_char])
        attrs = {"scores": scores, "texts": texts, "no_answer": no_answer, "null_score": null}
        return SpanGroup(doc, name=name, spans=spans, attrs=attrs)

    def ask(self, docs: Sequence[Doc], questions: Sequence[Sequence[str]]) -> List[List[SpanGroup]]:
        """Answer questions about docs without running (or changing) the rest of the pipeline.

        docs (Sequence[Doc]): Processed or freshly tokenized docs; they are not modified.
        questions (Sequence[Sequence[str]]): The questions for each doc.
        RETURNS (List[List[SpanGroup]]): Per doc, per question, the n-best answers as spans of
            that doc (same attrs as in the pipeline). All windows are encoded in one batch.
        RAISES (TypeError, ValueError): The arguments do not have these types, or differ in length.
        """
        _check_ask_arguments(docs, questions)
        copies, owners = [], []
        for position, (doc, doc_questions) in enumerate(zip(docs, questions)):
            for question in doc_questions:
                copy = Doc(
                    doc.vocab,
                    words=[t.text for t in doc],
                    spaces=[bool(t.whitespace_) for t in doc],
                )
                copy._.question = question
                copies.append(copy)
                owners.append(position)
        results = self.predict(copies)
        answers: List[List[SpanGroup]] = [[] for _ in docs]
        for position, result in zip(owners, results):
            group = self._answer_group(docs[position], *result, name=self.cfg["spans_key"])
            answers[position].append(group)
        return answers

    # Training ----------------------------------------------------------------------------------

    def learn(
        self, examples: List[Example], *, drop: float, sgd, losses: Dict[str, float]
    ) -> Dict[str, float]:
        """Learn from the examples that have a question; the others are skipped.

        Per chunk of windows, the usual predict -> loss -> backprop: the model's pair pass runs
        through the encoder, which backpropagates it with the other heads' gradients.
        """
        asked = [eg for eg in examples if self.learns_from(eg)]
        self._require_initialized()
        for eg in asked:
            if eg.predicted._.question is None:
                eg.predicted._.question = eg.reference._.question
        windows = self._encode([eg.predicted for eg in asked])
        golds = [_gold_answer(eg.reference) for eg in asked]
        set_dropout_rate(self.model, drop)
        pad_id = self.encoder.tokenizer.pad_token_id
        for chunk in windows.chunks(self.cfg["max_batch_windows"]):
            batch = windows.wordpieces(chunk, pad_id)
            logits, backprop = self.model.begin_update(batch)
            positions = [
                answer_positions(
                    windows.offsets[i], windows.sequence_ids[i], golds[windows.pair_of_window[i]]
                )
                for i in chunk
            ]
            loss, d_logits = self._loss(logits, batch.lengths, positions)
            backprop(d_logits)
            losses[self.name] += loss
        if sgd not in (None, False):
            self.finish_update(sgd)
        return losses

    def _loss(self, logits, lengths: List[int], positions: List[Tuple[int, int]]):
        """Cross-entropy of the gold start and end over each window's real wordpieces, halved."""
        xp = self.model.ops.xp
        d_logits = xp.zeros(logits.shape, dtype="f")
        loss = 0.0
        for row, (length, gold) in enumerate(zip(lengths, positions)):
            for column, position in enumerate(gold):
                scores = logits[row, :length, column]
                probs = xp.exp(scores - scores.max())
                probs /= probs.sum()
                loss -= float(xp.log(probs[position] + 1e-12)) / 2
                probs[position] -= 1.0
                d_logits[row, :length, column] = probs / 2
        return loss, d_logits

    def score(self, examples: Iterable[Example], **kwargs) -> Dict:
        """SQuAD EM/F1 over the examples with a question (see qa/scorer.py).

        spaCy's own Corpus (used by `spacy evaluate`) builds the predicted docs from the text
        alone, so they arrive here without their question and unanswered: those are answered
        now, from the reference's question, rather than scored as empty answers.
        """
        examples = list(examples)
        unasked = [
            eg
            for eg in examples
            if eg.reference._.question is not None and eg.predicted._.question is None
        ]
        for eg in unasked:
            eg.predicted._.question = eg.reference._.question
        if unasked:
            docs = [eg.predicted for eg in unasked]
            self.set_annotations(docs, self.predict(docs))
        return super().score(examples, **kwargs)

    def get_loss(self, examples, scores):
        raise NotImplementedError(f"{type(self).__name__} computes its loss in update().")

    # Helpers -----------------------------------------------------------------------------------

    def _max_seq_length(self) -> int:
        """max_seq_length, capped (with a warning) at what the encoder's positions allow."""
        limit = self.encoder.tokenizer.model_max_length
        wanted = self.cfg["max_seq_length"]
        if wanted <= limit:
            return wanted
        if not getattr(self, "_warned_cap", False):
            warnings.warn(
                f"'{self.name}': max_seq_length = {wanted} exceeds the encoder's limit of {limit} "
                f"wordpieces; windows of {limit} are used.",
                UserWarning,
            )
            self._warned_cap = True
        _check_settings({**self.cfg, "max_seq_length": limit})
        return limit

    def _encode(self, docs: Sequence[Doc]) -> PairWindows:
        windows = encode_pairs(
            self.encoder.tokenizer,
            [tokenizable_question(doc._.question) for doc in docs],
            [doc.text for doc in docs],
            max_seq_length=self._max_seq_length(),
            doc_stride=self.cfg["doc_stride"],
            max_question_length=self.cfg["max_question_length"],
        )
        if windows.n_truncated_questions:
            warnings.warn(
                f"'{self.name}': {windows.n_truncated_questions} question(s) longer than "
                f"max_question_length = {self.cfg['max_question_length']} wordpieces were cut "
                "to that length.",
                UserWarning,
            )
        return windows

    def _require_initialized(self) -> None:
        if not self.model.get_ref("output_layer").has_dim("nI"):
            raise ValueError(f"'{self.name}' is not initialized: call nlp.initialize() first.")


def _gold_answer(reference: Doc) -> Optional[Tuple[int, int]]:
    """The first gold answer's (start_char, end_char), or None for "no answer"."""
    answers = reference._.gold_answers
    if answers is not None:
        if not answers:
            return None
        first = answers[0]
        return first["answer_start"], first["answer_start"] + len(first["text"])
    spans = reference.spans.get(ANSWERS_KEY)
    return (spans[0].start_char, spans[0].end_char) if spans else None


def _check_ask_arguments(docs: Sequence[Doc], questions: Sequence[Sequence[str]]) -> None:
    """Reject what `ask` would otherwise misread: zip would drop docs or questions, and a str
    of questions would be asked one character at a time."""
    for doc in docs:
        if not isinstance(doc, Doc):
            raise TypeError(
                f"ask expected Doc objects, got a {type(doc).__name__}; pass nlp.make_doc(text) "
                "for a text (or a doc the pipeline has processed)"
            )
    if len(docs) != len(questions):
        raise ValueError(
            f"ask expected one list of questions per doc, got {len(docs)} docs and "
            f"{len(questions)} lists; pass [] for a doc with no question"
        )
    for doc_questions in questions:
        if isinstance(doc_questions, str) or not all(isinstance(q, str) for q in doc_questions):
            raise TypeError(
                f"ask expected a list of question strings per doc, got {str(doc_questions)[:60]!r}; "
                'wrap a single question in a list: [["Who?"]]'
            )


def _check_settings(settings: Dict) -> None:
    positive = (
        "max_seq_length",
        "doc_stride",
        "max_question_length",
        "n_best",
        "max_answer_length",
        "max_batch_windows",
    )
    for name in positive:
        if settings[name] < 1:
            raise ValueError(f"bert_qa: {name} must be at least 1, got {settings[name]}.")
    room = settings["max_seq_length"] - settings["max_question_length"] - 3
    if room <= settings["doc_stride"]:
        raise ValueError(
            f"bert_qa: a window of {settings['max_seq_length']} wordpieces leaves {room} for the "
            f"context after a question of up to {settings['max_question_length']} and 3 special "
            f"tokens, which must exceed doc_stride = {settings['doc_stride']} (the overlap). "
            "Raise max_seq_length or lower max_question_length or doc_stride."
        )
