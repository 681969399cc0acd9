"""The run's summary: rows, errors by kind with the first few, questions left unanswered, rows/s."""

from collections import Counter
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

from .columns import Row, error_kind, is_missing

# How many error rows the summary quotes before it only counts them.
SHOWN_ERRORS = 5


@dataclass
class Summary:
    """Counts of one run, filled as output rows go by (`add`)."""

    question_field: str = "question"
    rows: int = 0
    errors: Counter = field(default_factory=Counter)
    # (row index in the output, 0-based; error message) of the first SHOWN_ERRORS error rows.
    first_errors: List[Tuple[int, str]] = field(default_factory=list)
    # Rows with a question but no answer columns: the pipeline has no QA component.
    unanswered: int = 0
    seconds: Optional[float] = None

    def add(self, rows: Sequence[Row]) -> None:
        for row in rows:
            message = row.get("error")
            if message is not None:
                self.errors[error_kind(message)] += 1
                if len(self.first_errors) < SHOWN_ERRORS:
                    self.first_errors.append((self.rows, message))
            elif not is_missing(row.get(self.question_field)) and row.get("no_answer") is None:
                self.unanswered += 1
            self.rows += 1

    @property
    def n_errors(self) -> int:
        return sum(self.errors.values())

    @property
    def rows_per_s(self) -> Optional[float]:
        return self.rows / self.seconds if self.seconds else None

    def lines(self) -> List[str]:
        """The summary as lines of text, for the terminal."""
        rate = f", {self.rows_per_s:,.1f} rows/s" if self.rows_per_s is not None else ""
        took = f" in {self.seconds:,.1f} s" if self.seconds is not None else ""
        kinds = ", ".join(f"{kind} {n:,}" for kind, n in self.errors.most_common())
        lines = [
            f"{self.rows:,} rows{took}{rate}; {self.n_errors:,} errors"
            + (f" ({kinds})" if kinds else "")
        ]
        lines += [f"  output row {index}: {message}" for index, message in self.first_errors]
        if self.n_errors > len(self.first_errors):
            lines.append(
                f"  ... and {self.n_errors - len(self.first_errors):,} more (see the error column)"
            )
        if self.unanswered:
            lines.append(
                f"{self.unanswered:,} rows have a question but the pipeline has no question-answering "
                "component: their answer columns are empty"
            )
        return lines

    def as_dict(self) -> dict:
        return {
            "rows": self.rows,
            "errors": dict(self.errors),
            "unanswered": self.unanswered,
            "seconds": self.seconds,
            "rows_per_s": self.rows_per_s,
        }
