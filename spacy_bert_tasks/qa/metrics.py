"""The official SQuAD metrics, exact match and token F1, as small pure functions.

They follow the official SQuAD 2.0 evaluation script (`evaluate-v2.0.py`), which gives the
v1.1 script's numbers on answerable questions and adds "no answer":
- Answers are compared after `normalize_answer`: lower case, no punctuation, no articles
  (a, an, the), single spaces.
- A gold answer that normalizes to "" (e.g. ".") is not a possible answer. A question with no
  gold answer left (the raw list is empty in SQuAD 2.0) has "no answer": a prediction is right
  when it normalizes to "" too (the empty prediction, or one of only articles and punctuation).
- A question's score is the best over its gold answers.
"""

import re
import string
from collections import Counter
from typing import Dict, Iterable, List, Sequence, Tuple

PUNCTUATION = frozenset(string.punctuation)
ARTICLES = re.compile(r"\b(a|an|the)\b")

# One question to score: (predicted answer text, raw gold answer texts).
Pair = Tuple[str, Sequence[str]]


def normalize_answer(text: str) -> str:
    """Normalize an answer as the official scripts do before comparing.

    text (str): An answer text.
    RETURNS (str): Lower case, punctuation removed, then the articles a/an/the, then runs of
        whitespace made single spaces and stripped (in that order, as officially).
    """
    text = "".join(char for char in text.lower() if char not in PUNCTUATION)
    return " ".join(ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    """Exact match of a prediction against a question's gold answers.

    prediction (str): The predicted answer text; "" predicts "no answer".
    golds (Sequence[str]): The raw gold answer texts; empty for a "no answer" question.
    RETURNS (float): 1.0 if the normalized prediction equals a normalized gold answer, else 0.0.
    """
    predicted = normalize_answer(prediction)
    return float(any(predicted == gold for gold in _possible_answers(golds)))


def f1(prediction: str, golds: Sequence[str]) -> float:
    """Token F1 of a prediction against a question's gold answers, the best over the answers.

    prediction (str): The predicted answer text; "" predicts "no answer".
    golds (Sequence[str]): The raw gold answer texts; empty for a "no answer" question.
    RETURNS (float): Between 0.0 and 1.0. Against "no answer" it is 1.0 for a prediction that
        normalizes to "" and 0.0 for any other.
    """
    predicted = normalize_answer(prediction).split()
    return max(_token_f1(predicted, gold.split()) for gold in _possible_answers(golds))


def squad_scores(pairs: Iterable[Pair]) -> Dict[str, float]:
    """Scores over questions in the shape of the official SQuAD 2.0 script's output.

    pairs (Iterable[Pair]): (predicted text, raw gold texts) per question.
    RETURNS (Dict[str, float]): "exact" and "f1" on a 0-100 scale and "total" (the number of
        questions); "HasAns_exact", "HasAns_f1", "HasAns_total" over the questions with gold
        answers and "NoAns_*" over those without, each group only if it has questions. With no
        questions at all only "total" (0) is given: there is no score to report.
    """
    # (has gold answers, exact, f1) per question, in input order as the official sums are.
    scored = [
        (len(golds) > 0, exact_match(prediction, golds), f1(prediction, golds))
        for prediction, golds in pairs
    ]
    scores = _group_scores(scored, "")
    for prefix, has_answer in (("HasAns_", True), ("NoAns_", False)):
        # A raw gold list that normalizes to nothing still counts as HasAns, as officially.
        group = [row for row in scored if row[0] == has_answer]
        if group:
            scores.update(_group_scores(group, prefix))
    return scores


def _possible_answers(golds: Sequence[str]) -> List[str]:
    """The normalized gold answers; [""] ("no answer") when none is left."""
    normalized = [normalize_answer(gold) for gold in golds]
    return [gold for gold in normalized if gold] or [""]


def _token_f1(predicted: List[str], gold: List[str]) -> float:
    if not predicted or not gold:
        # Either side is "no answer": right only if both are.
        return float(predicted == gold)
    same = sum((Counter(predicted) & Counter(gold)).values())
    if same == 0:
        return 0.0
    precision = same / len(predicted)
    recall = same / len(gold)
    return 2 * precision * recall / (precision + recall)


def _group_scores(scored: List[Tuple[bool, float, float]], prefix: str) -> Dict[str, float]:
    total = len(scored)
    if total == 0:
        return {f"{prefix}total": 0}
    return {
        f"{prefix}exact": 100.0 * sum(exact for _, exact, _ in scored) / total,
        f"{prefix}f1": 100.0 * sum(f_score for _, _, f_score in scored) / total,
        f"{prefix}total": total,
    }
