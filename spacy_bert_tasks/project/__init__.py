"""What the spaCy project in `project/` runs besides training: reports, model cards, smoke tests.

Each step is a function here and a `python -m spacy_bert_tasks ...` command, so the project's
scripts stay one line long and a pip user gets the same steps without the repository.
"""
