"""The one error type raised for bad input data, pointing at its place in the file."""

from pathlib import Path
from typing import Optional, Union


class ConversionError(ValueError):
    """Input data that cannot be converted, with the file and line to fix.

    The message reads `PATH:LINE: what was expected, what arrived, the fix`, the
    form editors and terminals turn into a link to the line.
    """

    def __init__(self, path: Union[str, Path], line: Optional[int], message: str) -> None:
        """Initialize the error.

        path (Union[str, Path]): The input file, as the user gave it.
        line (Optional[int]): 1-based line number, or None when the problem is the
            whole file (an unknown format, for example).
        message (str): What was expected, what arrived and how to fix it.
        """
        self.path = Path(path)
        self.line = line
        self.reason = message
        location = str(path) if line is None else f"{path}:{line}"
        super().__init__(f"{location}: {message}")

    def __reduce__(self):
        # ValueError pickles as cls(message), which this __init__ does not accept;
        # multiprocessing workers need the error to cross process boundaries.
        return (type(self), (self.path, self.line, self.reason))
