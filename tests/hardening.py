"""Wild texts, a three-head pipeline that predicts something, and the checks every output passes.

The checks themselves live in bench/harness/checks.py, which the soak benchmarks use too (bench/
never imports from tests/); this module gives them the labels of tests/util.py's examples.
"""

import random
import sys
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from spacy.language import Language
from spacy.tokens import Doc
from util import add_qa, both_examples, make_nlp, qa_examples

BENCH = Path(__file__).resolve().parents[1] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from harness import checks  # noqa: E402 (bench/ on sys.path first)
from harness.checks import (  # noqa: E402,F401 (the tests import them from here)
    PROSE_WORDS,
    answer_group_problems,
    encoder_coverage,
    prose,
    prose_words,
    qa_coverage,
    randomize_heads,
    span_problems,
)

# Pieces that break naive text handling: zero-width and bidi controls, a byte order mark,
# combining marks with no base, emoji sequences (ZWJ, skin tone, flags, keycaps), right-to-left
# and CJK script, every kind of line and space separator.
SPECIAL_PIECES = (
    "\u200b",
    "\u200c",
    "\u200d",
    "\u2060",
    "\ufeff",  # zero width, BOM
    "\u200e",
    "\u200f",
    "\u202a",
    "\u202b",
    "\u202c",
    "\u202d",
    "\u202e",
    "\u2066",
    "\u2069",  # bidi
    "\u0301",
    "\u0327\u0308",
    "e\u0301",
    "Z\u0334\u0321\u031b",  # combining marks
    "\U0001f600",
    "\U0001f469\U0001f3fd\u200d\U0001f4bb",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467",
    "\U0001f1eb\U0001f1f7",
    "1\ufe0f\u20e3",  # emoji: plain, ZWJ sequences, flag, keycap
    "مرحبا بالعالم",
    "שָׁלוֹם עוֹלָם",
    "日本語のテキスト",
    "한국어",  # RTL (with niqqud), CJK
    "\u00a0",
    "\u2003",
    "\u3000",
    "\t",
    "\r\n",
    "\n\n",
    "\u2028",
    "\u2029",
    "\x85",
    "\x0b",
    "\x0c",
    "\x00",
    "\x07",
    "\x1b[31m",
    "\x7f",
    "\ufffd",
    "\U000f0000",  # controls, replacement, private use
)
# In-vocabulary words of the tiny test BERT, so some texts get real wordpieces and entities.
WORDS = (
    "john",
    "visited",
    "london",
    "mary",
    "paris",
    "the",
    "company",
    "good",
    "bad",
    "movie",
    "new",
    "york",
)
# Pieces joined by one of these.
GLUES = ("", " ", " ", "  ", "\n", "\t")

NER_LABELS, CAT_LABELS = ("LOC", "PER"), ("NEG", "POS")  # of tests/util.py's examples


@lru_cache(maxsize=1)
def characters_by_category() -> Dict[str, List[str]]:
    """Every code point but the surrogates (Cs: not encodable text), by Unicode category."""
    pools: Dict[str, List[str]] = {}
    for code_point in range(0x110000):
        if 0xD800 <= code_point <= 0xDFFF:
            continue
        char = chr(code_point)
        pools.setdefault(unicodedata.category(char), []).append(char)
    return pools


def wild_text(rng: random.Random) -> str:
    """One random text: a mix of words, special pieces and characters of any category, a run of
    one category, whitespace only, or empty. About one in a hundred is 2,000 to 6,000 characters.
    """
    pools = characters_by_category()
    recipe = rng.random()
    if recipe < 0.03:
        return ""
    if recipe < 0.06:
        return "".join(
            rng.choice(GLUES[1:] + ("\u3000", "\u00a0", "\u2028"))
            for _ in range(rng.randint(1, 20))
        )
    if recipe < 0.25:
        pool = pools[rng.choice(sorted(pools))]
        return "".join(rng.choice(pool) for _ in range(rng.randint(1, 40)))
    length = rng.randint(400, 1200) if rng.random() < 0.01 else rng.randint(1, 25)
    pieces = []
    for _ in range(length):
        kind = rng.random()
        if kind < 0.4:
            pieces.append(rng.choice(WORDS))
        elif kind < 0.7:
            pieces.append(rng.choice(SPECIAL_PIECES))
        else:
            pool = pools[rng.choice(sorted(pools))]
            pieces.append("".join(rng.choice(pool) for _ in range(rng.randint(1, 8))))
        pieces.append(rng.choice(GLUES))
    return "".join(pieces)


def wild_texts(n: int, *, seed: int) -> List[str]:
    """`n` texts from `wild_text`, the same for the same seed."""
    rng = random.Random(seed)
    return [wild_text(rng) for _ in range(n)]


def edge_texts() -> Dict[str, str]:
    """Named texts at the edges: empty, blank, one huge token, one huge line, only invisibles."""
    return {
        "empty": "",
        "one space": " ",
        "whitespace only": " \t\n\r\u00a0\u2003\u3000\u2028\u2029\x0b\x0c" * 50,
        "newlines only": "\n" * 5000,
        "single 10,000-char token": "x" * 10_000,
        "single 10,000-char mixed token": ("Donau" + "\u00e9" + "7" + "\u0301") * 1250,
        "single 10,000-char CJK token": "\u4e2d" * 10_000,  # 10,000 wordpieces in one spaCy token
        "very long line": "john visited london and paris . " * 600,  # 19,200 chars, no newline
        "zero-width only": "\u200b\u200c\u200d\u2060\ufeff" * 200,
        "combining marks only": "\u0301\u0308\u0327" * 300,
        "controls only": "".join(chr(c) for c in range(32)) * 20 + "\x7f",
        "NUL in words": "john\x00visited\x00london",
        "RTL with overrides": "\u202e" + "שָׁלוֹם עוֹלָם مرحبا " * 100 + "\u202c john",
        "emoji without spaces": "\U0001f468\u200d\U0001f469\u200d\U0001f467\U0001f1eb\U0001f1f7"
        * 100,
        "private use and unassigned": "\ue000\U000f0000\U0010fffd\u0378\U000e0000" * 100,
        "byte order mark first": "\ufeffjohn visited london",
    }


def three_head_nlp(tiny_bert: str, *, seed: int = 0) -> Language:
    """Encoder, bert_ner, bert_textcat (exclusive) and bert_qa on the tiny BERT, initialized,
    their output layers random: zero-initialized heads predict no entity at all, and the checks
    below would then pass without looking at a single span.
    """
    nlp = make_nlp(tiny_bert, ("ner", "textcat"))
    add_qa(nlp)
    examples = both_examples(nlp) + qa_examples(nlp)
    nlp.initialize(lambda: examples)
    randomize_heads(nlp, seed=seed)
    return nlp


def doc_problems(
    doc: Doc,
    text: Optional[str] = None,
    *,
    ner_labels: Sequence[str] = NER_LABELS,
    cat_labels: Sequence[str] = CAT_LABELS,
) -> List[str]:
    """harness.checks.doc_problems, by default with the labels of tests/util.py's examples."""
    return checks.doc_problems(doc, text, ner_labels=ner_labels, cat_labels=cat_labels)
