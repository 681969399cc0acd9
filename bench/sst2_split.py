"""Make the fixed SST-2 split used by the benchmarks: a held-out dev set carved from train.tsv.

GLUE's SST-2 dev set is not in ../shared/datasets, so 2,000 sentences of train.tsv (seed 0) are
held out as dev and the training set is drawn from the rest. Both are written as .spacy files.

    python bench/sst2_split.py OUT_DIR [--n-train 20000] [--n-dev 2000]
"""

import argparse
import random
from pathlib import Path

from spacy.tokens import DocBin

from spacy_bert_tasks.convert import read_textcat

SST2 = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "sst2" / "train.tsv"
LABEL_NAMES = {"0": "NEGATIVE", "1": "POSITIVE"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--n-train", type=int, default=20000)
    parser.add_argument("--n-dev", type=int, default=2000)
    parser.add_argument("--source", type=Path, default=SST2)
    args = parser.parse_args()
    docs = read_textcat(args.source, label_names=LABEL_NAMES)
    order = list(range(len(docs)))
    random.Random(0).shuffle(order)
    dev = [docs[i] for i in order[: args.n_dev]]
    train = [docs[i] for i in order[args.n_dev : args.n_dev + args.n_train]]
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for name, split in (("train", train), ("dev", dev)):
        DocBin(docs=split).to_disk(args.out_dir / f"sst2_{name}.spacy")
        print(f"{name}: {len(split)} docs, {sum(len(d) for d in split)} tokens")


if __name__ == "__main__":
    main()
