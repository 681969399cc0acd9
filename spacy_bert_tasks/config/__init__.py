"""Training configs for spacy_bert_tasks pipelines."""

from .generate import TASKS, generate_config

__all__ = ["TASKS", "generate_config"]
