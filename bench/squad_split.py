"""Make the fixed SQuAD split used by the benchmarks: whole articles, never a paragraph apart.

../shared/datasets/squad holds 32 articles of SQuAD v1.1 dev. Articles 0-25 are train and
26-31 dev (questions about one article never land on both sides), written as .spacy files.

    python bench/squad_split.py OUT_DIR [--n-dev-articles 6]
"""

import argparse
import json
import tempfile
from pathlib import Path

from spacy_bert_tasks.convert.squad import convert_squad

SQUAD = (
    Path(__file__).resolve().parents[1].parent
    / "shared"
    / "datasets"
    / "squad"
    / "squad-v1.1-dev-articles-00-31.json"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--n-dev-articles", type=int, default=6)
    parser.add_argument("--source", type=Path, default=SQUAD)
    args = parser.parse_args()
    squad = json.loads(args.source.read_text(encoding="utf8"))
    articles = squad["data"]
    cut = len(articles) - args.n_dev_articles
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for name, part in (("train", articles[:cut]), ("dev", articles[cut:])):
        with tempfile.TemporaryDirectory() as tmp:
            split = Path(tmp) / f"squad_{name}.json"
            split.write_text(json.dumps({**squad, "data": part}), encoding="utf8")
            report = convert_squad(split, args.out_dir / f"squad_{name}.spacy")
        print(f"{name}: {len(part)} articles", report, sep="\n")


if __name__ == "__main__":
    main()
