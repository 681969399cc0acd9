"""The fixed training and dev corpora of the accuracy and training-speed benchmarks.

One folder (by default bench/results/corpus) holds, made once by `report.py` (step "corpus")
with this package's converter and the split scripts:

    conll_train.spacy, conll_dev.spacy   CoNLL-2003 train / valid (convert conll)
    sst2_train.spacy, sst2_dev.spacy     SST-2 train minus 2,000 held-out sentences / those
                                         (sst2_split.py, seed 0)
    squad_train.spacy, squad_dev.spacy   SQuAD articles 0-25 / 26-31 (squad_split.py)
"""

from pathlib import Path
from typing import List, Optional

from . import common

BENCH = Path(__file__).resolve().parents[1]
CORPUS = BENCH / "results" / "corpus"
CONLL = common.SHARED / "datasets" / "conll2003"
DONE = "complete"  # written last, once every command of build_commands has succeeded
# task -> (train file, dev file) names inside the corpus folder
FILES = {
    "ner": ("conll_train.spacy", "conll_dev.spacy"),
    "textcat": ("sst2_train.spacy", "sst2_dev.spacy"),
    "qa": ("squad_train.spacy", "squad_dev.spacy"),
}


def corpus_file(folder: Path, task: str, split: str) -> Path:
    """The .spacy file of `task` ("ner", "textcat", "qa") and `split` ("train", "dev")."""
    return folder / FILES[task][("train", "dev").index(split)]


def build_commands(folder: Path) -> List[List[str]]:
    """The commands that write every file of the corpus folder (run from the repository root)."""
    out = str(folder)
    convert = ["python", "-m", "spacy_bert_tasks", "convert", "conll"]
    return [
        convert + [str(CONLL / "train.txt"), f"{out}/conll_train.spacy"],
        convert + [str(CONLL / "valid.txt"), f"{out}/conll_dev.spacy"],
        ["python", "bench/sst2_split.py", out],
        ["python", "bench/squad_split.py", out],
    ]


def is_complete(folder: Path) -> bool:
    """Whether every file is there and the commands that wrote them all finished (the split
    scripts write in place: a file can exist, cut short, after an interrupted run)."""
    files = all((folder / name).is_file() for pair in FILES.values() for name in pair)
    return files and (folder / DONE).is_file()


def read_docs(path: Path, limit: Optional[int] = None, vocab=None) -> List:
    """The docs of a .spacy file (with their user data: SQuAD questions), the first `limit`."""
    from spacy.tokens import DocBin
    from spacy.vocab import Vocab

    from spacy_bert_tasks.qa.extensions import install_qa_extensions

    if not path.is_file():
        raise SystemExit(
            f"error: expected a .spacy file at {path}; make the corpus with "
            "`python bench/report.py --corpus-only` (or pass the path)"
        )
    install_qa_extensions()
    docs = []
    for doc in DocBin(store_user_data=True).from_disk(path).get_docs(vocab or Vocab()):
        if limit is not None and len(docs) == limit:
            break
        docs.append(doc)
    return docs


def write_subset(source: Path, limit: Optional[int], target: Path) -> Path:
    """`source` itself when `limit` is None, else its first `limit` docs written to `target`."""
    from spacy.tokens import DocBin

    if limit is None:
        return source
    target.parent.mkdir(parents=True, exist_ok=True)
    DocBin(docs=read_docs(source, limit), store_user_data=True).to_disk(target)
    return target
