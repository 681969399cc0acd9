"""`python -m spacy_bert_tasks convert {conll,textcat,squad} IN OUT.spacy`."""

from pathlib import Path
from typing import TYPE_CHECKING, Callable, Dict, List, Optional

import typer

from . import convert_app

if TYPE_CHECKING:
    from ..convert import ConversionReport

INPUT = typer.Argument(..., exists=True, dir_okay=False, help="Input data file.")
OUTPUT = typer.Argument(..., dir_okay=False, help="The .spacy file to write.")
LANG = typer.Option("en", "--lang", help="Language code of the blank tokenizer / vocab.")


@convert_app.command("conll")
def conll_command(
    input_path: Path = INPUT,
    output_path: Path = OUTPUT,
    lang: str = LANG,
    n_sents: int = typer.Option(1, "--n-sents", min=1, help="Sentences of one document per Doc."),
) -> None:
    """Convert a CoNLL-2003 / WNUT-17 style NER file (word first, tag last)."""
    from ..convert import convert_conll

    _run(lambda: convert_conll(input_path, output_path, lang=lang, n_sents=n_sents))


@convert_app.command("textcat")
def textcat_command(
    input_path: Path = INPUT,
    output_path: Path = OUTPUT,
    file_format: Optional[str] = typer.Option(
        None, "--format", help="tsv, csv or jsonl (default: the extension)."
    ),
    text_column: Optional[str] = typer.Option(
        None, "--text-column", help="Default: 'text' or 'sentence'."
    ),
    label_column: str = typer.Option("label", "--label-column"),
    label_names: Optional[str] = typer.Option(
        None, "--label-names", help="Raw values to names: 0=NEG,1=POS."
    ),
    multilabel: bool = typer.Option(
        False, "--multilabel", help="A text may have any number of labels."
    ),
    label_sep: str = typer.Option(
        "|", "--label-sep", help="Separates the labels in a TSV/CSV label cell."
    ),
    labels: Optional[str] = typer.Option(
        None, "--labels", help="The label set, comma-separated: A,B,C."
    ),
    lang: str = LANG,
    shuffle_seed: Optional[int] = typer.Option(
        None, "--shuffle-seed", help="Shuffle the records with this seed first."
    ),
    skip: int = typer.Option(
        0, "--skip", min=0, help="Leave out this many records (after shuffling)."
    ),
    limit: Optional[int] = typer.Option(
        None, "--limit", min=1, help="Keep at most this many records after --skip."
    ),
) -> None:
    """Convert text classification data (TSV, CSV or JSON Lines).

    A held-out split and the rest: --shuffle-seed 0 --limit 2000, then --shuffle-seed 0 --skip 2000.
    """
    from ..convert import convert_textcat

    names = None if label_names is None else _parse_label_names(label_names)
    label_set = None if labels is None else _parse_list(labels, "--labels")
    _run(
        lambda: convert_textcat(
            input_path,
            output_path,
            file_format=file_format,
            text_column=text_column,
            label_column=label_column,
            label_names=names,
            multilabel=multilabel,
            label_sep=label_sep,
            labels=label_set,
            lang=lang,
            shuffle_seed=shuffle_seed,
            skip=skip,
            limit=limit,
        )
    )


@convert_app.command("squad")
def squad_command(
    input_path: Path = INPUT,
    output_path: Path = OUTPUT,
    lang: str = LANG,
    articles: Optional[str] = typer.Option(
        None, "--articles", help="Only these articles (0-based): 0-25 or 0,3,5-7."
    ),
) -> None:
    """Convert SQuAD v1.1 / v2.0 JSON: one doc per question, for the span-QA head."""
    from ..convert.squad import convert_squad

    indices = None if articles is None else _parse_indices(articles, "--articles")
    _run(lambda: convert_squad(input_path, output_path, lang=lang, articles=indices))


def _run(convert: Callable[[], "ConversionReport"]) -> None:
    """Print the report, or the error and exit 1: bad data is not a crash, so no traceback."""
    import warnings

    from ..convert import ConversionError

    try:
        # The report lists the converter's warnings (WARNING: ...): not printed twice.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            report = convert()
    except (ConversionError, ValueError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(code=1) from None
    typer.echo(str(report))


def _parse_list(value: str, option: str) -> List[str]:
    items = [item.strip() for item in value.split(",")]
    if not all(items):
        raise typer.BadParameter(
            f"expected comma-separated names such as A,B, got {value!r}", param_hint=option
        )
    return items


def _parse_indices(value: str, option: str) -> List[int]:
    indices: List[int] = []
    for item in _parse_list(value, option):
        first, _, last = item.partition("-")
        if (
            not first.isdigit()
            or not (last.isdigit() or not last)
            or (last and int(last) < int(first))
        ):
            raise typer.BadParameter(
                f"expected indices and ranges such as 0-25 or 0,3,5-7, got {value!r}",
                param_hint=option,
            )
        indices.extend(range(int(first), int(last or first) + 1))
    return indices


def _parse_label_names(value: str) -> Dict[str, str]:
    pairs = [item.split("=", 1) for item in _parse_list(value, "--label-names")]
    if not all(len(pair) == 2 and all(part.strip() for part in pair) for pair in pairs):
        message = f"expected RAW=NAME pairs such as 0=NEGATIVE,1=POSITIVE, got {value!r}"
        raise typer.BadParameter(message, param_hint="--label-names")
    return {raw.strip(): name.strip() for raw, name in pairs}
