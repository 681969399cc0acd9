"""Batch annotation of tables of texts: entities, categories and answers as columns.

- `annotate_rows(rows, model)`: rows (dicts) in, annotated rows out, in this process.
- `annotate_dataset(ds, model)`: the same on a Ray Dataset, in a pool of actors (the `ray` extra).
- `annotate_files(INPUT, OUTPUT, model, AnnotateOptions(...))`: files to a Parquet or JSON Lines
  file with either engine; what `python -m spacy_bert_tasks annotate` runs.

The output columns are described in annotate/columns.py. Nothing heavy is imported here: Ray
and pyarrow load when an engine runs.
"""

from .local import annotate_rows
from .ray_engine import RayAnnotator, annotate_dataset
from .run import AnnotateOptions, annotate_files

__all__ = ["annotate_rows", "annotate_dataset", "annotate_files", "AnnotateOptions", "RayAnnotator"]
