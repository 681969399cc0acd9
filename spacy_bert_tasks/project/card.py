"""A model card and package metadata for `spacy package`.

`prepare_package` copies a trained pipeline to a new folder and writes three files there, which
`spacy package` picks up: `meta.json` (name, version, license, sources, the evaluated scores),
`README.md` (the model card: use, accuracy table, labels, encoder, data, license) and
`LICENSES_SOURCES` (each data source with its license). The pipeline folder itself is left as it
was, so the training output stays what `spacy train` wrote.

What the card says about the data and the license comes from a small YAML file (the card spec),
because only the person who trained the model knows it:

    description: One BERT encoder with NER, sentiment and QA heads (demo)
    license: CC BY-SA 4.0
    license_note: Trained on SQuAD (CC BY-SA 4.0) ...
    encoder: {name: ..., url: ..., license: ...}
    sources:
      - {name: WNUT-17 sample, url: ..., license: CC BY 4.0, author: ..., used_for: NER}
"""

import shutil
from pathlib import Path
from typing import Any, Dict, List, Mapping, Union

import srsly
from spacy import util

from .report import metrics_table

PathLike = Union[str, Path]

SPEC_KEYS = ("description", "license", "sources")
SOURCE_KEYS = ("name", "url", "license")


def read_card_spec(path: PathLike) -> Dict[str, Any]:
    """Read and check a card spec (see the module docstring).

    path (PathLike): The YAML file.
    RETURNS (Dict[str, Any]): The spec.
    RAISES (ValueError): A required key is missing.
    """
    spec = srsly.read_yaml(path)
    if not isinstance(spec, dict):
        raise ValueError(
            f"{path}: expected a YAML mapping with {', '.join(SPEC_KEYS)}, got {type(spec).__name__}"
        )
    missing = [key for key in SPEC_KEYS if not spec.get(key)]
    if missing:
        raise ValueError(
            f"{path}: expected the keys {', '.join(SPEC_KEYS)}; missing or empty: {', '.join(missing)}"
        )
    for i, source in enumerate(spec["sources"]):
        lacking = [
            key for key in SOURCE_KEYS if not isinstance(source, dict) or not source.get(key)
        ]
        if lacking:
            raise ValueError(
                f"{path}: sources[{i}]: expected {', '.join(SOURCE_KEYS)}, missing {', '.join(lacking)}"
            )
    return spec


def package_meta(
    meta: Mapping[str, Any],
    scores: Mapping[str, Any],
    spec: Mapping[str, Any],
    *,
    name: str,
    version: str,
) -> Dict[str, Any]:
    """The pipeline's meta.json updated for packaging.

    meta (Mapping[str, Any]): The trained pipeline's meta.json.
    scores (Mapping[str, Any]): Dev scores from `spacy evaluate --output` (replace the training
        run's last ones, which may come from another checkpoint).
    spec (Mapping[str, Any]): The card spec.
    name (str): Package name without the language prefix, e.g. "bert_tasks_demo".
    version (str): Package version.
    RETURNS (Dict[str, Any]): The new meta.
    """
    sources = [
        {key: source[key] for key in ("name", "url", "license", "author") if source.get(key)}
        for source in spec["sources"]
    ]
    return {
        **meta,
        "name": name,
        "version": version,
        "description": spec["description"],
        "license": spec["license"],
        "author": spec.get("author", meta.get("author", "")),
        "url": spec.get("url", meta.get("url", "")),
        "sources": sources,
        "performance": dict(scores),
    }


def model_card(
    meta: Mapping[str, Any],
    config: Mapping[str, Any],
    scores: Mapping[str, Any],
    spec: Mapping[str, Any],
) -> str:
    """The model card, in Markdown.

    meta (Mapping[str, Any]): The packaged meta (`package_meta`).
    config (Mapping[str, Any]): The pipeline's config (the encoder is read from it).
    scores (Mapping[str, Any]): Dev scores from `spacy evaluate --output`.
    spec (Mapping[str, Any]): The card spec.
    RETURNS (str): The README.md text.
    """
    package = (
        meta["name"]
        if meta["name"].startswith(meta["lang"] + "_")
        else f"{meta['lang']}_{meta['name']}"
    )
    pipeline = meta.get("pipeline", [])
    factories = {name: config["components"][name].get("factory", "") for name in pipeline}
    encoder = spec.get("encoder") or {}
    encoder_name = _encoder_name(config)
    lines = [
        f"# {package} {meta['version']}",
        "",
        spec["description"].strip(),
        "",
        "| | |",
        "| --- | --- |",
        f"| package | `{package}` {meta['version']} |",
        f"| spaCy | `{meta.get('spacy_version', '')}` |",
        f"| pipeline | {', '.join(f'`{name}` ({factories[name]})' for name in pipeline)} |",
        f"| encoder | {_linked(encoder.get('name') or f'`{encoder_name}`', encoder.get('url'))}"
        + (f", {encoder['license']}" if encoder.get("license") else "")
        + f" (config name `{encoder_name}`) |",
        f"| license | {meta['license']} |",
        "",
        "## Install",
        "",
        "With this package's wheel and the spacy_bert_tasks wheel in one folder (`dist/`, as "
        "the project's `package` step leaves them), the rest comes from PyPI:",
        "",
        "```bash",
        f"pip install --find-links dist/ {package}=={meta['version']}",
        "```",
        "",
        "(For torch's CPU-only build, install it first: `pip install torch --index-url "
        "https://download.pytorch.org/whl/cpu`.)",
        "",
        "## Use",
        "",
        "```python",
        "import spacy",
        "",
        f'nlp = spacy.load("{package}")',
        "doc = nlp.make_doc(TEXT)",
        'doc._.question = "A question about TEXT?"  # optional: only the QA head reads it',
        "doc = nlp(doc)",
        "print([(ent.text, ent.label_) for ent in doc.ents], doc.cats, doc._.answer)",
        'print(nlp.get_pipe("qa").ask([doc], [["Another question?"]])[0][0][0].text)',
        "```",
        "",
        "## Accuracy",
        "",
        spec.get(
            "accuracy_note", "Scores on the dev sets, from `spacy evaluate`, in percent."
        ).strip(),
        "",
        metrics_table(scores),
        "## Labels",
        "",
        "| component | labels |",
        "| --- | --- |",
    ]
    for name in pipeline:
        labels = meta.get("labels", {}).get(name) or []
        if labels:
            lines.append(f"| `{name}` | {', '.join(f'`{label}`' for label in labels)} |")
    if "bert_qa" in factories.values():
        lines.append(
            '| `qa` | extractive: answers are spans of the text (`doc.spans["answers"]`) |'
        )
    lines += [
        "",
        "## Data",
        "",
        "| source | used for | license | by |",
        "| --- | --- | --- | --- |",
    ]
    for source in spec["sources"]:
        lines.append(
            f"| {_linked(source['name'], source['url'])} | {source.get('used_for', '')} | "
            f"{source['license']} | {source.get('author', '')} |"
        )
    lines += [
        "",
        "## License",
        "",
        f"{meta['license']}. " + spec.get("license_note", "").strip(),
        "",
    ]
    return "\n".join(lines)


def licenses_sources(spec: Mapping[str, Any]) -> str:
    """The LICENSES_SOURCES text: every source, its author, URL and license.

    spec (Mapping[str, Any]): The card spec.
    RETURNS (str): Plain text.
    """
    blocks: List[str] = []
    for source in spec["sources"]:
        block = [source["name"], "-" * len(source["name"])]
        block += [
            f"{key}: {source[key]}"
            for key in ("author", "url", "license", "used_for", "note")
            if source.get(key)
        ]
        blocks.append("\n".join(block))
    return "\n\n".join(blocks) + "\n"


def prepare_package(
    model_path: PathLike,
    scores: Mapping[str, Any],
    spec: Mapping[str, Any],
    output_path: PathLike,
    *,
    name: str,
    version: str,
) -> Path:
    """Copy a trained pipeline to `output_path` with meta.json, README.md and LICENSES_SOURCES.

    model_path (PathLike): The trained pipeline folder (e.g. training/.../model-best).
    scores (Mapping[str, Any]): Dev scores from `spacy evaluate --output`.
    spec (Mapping[str, Any]): The card spec (`read_card_spec`).
    output_path (PathLike): The folder to write; replaced if it exists.
    name (str): Package name without the language prefix; a Python identifier.
    version (str): Package version, e.g. "0.1.0".
    RETURNS (Path): `output_path`, ready for `spacy package`.
    RAISES (ValueError): The name is not a Python identifier.
    """
    if not name.isidentifier():
        raise ValueError(
            f"expected a package name that is a Python identifier such as bert_tasks_demo, got {name!r}"
        )
    model_path, output_path = Path(model_path), Path(output_path)
    meta = package_meta(
        srsly.read_json(model_path / "meta.json"), scores, spec, name=name, version=version
    )
    config = util.load_config(model_path / "config.cfg", interpolate=False)
    if output_path.exists():
        shutil.rmtree(output_path)
    shutil.copytree(model_path, output_path)
    srsly.write_json(output_path / "meta.json", meta)
    (output_path / "README.md").write_text(model_card(meta, config, scores, spec), encoding="utf8")
    (output_path / "LICENSES_SOURCES").write_text(licenses_sources(spec), encoding="utf8")
    # `spacy package` ships a LICENSE file of the pipeline folder (and warns without one).
    (output_path / "LICENSE").write_text(license_text(meta, spec), encoding="utf8")
    return output_path


def license_text(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> str:
    """The model package's LICENSE: its license, the card's note, and where the sources are.

    Not a license's full legal text (the spec names a license, it does not hold its text).
    """
    lines = [
        f"{meta['name']} {meta['version']} is distributed under the {spec['license']} license."
    ]
    if spec.get("license_note"):
        lines += ["", " ".join(str(spec["license_note"]).split())]
    lines += [
        "",
        "The data it was trained on and the encoder it builds on are listed, with their licenses, in LICENSES_SOURCES.",
    ]
    return "\n".join(lines) + "\n"


def _encoder_name(config: Mapping[str, Any]) -> str:
    for component in config["components"].values():
        name = component.get("model", {}).get("name")
        if component.get("factory") == "bert_transformer" and name:
            return str(name)
    return "unknown"


def _linked(text: str, url: Any) -> str:
    return f"[{text}]({url})" if url else text
