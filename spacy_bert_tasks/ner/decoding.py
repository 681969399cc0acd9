"""Decode per-token tag probabilities into the best VALID tag sequence.

The softmax of a token classifier scores each token alone, so its argmax can be invalid (I-PER
after O, B-LOC then L-ORG). The decoder finds the sequence with the highest probability among
the valid ones (Viterbi over the transition mask). When the argmax is already valid (nearly
always, once trained) it is that optimum, and the search is skipped.
"""

from typing import List, Tuple

import numpy
from spacy.training.iob_utils import iob_to_biluo, tags_to_entities

_TINY = 1e-12


def decode_valid_tags(
    probs: numpy.ndarray, start: numpy.ndarray, allowed: numpy.ndarray, end: numpy.ndarray
) -> numpy.ndarray:
    """The most probable tag sequence that the masks allow.

    probs (ndarray): (n_tokens, n_tags) tag probabilities per token.
    start, allowed, end (ndarray): Boolean masks from `tags.transition_masks`.
    RETURNS (ndarray): (n_tokens,) tag indices.
    """
    n_tokens = probs.shape[0]
    if n_tokens == 0:
        return numpy.zeros((0,), dtype="i")
    best = probs.argmax(axis=1)
    if _is_valid(best, start, allowed, end):
        return best
    log_probs = numpy.log(probs + _TINY)
    transition = numpy.where(allowed, 0.0, -numpy.inf)
    score = log_probs[0] + numpy.where(start, 0.0, -numpy.inf)
    backpointers = numpy.zeros((n_tokens, probs.shape[1]), dtype="i")
    for i in range(1, n_tokens):
        candidates = score[:, None] + transition  # (prev, next)
        backpointers[i] = candidates.argmax(axis=0)
        score = candidates.max(axis=0) + log_probs[i]
    score = score + numpy.where(end, 0.0, -numpy.inf)
    path = numpy.zeros((n_tokens,), dtype="i")
    path[-1] = score.argmax()
    for i in range(n_tokens - 1, 0, -1):
        path[i - 1] = backpointers[i, path[i]]
    return path


def _is_valid(path, start, allowed, end) -> bool:
    return bool(start[path[0]] and end[path[-1]] and allowed[path[:-1], path[1:]].all())


def entity_spans(
    tags: List[str], probs_of_path: numpy.ndarray, scheme: str
) -> List[Tuple[int, int, str, float]]:
    """Entities of a valid tag sequence, with a confidence score each.

    The score is the geometric mean of the probabilities the model gave to the entity's tags: 1.0
    when every token is certain, about 0.5 when each token is a coin flip. It is comparable across
    entity lengths, unlike the product.
    tags (List[str]): The decoded tag per token.
    probs_of_path (ndarray): The probability of each decoded tag.
    scheme (str): "BILUO" or "BIO".
    RETURNS (List[Tuple[int, int, str, float]]): (start, end, label, score), end exclusive.
    """
    biluo = tags if scheme == "BILUO" else iob_to_biluo(tags)
    results = []
    for label, first, last in tags_to_entities(biluo):  # `last` is inclusive
        score = float(numpy.exp(numpy.log(probs_of_path[first : last + 1] + _TINY).mean()))
        results.append((first, last + 1, label, score))
    return results
