"""Texts of chosen counts and lengths for the scaling and FLOP benchmarks.

Short texts are CoNLL-2003 sentences (train, then valid), repeated in order when more are asked
for than the files hold. Long texts are cut from one stream of every SQuAD context, in file
order: real prose, so the wordpiece count per word is that of ordinary English.
"""

import itertools
import json
from pathlib import Path
from typing import Iterator, List, Optional

from . import common

CONLL_TRAIN = common.SHARED / "datasets" / "conll2003" / "train.txt"


def conll_sentences(n_texts: int) -> List[str]:
    """The first `n_texts` CoNLL-2003 sentences of train then valid, cycled if need be.

    n_texts (int): How many texts to return (there are 17,291 distinct sentences).
    RETURNS (List[str]): Sentences, tokens joined by single spaces.
    """
    sentences: List[str] = []
    for path in (CONLL_TRAIN, common.CONLL_VALID):
        if not path.is_file():
            raise FileNotFoundError(f"Expected CoNLL-2003 at {path}, found none.")
        sentences += common._conll_sentences(path.read_text(encoding="utf8").splitlines())
    return list(itertools.islice(itertools.cycle(sentences), n_texts))


def squad_words(path: Optional[Path] = None) -> Iterator[str]:
    """Every whitespace-separated word of every SQuAD context in `path`, in file order, forever."""
    source = path or common.SQUAD_DEV
    if not source.is_file():
        raise FileNotFoundError(f"Expected SQuAD JSON at {source}, found none.")
    data = json.loads(source.read_text(encoding="utf8"))["data"]
    words = [
        word
        for article in data
        for paragraph in article["paragraphs"]
        for word in paragraph["context"].split()
    ]
    return itertools.cycle(words)


def long_texts(n_texts: int, n_words: int, path: Optional[Path] = None) -> List[str]:
    """`n_texts` texts of exactly `n_words` words each, consecutive slices of the SQuAD contexts.

    Paragraph breaks become spaces: a text may start or end mid-sentence, as a cut document does.
    """
    words = squad_words(path)
    return [" ".join(itertools.islice(words, n_words)) for _ in range(n_texts)]
