"""QA post-processing: hand-built windows, brute-force references and a real fast tokenizer."""

import math
import re
import string

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spacy_bert_tasks.qa.postprocess import (
    AnswerCandidate,
    WindowLogits,
    best_answers,
    best_threshold,
    candidate_probabilities,
    choose_answer,
    null_score,
    window_candidates,
)

LOW = -5.0  # logit of every position that is not a peak


def chars(first: int, last: int):
    """Character span of context tokens first..last (inclusive): token k covers 4k..4k+3."""
    return (4 * first, 4 * last + 3)


def make_window(n_context, *, first=0, n_question=3, n_pad=0, starts=None, ends=None, cls=0.0):
    """[CLS] question [SEP] context tokens first..first+n_context-1 [SEP] [PAD]*n_pad.

    `starts` / `ends` map a context token (numbered over the whole context, so overlapping
    windows share numbers and character offsets) to its logit; every other position gets LOW.
    """
    seq_ids = [-1] + [0] * n_question + [-1] + [1] * n_context + [-1] + [-1] * n_pad
    offsets = [(0, 0)] + [(2 * i, 2 * i + 1) for i in range(n_question)] + [(0, 0)]
    offsets += [chars(k, k) for k in range(first, first + n_context)] + [(0, 0)] * (1 + n_pad)
    start_logits = numpy.full(len(seq_ids), LOW)
    end_logits = numpy.full(len(seq_ids), LOW)
    start_logits[0] = end_logits[0] = cls
    for logits, peaks in ((start_logits, starts or {}), (end_logits, ends or {})):
        for token, value in peaks.items():
            assert first <= token < first + n_context
            logits[n_question + 2 + token - first] = value
    return WindowLogits(start_logits, end_logits, numpy.asarray(offsets), numpy.asarray(seq_ids))


def candidates_of(win, **kwargs):
    return window_candidates(
        win.start_logits, win.end_logits, win.offsets, win.sequence_ids, **kwargs
    )


def test_obvious_answer_is_best():
    win = make_window(8, starts={2: 10.0}, ends={4: 9.0})
    found = candidates_of(win)
    assert found[0] == AnswerCandidate(*chars(2, 4), score=19.0, window=0)
    assert [c.score for c in found] == sorted((c.score for c in found), reverse=True)
    assert candidates_of(win, window=3)[0].window == 3


def test_max_answer_length_is_in_wordpieces():
    win = make_window(10, starts={1: 10.0}, ends={6: 10.0})
    assert candidates_of(win, max_answer_length=6)[0].score == 20.0
    shorter = candidates_of(win, max_answer_length=5)
    assert chars(1, 6) not in {(c.start_char, c.end_char) for c in shorter}
    assert all((c.end_char - c.start_char + 1) // 4 <= 5 for c in shorter)


def test_question_and_special_positions_are_never_answers():
    win = make_window(6, n_pad=3, starts={3: 1.0}, ends={4: 1.0}, cls=100.0)
    # Peaks on the question, [SEP] and padding positions must not leak into answers.
    outside = numpy.asarray(win.sequence_ids) != 1
    outside[0] = False  # [CLS] keeps its own (high) logit
    assert outside.sum() == 3 + 2 + 3
    win.start_logits[outside] = win.end_logits[outside] = 50.0
    for n_best in (1, 2, 20):
        found = candidates_of(win, n_best=n_best)
        # n-best positions are taken among context wordpieces, so they cannot be crowded out.
        assert (found[0].start_char, found[0].end_char) == chars(3, 4)
        assert all(0 <= c.start_char and c.end_char <= chars(5, 5)[1] for c in found)


def test_end_before_start_is_excluded():
    win = make_window(8, starts={5: 10.0}, ends={2: 10.0})
    found = candidates_of(win)
    assert all(c.start_char < c.end_char for c in found)
    assert (chars(5, 5)[0], chars(2, 2)[1]) not in {(c.start_char, c.end_char) for c in found}
    assert max(c.score for c in found) < 10.0 + LOW + 1e-9


def test_window_without_context_gives_no_candidates():
    win = make_window(0, cls=1.5)
    assert candidates_of(win) == []
    assert best_answers([win]) == ([], 3.0)


def test_answer_in_two_overlapping_windows_is_kept_once_with_best_score():
    first = make_window(10, first=0, starts={7: 4.0}, ends={8: 4.0})
    second = make_window(10, first=6, starts={7: 6.0}, ends={8: 5.0})
    answers, _ = best_answers([first, second])
    spans = [(c.start_char, c.end_char) for c in answers]
    assert len(spans) == len(set(spans))
    assert answers[0] == AnswerCandidate(*chars(7, 8), score=11.0, window=1)


def test_answer_across_a_window_boundary_comes_from_the_window_holding_it_whole():
    first = make_window(10, first=0, starts={8: 8.0})  # holds the start, not the end (token 11)
    second = make_window(10, first=6, starts={8: 8.0}, ends={11: 8.0})
    answers, _ = best_answers([first, second])
    assert answers[0] == AnswerCandidate(*chars(8, 11), score=16.0, window=1)


def test_null_is_the_minimum_over_windows():
    windows = [make_window(5, cls=c) for c in (2.0, -1.0, 0.5)]
    assert null_score(windows[0].start_logits, windows[0].end_logits) == 4.0
    assert best_answers(windows)[1] == -2.0


def test_best_answers_cuts_to_n_best_and_needs_a_window():
    answers, _ = best_answers([make_window(10), make_window(10, first=5)], n_best=4)
    assert len(answers) == 4
    with pytest.raises(ValueError, match="at least one window"):
        best_answers([])


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_best=st.integers(1, 6))
def test_best_answers_of_many_overlapping_windows_equal_a_full_merge(seed, n_best):
    # Windows overlap by 6 of 8 tokens, so spans recur with other scores (integers: many ties):
    # cutting to n_best after each window must keep exactly what merging everything keeps.
    rng = numpy.random.default_rng(seed)
    windows = []
    for i in range(30):
        layout = make_window(8, first=2 * i)
        starts, ends = rng.integers(-3, 4, size=(2, len(layout.sequence_ids))).astype("f")
        windows.append(WindowLogits(starts, ends, layout.offsets, layout.sequence_ids))
    merged = {}
    for i, win in enumerate(windows):
        for candidate in candidates_of(win, n_best=n_best, max_answer_length=4, window=i):
            key = (candidate.start_char, candidate.end_char)
            if key not in merged or candidate.score > merged[key].score:
                merged[key] = candidate
    expected = sorted(merged.values(), key=lambda c: (-c.score, c.start_char, c.end_char))[:n_best]
    assert best_answers(windows, n_best=n_best, max_answer_length=4)[0] == expected


@pytest.mark.parametrize(
    "scores,null,threshold,allow,expected",
    [
        ([5.0, 3.0], 4.0, 0.0, True, False),  # best beats null
        ([5.0], 6.0, 0.0, True, True),  # null beats best
        ([5.0], 6.0, 1.0, True, False),  # ... but not by more than the threshold
        ([5.0], 6.0, 0.0, False, False),  # SQuAD 1.1: always answer
        ([], 6.0, 0.0, True, True),  # nothing to answer with
        ([], 6.0, 0.0, False, False),
        ([3.0, 5.0], 5.5, 0.0, True, True),  # unsorted input: the best is still found
    ],
)
def test_choose_answer(scores, null, threshold, allow, expected):
    candidates = [AnswerCandidate(0, 1, s, 0) for s in scores]
    got = choose_answer(
        candidates, null, null_score_diff_threshold=threshold, allow_no_answer=allow
    )
    assert got is expected


def test_candidate_probabilities():
    candidates = [AnswerCandidate(0, i + 1, s, 0) for i, s in enumerate((900.0, 899.0, 0.0))]
    probs = candidate_probabilities(candidates)
    assert sum(probs) == pytest.approx(1.0)
    assert probs[0] > probs[1] > probs[2] >= 0.0
    with_null = candidate_probabilities(candidates, 900.0)
    assert len(with_null) == 4 and sum(with_null) == pytest.approx(1.0)
    assert with_null[-1] == pytest.approx(with_null[0])
    assert candidate_probabilities([]) == []
    assert candidate_probabilities([], 2.0) == [1.0]


def test_invalid_inputs_are_explained():
    win = make_window(4)
    with pytest.raises(ValueError, match="one start logit"):
        window_candidates(win.start_logits[:-1], win.end_logits, win.offsets, win.sequence_ids)
    with pytest.raises(ValueError, match="n_best"):
        candidates_of(win, n_best=0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        best_threshold([0.0], [True], [80.0])


def reference_pairs(starts, ends, win, max_len, allowed_starts, allowed_ends):
    """Every valid (start, end) pair, O(n^2), best first, as (start_char, end_char, score)."""
    offsets, seq_ids = win.offsets, win.sequence_ids
    pairs = []
    for s in allowed_starts:
        for e in allowed_ends:
            if seq_ids[s] == 1 and seq_ids[e] == 1 and s <= e < s + max_len:
                pairs.append((-(starts[s] + ends[e]), s, e))
    return [(int(offsets[s, 0]), int(offsets[e, 1]), -neg) for neg, s, e in sorted(pairs)]


# (question length, context length, padding, max_answer_length, seed)
windows = st.tuples(
    st.integers(0, 4),
    st.integers(0, 12),
    st.integers(0, 3),
    st.integers(1, 6),
    st.integers(0, 2**32),
)


@settings(max_examples=80, deadline=None)
@given(windows)
def test_all_positions_give_exactly_the_best_pairs(shape):
    n_question, n_context, n_pad, max_len, seed = shape
    win = make_window(n_context, n_question=n_question, n_pad=n_pad)
    rng = numpy.random.default_rng(seed)
    # Small integers: many tied scores, so the tie order is checked too.
    starts = rng.integers(-3, 4, size=win.start_logits.size).astype(float)
    ends = rng.integers(-3, 4, size=win.end_logits.size).astype(float)
    n = starts.size
    found = window_candidates(
        starts, ends, win.offsets, win.sequence_ids, n_best=n, max_answer_length=max_len
    )
    expected = reference_pairs(starts, ends, win, max_len, range(n), range(n))
    assert [(c.start_char, c.end_char, c.score) for c in found] == expected


@settings(max_examples=80, deadline=None)
@given(windows, st.integers(1, 5))
def test_n_best_pairs_only_the_top_context_positions(shape, n_best):
    n_question, n_context, n_pad, max_len, seed = shape
    win = make_window(n_context, n_question=n_question, n_pad=n_pad)
    rng = numpy.random.default_rng(seed)
    starts, ends = rng.normal(size=(2, win.start_logits.size))
    context = [i for i, s in enumerate(win.sequence_ids) if s == 1]
    top_starts = sorted(context, key=lambda i: -starts[i])[:n_best]
    top_ends = sorted(context, key=lambda i: -ends[i])[:n_best]
    found = window_candidates(
        starts, ends, win.offsets, win.sequence_ids, n_best=n_best, max_answer_length=max_len
    )
    expected = reference_pairs(starts, ends, win, max_len, top_starts, top_ends)
    assert [(c.start_char, c.end_char) for c in found] == [(s, e) for s, e, _ in expected]
    assert [c.score for c in found] == pytest.approx([score for _, _, score in expected])


def score_at(threshold, diffs, has, gains):
    """SQuAD 2.0 score of answering exactly the questions with diff <= threshold."""
    total = 0.0
    for diff, h, gain in zip(diffs, has, gains):
        answered = diff <= threshold
        total += (gain if h else 0.0) if answered else (0.0 if h else 1.0)
    return total / len(diffs)


questions = st.lists(
    st.tuples(
        st.one_of(st.integers(-3, 3).map(float), st.floats(-10, 10), st.just(math.inf)),
        st.booleans(),
        st.sampled_from([0.0, 0.25, 0.5, 1.0]),  # exact in binary: scores compare exactly
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=150, deadline=None)
@given(questions)
def test_best_threshold_matches_brute_force(rows):
    diffs, has, gains = zip(*rows)
    threshold, score = best_threshold(diffs, has, gains)
    candidates = [-math.inf] + [d for d in diffs if math.isfinite(d)]
    best = max(score_at(t, diffs, has, gains) for t in candidates)
    assert score == best
    assert score_at(threshold, diffs, has, gains) == best
    # The lowest threshold wins ties (answer less often), as in the official script.
    assert all(score_at(t, diffs, has, gains) < best for t in diffs if t < threshold)


def test_best_threshold_small_example():
    # Answering nothing scores 2 (the two unanswerable ones); -2 adds a right answer: 3 of 4.
    diffs, has, gains = [-2.0, -1.0, 1.0, 3.0], [True, False, True, False], [1.0, 0.0, 0.5, 0.0]
    assert best_threshold(diffs, has, gains) == (-2.0, 0.75)
    threshold, score = best_threshold([1.0, 2.0], [False, False], [0.0, 0.0])
    assert threshold < 1.0 and score == 1.0


# A real fast tokenizer: wordpiece offsets, sequence ids and overflowing windows.
WORDS = (
    "the a of in on at to and with by from who was is its his yesterday today paul mary visited "
    "bank company works lives london paris berlin new york river street president happy city"
).split()
CONTEXT = (
    "yesterday paul visited the old bank in zurich with mary . the bank was founded by a man "
    "from berlin who loved the river . today the company works in london and paris , and its "
    "president lives on a quiet street near the river in new york with his happy dog rexo ."
)
QUESTION = "who visited the bank in zurich ?"


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from transformers import BertTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    pieces = list(string.ascii_lowercase + string.punctuation)
    pieces += ["##" + c for c in string.ascii_lowercase]
    path = tmp_path_factory.mktemp("qa_vocab") / "vocab.txt"
    path.write_text("\n".join(dict.fromkeys(specials + pieces + WORDS)) + "\n", encoding="utf8")
    return BertTokenizerFast(vocab_file=str(path), do_lower_case=True)


@pytest.mark.parametrize("padding", [False, "max_length"])
def test_real_tokenizer_windows_recover_every_answer(tokenizer, padding):
    enc = tokenizer(
        QUESTION,
        CONTEXT,
        truncation="only_second",
        max_length=32,
        stride=8,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding=padding,
    )
    n_windows = len(enc["input_ids"])
    assert n_windows >= 3
    layouts = [
        (
            numpy.asarray(enc["offset_mapping"][i]),
            numpy.asarray([-1 if s is None else s for s in enc.sequence_ids(i)]),
        )
        for i in range(n_windows)
    ]
    # The tokenizer's own sequence ids (None for specials) are accepted as they come.
    raw = window_candidates(
        numpy.arange(32.0), -numpy.arange(32.0), enc["offset_mapping"][0], enc.sequence_ids(0)
    )
    assert raw == window_candidates(
        numpy.arange(32.0), -numpy.arange(32.0), layouts[0][0], layouts[0][1]
    )
    words = [(m.start(), m.end()) for m in re.finditer(r"\S+", CONTEXT)]
    rng = numpy.random.default_rng(0)
    split_answers = 0
    for first in range(len(words)):
        for last in range(first, min(first + 3, len(words))):
            answer = (words[first][0], words[last][1])
            windows, halves = [], 0
            for offsets, seq_ids in layouts:
                starts, ends = rng.uniform(-1.0, 1.0, size=(2, len(seq_ids)))
                starts[seq_ids != 1] = ends[seq_ids != 1] = 50.0  # question, specials, padding
                in_context = seq_ids == 1
                start_at = in_context & (offsets[:, 0] == answer[0])
                end_at = in_context & (offsets[:, 1] == answer[1])
                starts[start_at] = ends[end_at] = 10.0
                halves += start_at.any() != end_at.any()
                windows.append(WindowLogits(starts, ends, offsets, seq_ids))
            split_answers += halves > 0
            candidates, null = best_answers(windows)
            best = candidates[0]
            assert (best.start_char, best.end_char) == answer
            assert CONTEXT[best.start_char : best.end_char] == CONTEXT[answer[0] : answer[1]]
            assert null == 100.0
    # Some answers were cut by a window edge and still found whole in the next window.
    assert split_answers > 0
