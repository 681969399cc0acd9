"""Cached benchmark results for report.py: a step's JSON is reused only for the same command.

Each step writes its numbers to NAME.json (the script's own --json); once the script has
succeeded, report.py writes NAME.meta.json beside it with the exact command, its exit status
and how long it ran. A result counts as cached when both files exist, the status was 0 and the
command is the same, word for word: a changed option (more texts, another thread count) means
the old numbers answer another question and the step runs again.
"""

import json
import os
import shlex
import time
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

Command = Sequence[str]


def meta_path(result: Path) -> Path:
    """NAME.meta.json beside NAME.json."""
    return result.with_name(result.stem + ".meta.json")


def read_json(path: Path) -> Optional[Dict[str, Any]]:
    """The JSON object in `path`, or None if the file is missing or not valid JSON (cut short)."""
    try:
        found = json.loads(path.read_text(encoding="utf8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def write_json_atomic(path: Path, data: Dict[str, Any]) -> None:
    """Write `data` beside `path`, then rename: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data, indent=2) + "\n", encoding="utf8")
    os.replace(partial, path)


def cached_result(result: Path, command: Command) -> Optional[Dict[str, Any]]:
    """The step's numbers if a successful run of exactly `command` wrote them, else None."""
    meta = read_json(meta_path(result))
    if meta is None or meta.get("returncode") != 0 or meta.get("command") != list(command):
        return None
    return read_json(result)


def record_run(
    result: Path, command: Command, *, returncode: int, seconds: float
) -> Dict[str, Any]:
    """Write NAME.meta.json for a finished run; RETURNS what was written."""
    meta = {
        "command": list(command),
        "returncode": returncode,
        "seconds": seconds,
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    write_json_atomic(meta_path(result), meta)
    return meta


def forget(result: Path) -> None:
    """Remove a step's numbers and record before it runs again, so that a failed run never
    leaves the numbers of an earlier one looking current."""
    for path in (result, meta_path(result)):
        path.unlink(missing_ok=True)


def display_command(command: Command) -> str:
    """The command as a user types it from the repository root."""
    return " ".join(shlex.quote(part) for part in command)
