"""All-or-nothing writes: an error, a Ctrl-C or a crash mid-write leaves the old output intact.

New content goes to a temporary sibling (same folder, so same file system) and replaces the
target in one rename. A reader sees the old output or the new one, never a mix; what is left
behind after a failure is cleaned up, or after a hard crash a hidden `.NAME.*.tmp` sibling.
"""

import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Union

from spacy.language import Language

PathLike = Union[str, Path]


def write_bytes_atomically(path: PathLike, data: bytes) -> None:
    """Write `data` to `path`, replacing any older file in one step.

    The bytes are synced to disk before the rename, so a crash leaves the old file or the new
    one. Missing folders are created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = _sibling(path, "tmp")
    try:
        # os.open with mode 0o666 lets the umask decide the permissions, as for any new file
        # (tempfile.mkstemp would make the output readable by its owner only).
        fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as file_:
            file_.write(data)
            file_.flush()
            os.fsync(file_.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        # BaseException: a Ctrl-C mid-write must not leave a stray temp file either.
        tmp_path.unlink(missing_ok=True)
        raise


@contextmanager
def temporary_sibling(path: PathLike) -> Iterator[Path]:
    """A temporary path beside `path` for the caller to write (a file it also syncs and
    closes); when the block ends it replaces `path` in one rename, or, on an exception
    (Ctrl-C included), is deleted. For outputs written piece by piece, too big to hold in memory.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = _sibling(path, "tmp")
    try:
        yield tmp_path
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    os.replace(tmp_path, path)


def save_pipeline(nlp: Language, path: PathLike) -> None:
    """`nlp.to_disk(path)`, all or nothing: an older pipeline at `path` stays whole until the
    new one is completely written (see `write_folder_atomically`).
    """
    write_folder_atomically(path, nlp.to_disk)


def write_folder_atomically(path: PathLike, write: Callable[[Path], None]) -> None:
    """Fill a folder with `write(folder)`, all or nothing: an older folder at `path` stays whole
    until the new one is completely written.

    Writers such as `nlp.to_disk` write file by file, so an interrupted save over an older
    folder leaves a mix of both that may still load. Here the new folder is written as a
    sibling; then the old folder is renamed away, the new one renamed into place, and the
    old one deleted. Between the two renames (microseconds) `path` does not exist; an exception
    there puts the old folder back, a hard crash there leaves it as `.NAME.*.old`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    new_path = _sibling(path, "tmp")
    try:
        write(new_path)
    except BaseException:
        shutil.rmtree(new_path, ignore_errors=True)
        raise
    if not path.exists():
        os.replace(new_path, path)
        return
    old_path = _sibling(path, "old")
    os.replace(path, old_path)
    try:
        os.replace(new_path, path)
    except BaseException:
        os.replace(old_path, path)
        shutil.rmtree(new_path, ignore_errors=True)
        raise
    shutil.rmtree(old_path, ignore_errors=True)


def _sibling(path: Path, kind: str) -> Path:
    # Hidden, unique, and in the same folder: os.replace is atomic only within a file system.
    return path.parent / f".{path.name}.{uuid.uuid4().hex[:12]}.{kind}"
