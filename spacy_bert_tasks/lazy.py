"""Package `__init__` exports that import their module on first use (PEP 562).

spaCy finds the components through entry points (setup.cfg), never through a package's
`__init__`, so an `__init__` need not import its components to register them. Importing them
lazily keeps light paths light: `spacy_bert_tasks.encoder.names` (read by `init-config`) or
`spacy_bert_tasks.qa.extensions` (read by `convert squad`) without torch's and transformers'
import time (seconds, see cli/__init__.py).
"""

import importlib
from typing import Any, Callable, Dict


def lazy_exports(package: str, exports: Dict[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` that imports `exports[name]` (a submodule) when `name` is read.

    package (str): The package's `__name__`.
    exports (Dict[str, str]): Exported name -> submodule that defines it, e.g. {"f": ".model"}.
    RETURNS (Callable[[str], Any]): Assign it to the package's `__getattr__`.
    """

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(exports[name], package), name)

    return __getattr__
