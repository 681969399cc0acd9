"""Smoke-test an installed pipeline package: NER, textcat and QA on one text, and a displaCy page.

`run_isolated` starts a fresh interpreter (normally that of a fresh virtual environment the
package was pip-installed into) in an empty temporary folder, in Python's isolated mode (`-I`: no
current folder, PYTHONPATH or user site-packages on sys.path) and with Hugging Face set offline
and HOME pointed at the temporary folder, so no cache or source checkout can stand in for what
the package installed. There `serve` loads the package with `spacy.load`, runs the text through
the pipeline with a question, asks a second question with `ask`, and renders an HTML page with
displaCy: the entities, each answer (as an entity labelled ANSWER) and the categories.
`check_results` then says what looks wrong.
"""

import html
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

# The default text: entity types of both WNUT-17 and CoNLL-2003, a clear sentiment, and facts to
# ask about. EXPECTED holds what a useful model finds: entities (any label: the label sets of the
# datasets differ), the top category and the answer to QUESTION. SECOND_QUESTION is harder (it
# asks about "I" and "my sister"): it is asked and shown, not checked. The demo model of
# `spacy project run all`, trained on 398 SQuAD questions, answers it with the wrong person.
TEXT = (
    "I finally visited the Apple Store in London with my sister Emma, and the new iPhone is fantastic. "
    "Taylor Swift played her concert in Paris on Saturday, and the whole crowd loved it."
)
QUESTION = "Where did Taylor Swift play her concert?"
SECOND_QUESTION = "Who did I visit the store with?"
EXPECTED = {
    "entities": ("London", "Taylor Swift", "Paris"),
    "category": "POSITIVE",
    "answer": "Paris",
}

ANSWER_LABEL = "ANSWER"
# Colours for the entity types of the shipped samples and CoNLL-2003 (displaCy knows only its own).
COLORS = {
    "person": "#aa9cfc",
    "PER": "#aa9cfc",
    "location": "#ff9561",
    "LOC": "#ff9561",
    "corporation": "#7aecec",
    "ORG": "#7aecec",
    "group": "#bfeeb7",
    "product": "#bfe1d9",
    "creative-work": "#e4e7d2",
    "MISC": "#e4e7d2",
    ANSWER_LABEL: "#ffd54f",
}
TIMEOUT_S = 600


class SmokeTestError(RuntimeError):
    """The package could not be loaded or run in the fresh interpreter."""


def run_isolated(
    package: str,
    *,
    python: str = sys.executable,
    text: str = TEXT,
    questions: Sequence[str] = (QUESTION, SECOND_QUESTION),
) -> Dict[str, Any]:
    """Load `package` in a fresh, isolated, offline interpreter and run the smoke test there.

    package (str): An installed package name (or a pipeline folder, as `spacy.load` takes).
    python (str): The interpreter, e.g. the fresh virtual environment's `bin/python`.
    text (str): The text to analyse.
    questions (Sequence[str]): Questions about the text: the first is set as `doc._.question`
        and answered by the pipeline, the others go through `nlp.get_pipe("qa").ask`.
    RETURNS (Dict[str, Any]): What `serve` found (see `analyse`), "html" included.
    RAISES (SmokeTestError): The interpreter failed; the message ends with its stderr.
    """
    if Path(package).exists():
        package = str(Path(package).resolve())
    # Absolute, but not resolved: a virtual environment's python is a symlink to the base one.
    python = os.path.abspath(python) if os.sep in python else python
    with tempfile.TemporaryDirectory(prefix="smoke-test-") as tmp:
        request = json.dumps({"package": package, "text": text, "questions": list(questions)})
        response = Path(tmp) / "response.json"
        code = "import sys; from spacy_bert_tasks.project.smoke import serve; serve(sys.argv[1], sys.argv[2])"
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": tmp,  # no cache in the user's home can stand in for what the package installed
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1",
        }
        try:
            process = subprocess.run(
                [python, "-I", "-c", code, request, str(response)],
                cwd=tmp,
                env=env,
                capture_output=True,
                text=True,
                timeout=TIMEOUT_S,
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            raise SmokeTestError(f"could not run {python}: {err}") from None
        if process.returncode != 0 or not response.exists():
            raise SmokeTestError(
                f"{python} failed (exit code {process.returncode}) to load and run {package!r}:\n"
                + process.stderr[-3000:]
            )
        return json.loads(response.read_text(encoding="utf8"))


def serve(request: str, response_path: str) -> None:
    """The child's side of `run_isolated`: load, analyse, render, write the response JSON."""
    import spacy

    options = json.loads(request)
    nlp = spacy.load(options["package"])
    results = analyse(nlp, options["text"], options["questions"])
    results["html"] = render_page(nlp, results)
    results["python"] = sys.executable
    results["modules"] = {
        name: getattr(sys.modules.get(name), "__file__", None)
        for name in (
            "spacy_bert_tasks",
            "spacy",
            "torch",
            nlp.meta.get("lang", "en") + "_" + nlp.meta.get("name", ""),
        )
    }
    results["network_blocked"] = {
        key: os.environ.get(key) for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    }
    Path(response_path).write_text(json.dumps(results, indent=2), encoding="utf8")


def analyse(nlp, text: str, questions: Sequence[str]) -> Dict[str, Any]:
    """Run the pipeline on a text with a question and ask the other questions.

    nlp (Language): A pipeline with NER, textcat and QA components.
    text (str): The text.
    questions (Sequence[str]): At least one question: the first goes through the pipeline.
    RETURNS (Dict[str, Any]): "package", "pipeline", "text", "entities" (text, label, start/end
        character, score), "cats", "answers" (question, text, start/end character, score; text
        None for "no answer").
    """
    doc = nlp.make_doc(text)
    doc._.question = questions[0]
    doc = nlp(doc)
    ent_scores = _entity_scores(doc)
    entities = [
        {
            "text": ent.text,
            "label": ent.label_,
            "start_char": ent.start_char,
            "end_char": ent.end_char,
            "score": ent_scores.get((ent.start, ent.end, ent.label_)),
        }
        for ent in doc.ents
    ]
    groups = [doc.spans.get("answers")]
    if len(questions) > 1:
        groups += nlp.get_pipe("qa").ask([doc], [list(questions[1:])])[0]
    answers = [_answer(question, group) for question, group in zip(questions, groups)]
    return {
        "package": f"{nlp.meta.get('lang')}_{nlp.meta.get('name')}-{nlp.meta.get('version')}",
        "pipeline": list(nlp.pipe_names),
        "text": text,
        "entities": entities,
        "cats": {label: float(score) for label, score in doc.cats.items()},
        "answers": answers,
    }


def check_results(
    results: Dict[str, Any], *, expected: Optional[Dict[str, str]] = None
) -> List[str]:
    """What looks wrong in the results of `analyse`: empty list if nothing does.

    Always checked: the pipeline has the three heads, the categories are probabilities, every
    entity and answer is the text's own characters. With `expected` (see EXPECTED), a useful
    model is also asked for the expected entities (by text), the expected top category and an
    answer to the first question that contains the expected one.

    results (Dict[str, Any]): What `analyse` (or `run_isolated`) returned.
    expected (Optional[Dict[str, Any]]): "entities" (texts), "category", "answer"; None for
        the structural checks only (e.g. for a model trained for a few steps).
    RETURNS (List[str]): The problems, one sentence each.
    """
    problems = []
    text = results["text"]
    if not {"ner", "textcat", "qa"} <= set(results["pipeline"]):
        problems.append(f"expected the components ner, textcat and qa, got {results['pipeline']}")
    cats = results["cats"]
    if not cats or not all(0.0 <= score <= 1.0 for score in cats.values()):
        problems.append(f"expected category probabilities, got {cats}")
    for item in results["entities"] + [
        answer for answer in results["answers"] if answer["text"] is not None
    ]:
        if text[item["start_char"] : item["end_char"]] != item["text"]:
            problems.append(
                f"{item['text']!r} is not the text at {item['start_char']}:{item['end_char']}"
            )
    if expected:
        found = [entity["text"] for entity in results["entities"]]
        missing = [text for text in expected["entities"] if text not in found]
        if missing:
            problems.append(f"expected the entities {', '.join(missing)}, got {found}")
        top = max(cats, key=cats.get) if cats else None
        if top != expected["category"]:
            problems.append(f"expected the category {expected['category']}, got {top} ({cats})")
        answer = results["answers"][0] if results["answers"] else {"question": None, "text": None}
        if expected["answer"] not in (answer["text"] or ""):
            problems.append(
                f"expected an answer with {expected['answer']!r} to {answer['question']!r}, got {answer['text']!r}"
            )
    return problems


def render_page(nlp, results: Dict[str, Any]) -> str:
    """An HTML page: the entities, each answer highlighted in the text, and the categories.

    nlp (Language): The pipeline (only its vocab and tokenizer are used, to rebuild the doc).
    results (Dict[str, Any]): What `analyse` returned.
    RETURNS (str): A complete HTML page.
    """
    from spacy import displacy

    doc = nlp.make_doc(results["text"])
    doc.ents = [
        doc.char_span(e["start_char"], e["end_char"], label=e["label"], alignment_mode="expand")
        for e in results["entities"]
    ]
    parts = [
        f"<h1>{html.escape(results['package'])}: smoke test</h1>",
        f"<p>pipeline: {html.escape(', '.join(results['pipeline']))}</p>",
        "<h2>Entities (ner)</h2>",
        displacy.render(doc, style="ent", options={"colors": COLORS}, page=False, jupyter=False),
    ]
    for answer in results["answers"]:
        # The ent style keeps the text's own spacing (the span style puts a space between tokens).
        answer_doc = nlp.make_doc(results["text"])
        found = answer["text"] is not None
        if found:
            answer_doc.ents = [
                answer_doc.char_span(
                    answer["start_char"],
                    answer["end_char"],
                    label=ANSWER_LABEL,
                    alignment_mode="expand",
                )
            ]
        score = f" (score {answer['score']:.2f})" if found and answer["score"] is not None else ""
        parts += [
            f"<h2>Q: {html.escape(answer['question'])}</h2>",
            f"<p>A: <b>{html.escape(answer['text'] or 'no answer')}</b>{score}</p>",
            displacy.render(
                answer_doc, style="ent", options={"colors": COLORS}, page=False, jupyter=False
            ),
        ]
    rows = "".join(
        f"<tr><td>{html.escape(label)}</td><td>{score:.3f}</td></tr>"
        for label, score in sorted(results["cats"].items(), key=lambda item: -item[1])
    )
    parts += [
        "<h2>Categories (textcat)</h2>",
        f"<table><tr><th>label</th><th>score</th></tr>{rows}</table>",
    ]
    style = "body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em} td,th{padding:.2em 1em;text-align:left}"
    title = html.escape(results["package"])
    body = "\n".join(parts)
    return f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title><style>{style}</style></head>\n<body>\n{body}\n</body></html>\n'


def _entity_scores(doc) -> Dict[Any, float]:
    scores: Dict[Any, float] = {}
    for group in doc.spans.values():
        if "scores" in group.attrs and "null_score" not in group.attrs:
            for span, score in zip(group, group.attrs["scores"]):
                scores[(span.start, span.end, span.label_)] = float(score)
    return scores


def _answer(question: str, group) -> Dict[str, Any]:
    if group is None or len(group) == 0 or group.attrs.get("no_answer"):
        return {
            "question": question,
            "text": None,
            "start_char": None,
            "end_char": None,
            "score": None,
        }
    span = group[0]
    scores = group.attrs.get("scores") or [None]
    return {
        "question": question,
        "text": span.text,
        "start_char": span.start_char,
        "end_char": span.end_char,
        "score": None if scores[0] is None else float(scores[0]),
    }
