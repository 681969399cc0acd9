"""A fresh virtual environment with packages pip-installed in a given order.

This is how a user meets a model package: a new environment, `pip install`, nothing else. The
order matters where a dependency must come from somewhere special, e.g. torch's CPU build
(`torch==2.13.0` first; an unpinned torch would pull the CUDA build while resolving the rest).
"""

import os
import subprocess
import venv
from pathlib import Path
from typing import List, Optional, Sequence, Union

FREEZE_NAME = "pip-freeze.txt"


def venv_python(path: Union[str, Path]) -> Path:
    """The interpreter of the virtual environment at `path`."""
    return Path(path) / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def make_fresh_venv(
    path: Union[str, Path],
    steps: Sequence[Sequence[str]],
    *,
    find_links: Optional[Union[str, Path]] = None,
) -> List[str]:
    """Create (or re-create, empty) a virtual environment and pip-install each step in turn.

    path (Union[str, Path]): The environment's folder; an existing one is cleared first.
    steps (Sequence[Sequence[str]]): pip install arguments (requirements, wheel files), one pip
        call per step, in order; empty steps are skipped.
    find_links (Optional[Union[str, Path]]): A folder of wheels every pip call may install
        from (pip's --find-links), besides the index: how a user installs a model package
        whose library is not on an index.
    RETURNS (List[str]): `pip freeze` of the result, also written to FREEZE_NAME in the folder,
        so that the file exists only once the environment is complete.
    RAISES (RuntimeError): A pip call failed (its output went to the console).
    """
    path = Path(path)
    venv.EnvBuilder(clear=True, with_pip=True).create(path)
    python = str(venv_python(path))
    links = [] if find_links is None else ["--find-links", str(find_links)]
    for step in steps:
        if step:
            _run([python, "-m", "pip", "install", "--disable-pip-version-check", *links, *step])
    freeze = _run(
        [python, "-m", "pip", "freeze", "--disable-pip-version-check"], capture=True
    ).splitlines()
    (path / FREEZE_NAME).write_text("\n".join(freeze) + "\n", encoding="utf8")
    return freeze


def _run(command: List[str], *, capture: bool = False) -> str:
    process = subprocess.run(command, capture_output=capture, text=True)
    if process.returncode != 0:
        raise RuntimeError(f"`{' '.join(command)}` failed with exit code {process.returncode}")
    return process.stdout if capture else ""
