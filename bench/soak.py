"""Pieces shared by the long-input and memory soak scripts: the pipeline under test, and texts.

The pipeline has all three heads on one encoder, with random output layers: untrained heads
start at zero and predict no entity at all, which would leave the entity and answer code (and
any memory it keeps) out of the measurement. The tests' helpers (tests/hardening.py) build it,
make the texts and check the output; `--tiny` also needs the test extra (pytest), for the tiny
random BERT of tests/conftest.py.
"""
import random
import sys
import tempfile
from pathlib import Path
from typing import List, Tuple

TESTS = Path(__file__).resolve().parents[1] / "tests"
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))


def three_head_pipeline(*, tiny: bool, release_heap: str = "trim"):
    """transformer + ner + textcat + qa, initialized, heads random (see the module docstring).

    tiny (bool): The tests' tiny random BERT instead of the embedded MiniLM.
    release_heap (str): The encoder's release_heap mode.
    RETURNS (Tuple[Language, Tuple[str, ...], Tuple[str, ...]]): The pipeline, its entity
        labels and its cat labels.
    """
    from hardening import randomize_heads, three_head_nlp

    if tiny:
        from conftest import write_tiny_bert

        folder = Path(tempfile.mkdtemp(prefix="tiny_bert_"))
        nlp = three_head_nlp(str(write_tiny_bert(folder)))
        nlp.get_pipe("transformer").release_heap = release_heap
    else:
        import common

        nlp = common.build_spacy_pipeline(["ner", "textcat", "qa"], release_heap=release_heap)
        randomize_heads(nlp, seed=0)
    return nlp, nlp.get_pipe("ner").labels, nlp.get_pipe("textcat").labels


def short_texts(n_texts: int, *, seed: int, tiny: bool) -> List[Tuple[str, str]]:
    """`n_texts` (text, question) pairs of 5 to 40 words, for streams of many docs.

    tiny (bool): Words the tiny BERT knows (one wordpiece each), else prose for the real one.
    """
    from hardening import PROSE_WORDS

    words = PROSE_WORDS
    if tiny:
        from conftest import TINY_WORDS  # conftest needs pytest: the tiny runs only

        words = TINY_WORDS
    rng = random.Random(seed)
    pairs = []
    for _ in range(n_texts):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(5, 40)))
        question = "who " + " ".join(rng.choice(words) for _ in range(rng.randint(2, 5))) + " ?"
        pairs.append((text + " .", question))
    return pairs
