"""`python -m spacy_bert_tasks tune-qa-threshold MODEL DEV.spacy [--output OUT]`."""

from pathlib import Path
from typing import Optional

import typer
from wasabi import msg

from . import app


@app.command("tune-qa-threshold")
def tune_qa_threshold_cli(
    model: Path = typer.Argument(..., exists=True, file_okay=False, help="Trained pipeline folder"),
    dev: Path = typer.Argument(..., exists=True, help="Dev .spacy file (or folder) with QA docs"),
    output: Optional[Path] = typer.Option(
        None, "--output", help="Save the tuned pipeline here (default: in place)"
    ),
    metric: str = typer.Option("f1", "--metric", help="f1 or exact"),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write the result as JSON"),
) -> None:
    """Tune bert_qa's null_score_diff_threshold on a dev set and save the pipeline (SQuAD 2.0)."""
    import spacy
    import srsly

    from ..atomic import save_pipeline
    from ..qa.corpus import build_qa_corpus
    from ..qa.tuning import tune_null_threshold

    nlp = spacy.load(model)
    examples = list(build_qa_corpus(dev)(nlp))
    try:
        result = tune_null_threshold(nlp, examples, metric=metric)
    except ValueError as err:
        msg.fail(str(err), exits=1)
    target = output or model
    # In place by default: an interrupted save must not leave the trained pipeline half-written.
    save_pipeline(nlp, target)
    if json_path:
        srsly.write_json(json_path, result)
    msg.good(
        f"null_score_diff_threshold = {result['threshold']:.4f}: {metric} "
        f"{100 * result['score_before']:.2f} -> {100 * result['score']:.2f} on "
        f"{result['questions']} questions ({result['no_answer_questions']} without answer); "
        f"saved to {target}"
    )
