"""`python -m spacy_bert_tasks debug-data CONFIG [--paths.train ...] [--json OUT.json]`."""

from pathlib import Path
from typing import Optional

import typer
from wasabi import msg

from . import app

SHOWN = 5  # examples listed per finding


@app.command(
    "debug-data", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def debug_data_cli(
    ctx: typer.Context,
    config_path: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="Training config (.cfg)"
    ),
    json_path: Optional[Path] = typer.Option(
        None, "--json", dir_okay=False, help="Also write the statistics as JSON"
    ),
) -> None:
    """Per task, what the training and dev corpora hold and what the encoder's limits do to them.

    spaCy's `debug data` knows only its own components' labels. Extra options override the config
    as in `spacy train` (--paths.train corpus/train ...).
    """
    import srsly
    from spacy import util
    from spacy.cli._util import parse_config_overrides
    from spacy.schemas import ConfigSchemaTraining

    from ..debug.data import corpus_stats, encoder_settings

    overrides = parse_config_overrides(ctx.args)
    with msg.loading("Loading the pipeline and corpora..."):
        config = util.load_config(config_path, overrides=overrides, interpolate=False)
        nlp = util.load_model_from_config(config, auto_fill=True)
        resolved = nlp.config.interpolate()
        training = util.registry.resolve(resolved["training"], schema=ConfigSchemaTraining)
        corpora = util.resolve_dot_names(
            resolved, [training["train_corpus"], training["dev_corpus"]]
        )
    settings = encoder_settings(nlp)
    tokenizer = _hf_tokenizer(settings.get("encoder"))
    limits = {
        key: settings[key] for key in ("max_seq_length", "max_question_length") if key in settings
    }
    report = {}
    for name, corpus in zip(("train", "dev"), corpora):
        stats = corpus_stats(
            corpus(nlp),
            window=settings.get("window"),
            stride=settings.get("stride"),
            tokenizer=tokenizer,
            **limits,
        )
        report[name] = stats.to_dict()
        _print(name, stats, settings, tokenizer is not None)
    if json_path is not None:
        srsly.write_json(json_path, report)
        msg.good(f"Wrote {json_path}")


def _hf_tokenizer(encoder: Optional[str]):
    """The encoder's tokenizer, or None (with a warning) when it cannot be loaded here."""
    if not encoder:
        return None
    from transformers import AutoTokenizer

    from ..encoder.names import resolve_encoder_name

    try:
        return AutoTokenizer.from_pretrained(resolve_encoder_name(encoder), use_fast=True)
    except (OSError, ValueError) as err:
        msg.warn(
            f"QA wordpiece checks skipped: could not load the tokenizer of {encoder!r} ({err})"
        )
        return None


def _print(name: str, stats, settings: dict, wordpieces: bool) -> None:
    msg.divider(f"{name}: {stats.n_docs:,} docs")
    if stats.entity_labels or stats.docs_without_entities_annotation < stats.n_docs:
        msg.table(dict(stats.entity_labels.most_common()), title="NER: entities per label")
    msg.text(
        f"NER: {stats.docs_without_entities_annotation:,} docs without entity annotation (not trained on)"
    )
    if "window" in settings:
        _findings(
            stats.entities_crossing_windows,
            f"entities that no encoder window holds whole (windows of {settings['window']} tokens, stride {settings['stride']})",
        )
    if stats.cat_labels:
        msg.table(dict(stats.cat_labels.most_common()), title="textcat: docs per positive label")
    msg.text(f"textcat: {stats.docs_without_cats:,} docs without cats (not trained on)")
    msg.text(
        f"QA: {stats.questions:,} questions; {stats.docs_without_question:,} docs without a question"
    )
    if stats.questions:
        _findings(
            stats.unaligned_answers,
            "gold answers not on token boundaries (trained on the expanded span)",
        )
        if wordpieces:
            _findings(
                stats.long_questions,
                f"questions longer than max_question_length = {settings.get('max_question_length', 64)} wordpieces (cut)",
            )
            msg.text(
                f"QA: {stats.long_contexts:,} contexts longer than one window of max_seq_length = {settings.get('max_seq_length', 384)} (split)"
            )


def _findings(found: list, what: str) -> None:
    if not found:
        msg.good(f"0 {what}")
        return
    more = f" and {len(found) - SHOWN:,} more" if len(found) > SHOWN else ""
    msg.warn(f"{len(found):,} {what}: " + "; ".join(found[:SHOWN]) + more)
