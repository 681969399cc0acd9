"""Extractive-QA post-processing: start/end logits of each window to ranked answer spans.

A (question, context) pair is encoded as one or more windows `[CLS] question [SEP] context-part
[SEP]` that overlap by a stride. Following BERT's run_squad and Hugging Face's `utils_qa.py`, each
window proposes answer spans from its n-best start and end positions, the windows' proposals are
merged into one n-best list per pair, and the [CLS] position gives the "no answer" (null) score
for SQuAD 2.0. Every function here is pure and works on numpy arrays, so it is tested on its own
and the QA component only has to call it.

Invariants: token positions are indices into one window's wordpieces (0 is [CLS]); end token
positions are INCLUSIVE; character offsets index the context string and `end_char` is EXCLUSIVE.
"""

from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy
from thinc.types import Floats1d, Ints1d, Ints2d

# The tokenizer's `sequence_ids`: 0 question, 1 context, None (or -1 here) special and padding.
CONTEXT_ID = 1
SequenceIds = Union[Ints1d, Sequence[Optional[int]]]


@dataclass(frozen=True)
class AnswerCandidate:
    """One answer span in the context, with the score the model gave it.

    start_char (int): Offset of the answer's first character in the context.
    end_char (int): Offset one past the answer's last character (exclusive).
    score (float): start logit + end logit; comparable with the null score.
    window (int): Index of the window whose logits gave this score.
    """

    start_char: int
    end_char: int
    score: float
    window: int


@dataclass(frozen=True, eq=False)
class WindowLogits:
    """The model output and tokenizer alignment of one window of a (question, context) pair.

    start_logits, end_logits (Floats1d): One logit per wordpiece.
    offsets (Ints2d): (n_wordpieces, 2) character offsets into the context (used where context).
    sequence_ids (SequenceIds): Per wordpiece 0 (question), 1 (context), None or -1 (special).
    """

    start_logits: Floats1d
    end_logits: Floats1d
    offsets: Ints2d
    sequence_ids: SequenceIds


def window_candidates(
    start_logits: Floats1d,
    end_logits: Floats1d,
    offsets: Ints2d,
    sequence_ids: SequenceIds,
    *,
    n_best: int = 20,
    max_answer_length: int = 30,
    window: int = 0,
) -> List[AnswerCandidate]:
    """The best answer spans of one window, best first.

    Pairs the `n_best` highest start positions with the `n_best` highest end positions and keeps
    the pairs that form a span of at most `max_answer_length` wordpieces inside the context.
    Unlike run_squad, the n-best positions are taken among CONTEXT wordpieces only: a question or
    special position can never be part of an answer, so letting it fill an n-best slot only
    loses answers (with n_best >= window length both give the same result).
    start_logits (Floats1d): Start logit per wordpiece.
    end_logits (Floats1d): End logit per wordpiece.
    offsets (Ints2d): (n_wordpieces, 2) character offsets into the context.
    sequence_ids (SequenceIds): Per wordpiece 0, 1, or None/-1 (see `WindowLogits`).
    n_best (int): How many start and end positions to pair (and at most n_best**2 results).
    max_answer_length (int): Longest answer, in wordpieces.
    window (int): Window index recorded on the candidates.
    RETURNS (List[AnswerCandidate]): Valid spans by decreasing score; ties by position.
    """
    _check_positive(n_best=n_best, max_answer_length=max_answer_length)
    starts, ends, offsets, seq_ids = _window_arrays(start_logits, end_logits, offsets, sequence_ids)
    context = numpy.flatnonzero(seq_ids == CONTEXT_ID)
    if context.size == 0:
        return []
    top_starts = _top_positions(starts, context, n_best)
    top_ends = _top_positions(ends, context, n_best)
    # (n_best, n_best) grid of (start, end) pairs; both are context positions by construction.
    lengths = top_ends[None, :] - top_starts[:, None] + 1
    rows, cols = numpy.nonzero((lengths >= 1) & (lengths <= max_answer_length))
    span_starts, span_ends = top_starts[rows], top_ends[cols]
    scores = starts[span_starts] + ends[span_ends]
    # lexsort's LAST key is the primary one: score descending, then position, so order is stable.
    order = numpy.lexsort((span_ends, span_starts, -scores))
    return [
        AnswerCandidate(
            start_char=int(offsets[span_starts[i], 0]),
            end_char=int(offsets[span_ends[i], 1]),
            score=float(scores[i]),
            window=window,
        )
        for i in order
    ]


def null_score(start_logits: Floats1d, end_logits: Floats1d) -> float:
    """The "no answer" score of one window: the span that starts and ends at [CLS] (position 0).

    start_logits, end_logits (Floats1d): Logits per wordpiece; position 0 must be [CLS].
    RETURNS (float): start_logits[0] + end_logits[0].
    """
    starts = numpy.asarray(start_logits, dtype="float64")
    ends = numpy.asarray(end_logits, dtype="float64")
    if starts.size == 0 or ends.size == 0:
        raise ValueError(
            "null_score expected logits with at least the [CLS] position, got "
            f"{starts.size} start and {ends.size} end logits."
        )
    # float64 as in window_candidates, so that null - candidate.score is the same everywhere.
    return float(starts[0] + ends[0])


def best_answers(
    windows: Sequence[WindowLogits], *, n_best: int = 20, max_answer_length: int = 30
) -> Tuple[List[AnswerCandidate], float]:
    """The n-best answers of one (question, context) pair over all its windows, and its null score.

    Overlapping windows see the same context wordpieces, so one answer span is often proposed by
    two windows with different scores: it is kept once, with its best score (and that window).
    Without this, duplicates would take n-best slots and count twice in the probabilities.
    The null score of the pair is the MINIMUM over the windows (run_squad, HF utils_qa): training
    teaches a window that does not hold the answer to point at [CLS], so such windows have a high
    null score even when the pair is answerable; the pair is judged unanswerable only if even its
    most answer-minded window prefers [CLS].
    windows (Sequence[WindowLogits]): The pair's windows, in tokenizer order (at least one).
    n_best (int): How many positions to pair per window, and how many answers to return.
    max_answer_length (int): Longest answer, in wordpieces.
    RETURNS (Tuple[List[AnswerCandidate], float]): Answers best first (possibly empty), null score.
    """
    if len(windows) == 0:
        raise ValueError(
            "best_answers expected at least one window per (question, context) pair, got none. "
            "The tokenizer gives one even for an empty context: pass every window of the pair."
        )
    best: Dict[Tuple[int, int], AnswerCandidate] = {}
    for i, win in enumerate(windows):
        found = window_candidates(
            win.start_logits,
            win.end_logits,
            win.offsets,
            win.sequence_ids,
            n_best=n_best,
            max_answer_length=max_answer_length,
            window=i,
        )
        for candidate in found:
            key = (candidate.start_char, candidate.end_char)
            if key not in best or candidate.score > best[key].score:
                best[key] = candidate
        # Keep the n_best so far, so a long context (thousands of windows, up to n_best**2
        # candidates each) costs bounded memory. Exact: a span dropped here is beaten by n_best
        # others whose scores can only rise; seen again, it is beaten again.
        if len(best) > n_best:
            best = {(c.start_char, c.end_char): c for c in _ranked(best.values())[:n_best]}
    null = min(null_score(win.start_logits, win.end_logits) for win in windows)
    return _ranked(best.values())[:n_best], null


def _ranked(candidates: Iterable[AnswerCandidate]) -> List[AnswerCandidate]:
    """Best first; ties by position, so the order (and any cut) is stable."""
    return sorted(candidates, key=lambda c: (-c.score, c.start_char, c.end_char))


def choose_answer(
    candidates: Sequence[AnswerCandidate],
    null: float,
    *,
    null_score_diff_threshold: float = 0.0,
    allow_no_answer: bool,
) -> bool:
    """Whether the prediction for a pair is "no answer" (SQuAD 2.0 style).

    With `allow_no_answer`, the pair gets no answer when there is no candidate or when
    null - best score > null_score_diff_threshold (tune it with `best_threshold`). Without it
    (SQuAD 1.1), the answer is always the best candidate, and False is returned even when there
    is none: the caller then has no span to report.
    candidates (Sequence[AnswerCandidate]): The pair's candidates, in any order.
    null (float): The pair's null score (see `best_answers`).
    null_score_diff_threshold (float): Higher values answer less often.
    allow_no_answer (bool): Whether "no answer" is a possible prediction.
    RETURNS (bool): True for "no answer".
    """
    if not allow_no_answer:
        return False
    if len(candidates) == 0:
        return True
    best = max(candidate.score for candidate in candidates)
    return bool(null - best > null_score_diff_threshold)


def candidate_probabilities(
    candidates: Sequence[AnswerCandidate], null: Optional[float] = None
) -> List[float]:
    """The answer confidence reported to users: a softmax over the candidates' scores.

    As in HF's pipeline and utils_qa, the probabilities are relative to the n-best list passed
    in (a longer list spreads the mass), not calibrated chances of being right. With `null`, the
    "no answer" option takes part and gets the last probability.
    candidates (Sequence[AnswerCandidate]): The candidates, e.g. from `best_answers`.
    null (Optional[float]): The null score, or None to leave "no answer" out.
    RETURNS (List[float]): One probability per candidate (then null), summing to 1; [] if none.
    """
    scores = [candidate.score for candidate in candidates]
    if null is not None:
        scores.append(null)
    if not scores:
        return []
    values = numpy.asarray(scores, dtype="float64")
    # Shift by the max so exp cannot overflow; the softmax does not change.
    exps = numpy.exp(values - values.max())
    return (exps / exps.sum()).tolist()


def best_threshold(
    null_diffs: Sequence[float],
    has_answer: Sequence[bool],
    correct_if_answered: Sequence[float],
) -> Tuple[float, float]:
    """Tune `null_score_diff_threshold` on a dev set, like SQuAD 2.0's `find_best_thresh`.

    A question is answered when its diff <= threshold (as in `choose_answer`). An answered
    question scores its `correct_if_answered` if it has an answer and 0 if not; an unanswered one
    scores 1 if it has no answer and 0 if it has. Sorting by diff and sweeping the threshold
    upward answers one more group of questions at each step, so all thresholds are scored in
    O(n log n). Unlike the official script, questions with equal diffs are answered together
    (a threshold cannot separate them), and the returned threshold reproduces the returned
    score: the smallest diff that reaches it, or a value below every diff when answering nothing
    is best. Ties between thresholds go to the lower one (fewer answers), as in the official script.
    null_diffs (Sequence[float]): null - best non-null score per question; +inf for a question
        with no candidate at all (never answered).
    has_answer (Sequence[bool]): Whether the question truly has an answer.
    correct_if_answered (Sequence[float]): F1 or EM (0-1) of the best non-null answer.
    RETURNS (Tuple[float, float]): The threshold and the mean score (0-1) it gives.
    """
    diffs = numpy.asarray(null_diffs, dtype="float64").ravel()
    has = numpy.asarray(has_answer, dtype=bool).ravel()
    gains = numpy.asarray(correct_if_answered, dtype="float64").ravel()
    if not (diffs.size == has.size == gains.size) or diffs.size == 0:
        raise ValueError(
            "best_threshold expected one null_diff, has_answer and correct_if_answered per "
            f"question and at least one question, got {diffs.size}, {has.size} and {gains.size}."
        )
    if numpy.isnan(diffs).any() or numpy.isneginf(diffs).any():
        raise ValueError("best_threshold expected null_diffs finite or +inf, got NaN or -inf.")
    if ((gains < 0) | (gains > 1)).any():
        raise ValueError(
            "best_threshold expected correct_if_answered between 0 and 1, got values from "
            f"{gains.min()} to {gains.max()}. Divide percentages by 100."
        )
    n_questions = diffs.size
    # Answering nothing: every unanswerable question is right.
    base = float((~has).sum())
    answerable = numpy.isfinite(diffs)
    if not answerable.any():
        return 0.0, base / n_questions
    # Answering a question changes the total by its F1/EM if it has an answer, by -1 if not.
    deltas = numpy.where(has, gains, -1.0)[answerable]
    order = numpy.argsort(diffs[answerable], kind="stable")
    sorted_diffs = diffs[answerable][order]
    totals = base + numpy.cumsum(deltas[order])
    # Only the last question of each run of equal diffs ends a reachable threshold.
    ends_run = numpy.append(sorted_diffs[1:] != sorted_diffs[:-1], True)
    run_totals, run_diffs = totals[ends_run], sorted_diffs[ends_run]
    best = int(numpy.argmax(run_totals))  # the first maximum: the lowest threshold
    if run_totals[best] > base:
        return float(run_diffs[best]), float(run_totals[best]) / n_questions
    lowest = float(sorted_diffs[0])
    return lowest - max(1.0, abs(lowest)), base / n_questions


def _top_positions(logits: numpy.ndarray, positions: numpy.ndarray, n_best: int) -> numpy.ndarray:
    """The `n_best` positions among `positions` with the highest logits (ties: lower first)."""
    order = numpy.argsort(-logits[positions], kind="stable")[:n_best]
    return positions[order]


def _window_arrays(start_logits, end_logits, offsets, sequence_ids):
    """Validated float64 logits, (n, 2) int offsets and int sequence ids (-1 for None)."""
    starts = numpy.asarray(start_logits, dtype="float64").ravel()
    ends = numpy.asarray(end_logits, dtype="float64").ravel()
    if isinstance(sequence_ids, numpy.ndarray) and sequence_ids.dtype != object:
        seq_ids = sequence_ids.astype("int64").ravel()
    else:
        seq_ids = numpy.asarray([-1 if s is None else s for s in sequence_ids], dtype="int64")
    spans = numpy.asarray(offsets, dtype="int64")
    if spans.size == 0:
        spans = spans.reshape(0, 2)
    if spans.ndim != 2 or spans.shape[1] != 2:
        raise ValueError(f"Expected offsets of shape (n_wordpieces, 2), got {spans.shape}.")
    if not (starts.size == ends.size == spans.shape[0] == seq_ids.size):
        raise ValueError(
            "Expected one start logit, end logit, (start, end) offset and sequence id per "
            f"wordpiece, got {starts.size}, {ends.size}, {spans.shape[0]} and {seq_ids.size}. "
            "Pass the arrays of a single window (one row of the tokenizer's overflowing output)."
        )
    return starts, ends, spans, seq_ids


def _check_positive(**settings: int) -> None:
    for name, value in settings.items():
        if isinstance(value, bool) or not isinstance(value, (int, numpy.integer)) or value < 1:
            raise ValueError(f"Expected {name} to be a positive integer, got {value!r}.")
