"""spacy_bert_tasks: one BERT encoder shared by NER, text-classification and QA heads in spaCy.

Importing the package stays cheap (spaCy imports every `spacy_factories` entry point on each
`Language()`); the sub-packages register their factories and architectures when imported, and
setup.cfg lists them as entry points so `spacy train` and `spacy.load` find them without an import.
"""

__version__ = "0.1.0"
