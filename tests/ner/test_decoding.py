"""Tag schemes, valid-sequence decoding and entity scores, checked against brute force."""

import itertools

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spacy_bert_tasks.ner.decoding import decode_valid_tags, entity_spans
from spacy_bert_tasks.ner.tags import gold_tag, tag_names, transition_masks

LABELS = ("PER", "LOC")


def is_valid(tags, scheme):
    """An independent definition of a well-formed tag sequence."""
    open_label = None  # label of the entity that the previous tag left open
    for tag in tags:
        prefix, label = ("O", "") if tag == "O" else tag.split("-", 1)
        if scheme == "BILUO":
            if open_label is None:
                if prefix in ("I", "L"):
                    return False
                open_label = label if prefix == "B" else None
            else:
                if prefix not in ("I", "L") or label != open_label:
                    return False
                open_label = label if prefix == "I" else None
        else:
            if prefix == "I" and label != open_label:
                return False
            open_label = None if prefix == "O" else label
    return scheme == "BIO" or open_label is None


def path_score(probs, path):
    return float(numpy.log(probs[numpy.arange(len(path)), path].astype("float64")).sum())


def brute_force(probs, tags, scheme):
    """The best valid path and its log-probability, by trying every path."""
    best, best_score = None, -numpy.inf
    for path in itertools.product(range(len(tags)), repeat=probs.shape[0]):
        if is_valid([tags[i] for i in path], scheme):
            score = path_score(probs, list(path))
            if score > best_score:
                best, best_score = list(path), score
    return best, best_score


def decode(probs, scheme, labels=LABELS):
    tags = tag_names(labels, scheme)
    path = decode_valid_tags(probs, *transition_masks(tags, scheme))
    return [tags[i] for i in path]


def probs_peaked_on(tags, wanted, high=0.6):
    """Probabilities whose argmax is `wanted`, the rest spread evenly."""
    probs = numpy.full((len(wanted), len(tags)), (1 - high) / (len(tags) - 1), dtype="f")
    for i, tag in enumerate(wanted):
        probs[i, tags.index(tag)] = high
    return probs


# Tags and masks -------------------------------------------------------------------------------


def test_tag_names():
    assert tag_names(["PER"], "BILUO") == ["O", "B-PER", "I-PER", "L-PER", "U-PER"]
    assert tag_names(["PER", "LOC"], "BIO") == ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    with pytest.raises(ValueError, match="Unknown tag scheme 'IOB1'"):
        tag_names(["PER"], "IOB1")


@pytest.mark.parametrize(
    "biluo, bio",
    [("U-PER", "B-PER"), ("B-PER", "B-PER"), ("I-PER", "I-PER"), ("L-PER", "I-PER"), ("O", "O")],
)
def test_gold_tag(biluo, bio):
    assert gold_tag(biluo, "BIO") == bio
    assert gold_tag(biluo, "BILUO") == biluo


@pytest.mark.parametrize("missing", [None, "", "-"])
@pytest.mark.parametrize("scheme", ["BILUO", "BIO"])
def test_gold_tag_missing_stays_missing(missing, scheme):
    assert gold_tag(missing, scheme) is None


def _pairs(tags):
    return [((i, j), a, b) for i, a in enumerate(tags) for j, b in enumerate(tags)]


@pytest.mark.parametrize("scheme", ["BILUO", "BIO"])
def test_transition_masks_match_definition(scheme):
    # What every valid sequence of up to 4 tags starts with, contains and ends with.
    tags = tag_names(LABELS, scheme)
    starts, pairs, ends = set(), set(), set()
    for n in range(1, 5):
        for path in itertools.product(tags, repeat=n):
            if is_valid(path, scheme):
                starts.add(path[0])
                ends.add(path[-1])
                pairs.update(zip(path, path[1:]))
    start, allowed, end = transition_masks(tags, scheme)
    assert {t for t, ok in zip(tags, start) if ok} == starts
    assert {t for t, ok in zip(tags, end) if ok} == ends
    allowed_pairs = {(a, b) for (i, j), a, b in _pairs(tags) if allowed[i, j]}
    assert allowed_pairs == pairs


# Decoding -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "scheme, argmax",
    [
        ("BILUO", ["O", "I-PER"]),
        ("BILUO", ["B-LOC", "L-PER"]),
        ("BILUO", ["I-PER", "L-PER", "O"]),
        ("BILUO", ["B-PER", "O"]),
        ("BILUO", ["U-PER", "I-PER", "L-PER"]),
        ("BIO", ["O", "I-LOC"]),
        ("BIO", ["I-PER"]),
        ("BIO", ["B-PER", "I-LOC", "I-LOC"]),
    ],
)
def test_invalid_argmax_is_repaired_to_best_valid_path(scheme, argmax):
    tags = tag_names(LABELS, scheme)
    assert not is_valid(argmax, scheme)
    rng = numpy.random.default_rng(len(argmax))
    probs = probs_peaked_on(tags, argmax) + rng.uniform(0, 0.01, (len(argmax), len(tags)))
    probs = (probs / probs.sum(axis=1, keepdims=True)).astype("f")
    decoded = decode(probs, scheme)
    assert is_valid(decoded, scheme)
    best, best_score = brute_force(probs, tags, scheme)
    decoded_score = path_score(probs, [tags.index(t) for t in decoded])
    assert decoded_score == pytest.approx(best_score, abs=1e-6)


def test_repair_prefers_the_likely_alternative():
    # The columns of probs below.
    assert tag_names(["PER"], "BILUO") == ["O", "B-PER", "I-PER", "L-PER", "U-PER"]
    # Token 2 says I-PER (0.5) or U-PER (0.4): after O, only U-PER makes sense.
    probs = numpy.array([[0.9, 0.04, 0.02, 0.02, 0.02], [0.05, 0.02, 0.5, 0.03, 0.4]], dtype="f")
    assert decode(probs, "BILUO", ["PER"]) == ["O", "U-PER"]
    bio = numpy.array([[0.9, 0.05, 0.05], [0.1, 0.35, 0.55]], dtype="f")
    assert decode(bio, "BIO", ["PER"]) == ["O", "B-PER"]


@settings(max_examples=60, deadline=None)
@given(
    scheme=st.sampled_from(["BILUO", "BIO"]),
    n_tokens=st.integers(1, 3),
    seed=st.integers(0, 2**32 - 1),
    alpha=st.sampled_from([0.2, 1.0]),
)
def test_decoding_matches_brute_force(scheme, n_tokens, seed, alpha):
    tags = tag_names(LABELS, scheme)
    rng = numpy.random.default_rng(seed)
    probs = rng.dirichlet([alpha] * len(tags), size=n_tokens).astype("f")
    probs = numpy.clip(probs, 1e-6, None)
    decoded = decode(probs, scheme)
    assert is_valid(decoded, scheme)
    _, best_score = brute_force(probs, tags, scheme)
    assert path_score(probs, [tags.index(t) for t in decoded]) == pytest.approx(
        best_score, rel=1e-5, abs=1e-5
    )


@st.composite
def valid_sequences(draw, scheme):
    """Random well-formed tag sequences, built from entity spans."""
    tags = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["O", "ENT"]))
        if kind == "O":
            tags.append("O")
            continue
        label = draw(st.sampled_from(LABELS))
        length = draw(st.integers(1, 3))
        if scheme == "BILUO":
            tags += (
                [f"U-{label}"]
                if length == 1
                else ([f"B-{label}"] + [f"I-{label}"] * (length - 2) + [f"L-{label}"])
            )
        else:
            tags += [f"B-{label}"] + [f"I-{label}"] * (length - 1)
    return tags


@settings(max_examples=60, deadline=None)
@given(data=st.data(), scheme=st.sampled_from(["BILUO", "BIO"]))
def test_valid_argmax_returned_as_is(data, scheme):
    wanted = data.draw(valid_sequences(scheme).filter(bool))
    assert is_valid(wanted, scheme)
    tags = tag_names(LABELS, scheme)
    probs = probs_peaked_on(tags, wanted, high=data.draw(st.floats(0.3, 0.99)))
    assert decode(probs, scheme) == wanted


def test_empty_doc_decodes_to_empty_path():
    tags = tag_names(LABELS, "BILUO")
    probs = numpy.zeros((0, len(tags)), dtype="f")
    path = decode_valid_tags(probs, *transition_masks(tags, "BILUO"))
    assert path.shape == (0,)


# Entity spans ---------------------------------------------------------------------------------


def test_entity_scores_are_geometric_means():
    tags = ["B-PER", "L-PER", "O", "U-LOC", "B-PER", "I-PER", "L-PER"]
    probs = numpy.array([0.9, 0.4, 0.99, 0.5, 0.8, 0.5, 0.2], dtype="f")
    found = entity_spans(tags, probs, "BILUO")
    assert [e[:3] for e in found] == [(0, 2, "PER"), (3, 4, "LOC"), (4, 7, "PER")]
    assert [score for *_, score in found] == pytest.approx([0.6, 0.5, 0.08 ** (1 / 3)], rel=1e-5)
    bio = ["B-PER", "I-PER", "O", "B-LOC", "B-PER", "I-PER", "I-PER"]
    assert entity_spans(bio, probs, "BIO") == found


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_bio_and_biluo_give_same_entities(data):
    biluo = data.draw(valid_sequences("BILUO"))
    bio = [gold_tag(tag, "BIO") for tag in biluo]
    assert is_valid(bio, "BIO")
    probs = numpy.array(
        data.draw(st.lists(st.floats(0.01, 1.0), min_size=len(biluo), max_size=len(biluo))),
        dtype="f",
    )
    from_biluo = entity_spans(biluo, probs, "BILUO")
    from_bio = entity_spans(bio, probs, "BIO")
    assert [e[:3] for e in from_bio] == [e[:3] for e in from_biluo]
    assert [e[3] for e in from_bio] == pytest.approx([e[3] for e in from_biluo])
    assert all(0 < e[3] <= 1 for e in from_biluo)
