"""`python -m spacy_bert_tasks ...`: the package's command line."""

from .cli import app

if __name__ == "__main__":
    app()
