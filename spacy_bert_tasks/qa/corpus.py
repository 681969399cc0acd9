"""A corpus reader that hands each QA doc's question to the model: `spacy-bert-tasks.Corpus.v1`.

spaCy's Corpus builds `eg.predicted` from the reference text alone, so the QA component would
never see the question. This reader copies `_.question` and `_.qa_id` (never the gold answers) to
`eg.predicted`. Docs without a question (NER, textcat) go through spaCy's Corpus unchanged.

QA docs are never split into sentences: the question and the answers belong to the whole context,
and `Span.as_doc` drops the user data they live in. So with `max_length` set, QA docs are kept
whole (with a warning) and the limit applies to the other docs only.
"""

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Optional, Union

from spacy.tokens import Doc
from spacy.training import Corpus, Example
from spacy.util import registry

from .extensions import install_qa_extensions

if TYPE_CHECKING:
    from spacy.language import Language

# Copied from the reference to the predicted doc: the model's input, never its gold.
INPUT_EXTENSIONS = ("question", "qa_id")


class QACorpus(Corpus):
    """spaCy's Corpus for `.spacy` files, with the QA docs' questions on `eg.predicted`.

    The arguments are those of `spacy.training.Corpus`.
    """

    def __init__(self, path: Union[str, Path], **kwargs) -> None:
        super().__init__(path, **kwargs)
        # The docs' questions are extension values: they read back only once registered.
        install_qa_extensions()
        self._warned = False

    def make_examples(self, nlp: "Language", reference_docs: Iterable[Doc]) -> Iterator[Example]:
        return self._examples(nlp, reference_docs, gold_preproc=False)

    def make_examples_gold_preproc(
        self, nlp: "Language", reference_docs: Iterable[Doc]
    ) -> Iterator[Example]:
        return self._examples(nlp, reference_docs, gold_preproc=True)

    def _examples(
        self, nlp: "Language", reference_docs: Iterable[Doc], *, gold_preproc: bool
    ) -> Iterator[Example]:
        split = super().make_examples_gold_preproc if gold_preproc else super().make_examples
        for reference in reference_docs:
            if reference._.question is None:
                yield from split(nlp, [reference])
            elif len(reference) > 0:  # spaCy's Corpus skips empty docs too
                self._warn_max_length(reference)
                yield qa_example(nlp, reference, gold_preproc=gold_preproc)

    def _warn_max_length(self, reference: Doc) -> None:
        if self.max_length != 0 and not self._warned:
            self._warned = True
            warnings.warn(
                f"The corpus {self.path} has QA docs and max_length = {self.max_length}: QA docs are kept "
                f"whole, as splitting them into sentences would drop their question (it lives in user_data); "
                f"max_length applies to the other docs only. Set max_length = 0 to silence this.",
                UserWarning,
            )


def qa_example(nlp: "Language", reference: Doc, *, gold_preproc: bool = False) -> Example:
    """The Example of a QA reference doc, its predicted doc carrying the question and its id.

    nlp (Language): The pipeline whose tokenizer makes the predicted doc.
    reference (Doc): A doc with `_.question` set.
    gold_preproc (bool): Make the predicted doc from the reference's tokens, not its text.
    RETURNS (Example): The example.
    """
    install_qa_extensions()
    if gold_preproc or reference.has_unknown_spaces:
        words = [token.text for token in reference]
        spaces = [bool(token.whitespace_) for token in reference]
        predicted = Doc(nlp.vocab, words=words, spaces=spaces)
    else:
        predicted = nlp.make_doc(reference.text)
    for name in INPUT_EXTENSIONS:
        predicted._.set(name, reference._.get(name))
    # A DocBin gives lists back as tuples; the convention is a list of dicts.
    if reference._.gold_answers is not None:
        reference._.gold_answers = [dict(answer) for answer in reference._.gold_answers]
    return Example(predicted, reference)


@registry.readers("spacy-bert-tasks.Corpus.v1")
def build_qa_corpus(
    path: Optional[Path],
    gold_preproc: bool = False,
    max_length: int = 0,
    limit: int = 0,
    augmenter: Optional[Callable] = None,
) -> Callable[["Language"], Iterable[Example]]:
    """spacy.Corpus.v1 that passes the QA docs' questions to the model.

    path (Optional[Path]): A .spacy file or a folder of them.
    gold_preproc (bool): Make the predicted docs from the reference tokens.
    max_length (int): Longer non-QA docs are split into sentences, if they have sentence
        boundaries, or else skipped; 0 means no limit. QA docs are always kept whole.
    limit (int): Read at most this many docs; 0 means all.
    augmenter (Optional[Callable]): spaCy data augmentation. An augmenter that rebuilds the
        reference doc drops the QA extensions of its new examples.
    RETURNS (Callable[[Language], Iterable[Example]]): The corpus.
    """
    if path is None:
        raise ValueError(
            "expected a path to a .spacy file or a folder of them, got None; set the corpus path, "
            "e.g. `path = ${paths.train}` in [corpora.train] and pass --paths.train"
        )
    return QACorpus(
        path, gold_preproc=gold_preproc, max_length=max_length, limit=limit, augmenter=augmenter
    )
