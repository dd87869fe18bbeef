"""What an ingest did with every row: counts, rejected rows with line/column/reason, warnings.

to_dict() is the `ingest --json` payload and what the upload page renders; summary() is the CLI text;
rejected_csv() is the download, with spreadsheet formulas neutralised (cells starting = + - @).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from engine.columns import ColumnMapping
from engine.csv_read import DELIMITER_NAMES
from engine.csv_table import Rejection

SUMMARY_REJECTED = 5  # rejected rows shown in summary()
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class FileReport:
    """An items or users file: which columns were used and what happened to its rows."""

    file: str | None = None  # None when no such file was given
    encoding: str | None = None
    delimiter: str | None = None
    id_column: str | None = None
    title_column: str | None = None
    attribute_columns: tuple[str, ...] = ()
    read: int = 0
    accepted: int = 0  # rows kept (the first row of each id)
    rejected_count: int = 0
    rejected: tuple[Rejection, ...] = ()  # the first ones, in file order
    duplicates: int = 0  # later rows repeating an id; ignored, the first row wins
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any] | None:
        if self.file is None:
            return None
        return {"file": self.file, "encoding": self.encoding, "delimiter": self.delimiter,
                "id_column": self.id_column, "title_column": self.title_column,
                "attribute_columns": list(self.attribute_columns), "read": self.read, "accepted": self.accepted,
                "rejected_count": self.rejected_count, "rejected": [r.to_dict() for r in self.rejected],
                "duplicates": self.duplicates, "warnings": list(self.warnings)}  # fmt: skip


@dataclass(frozen=True)
class IngestReport:
    dataset: str
    replaced: bool  # an existing dataset of this name was replaced (its models are now stale)
    fingerprint: str
    interactions_file: str
    interactions_read: int  # data rows in the file (blank lines are not rows)
    interactions_accepted: int
    interactions_rejected: int
    rejected: tuple[Rejection, ...]  # in file order; at most csv_table.REJECTED_KEPT
    duplicates: int  # accepted rows repeating an earlier one exactly (user, item, time, rating); kept
    n_users: int
    n_items: int
    users_with_too_few_interactions: int  # fewer than 3: no validation and test target, so not evaluated
    items_without_metadata: int  # interacted items with no row in the items file (all, without one)
    has_timestamps: bool
    timestamp_format: str | None  # unix_seconds, unix_milliseconds, ..., iso8601; None without time
    delimiter: str
    encoding: str
    mapping: ColumnMapping  # the columns actually used
    warnings: tuple[str, ...] = ()
    items: FileReport = field(default_factory=FileReport)
    users: FileReport = field(default_factory=FileReport)

    @property
    def rejected_truncated(self) -> bool:
        return len(self.rejected) < self.interactions_rejected

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset, "replaced": self.replaced, "fingerprint": self.fingerprint,
            "interactions_file": self.interactions_file, "interactions_read": self.interactions_read,
            "interactions_accepted": self.interactions_accepted, "interactions_rejected": self.interactions_rejected,
            "rejected": [r.to_dict() for r in self.rejected], "rejected_truncated": self.rejected_truncated,
            "duplicates": self.duplicates, "n_users": self.n_users, "n_items": self.n_items,
            "users_with_too_few_interactions": self.users_with_too_few_interactions,
            "items_without_metadata": self.items_without_metadata, "has_timestamps": self.has_timestamps,
            "timestamp_format": self.timestamp_format, "delimiter": self.delimiter, "encoding": self.encoding,
            "mapping": self.mapping.to_dict(), "warnings": list(self.warnings),
            "items": self.items.to_dict(), "users": self.users.to_dict(),
        }  # fmt: skip

    def summary(self) -> str:
        """A few readable lines: what was loaded, what was rejected (first ones), warnings."""
        lines = [
            f'dataset "{self.dataset}"{" (replaced)" if self.replaced else ""}: {self.interactions_accepted:,} of '
            f"{self.interactions_read:,} rows of {self.interactions_file} accepted, {self.interactions_rejected:,} rejected",
            f"{self.n_users:,} users ({self.users_with_too_few_interactions:,} with fewer than 3 interactions), "
            f"{self.n_items:,} items ({self.items_without_metadata:,} without metadata), "
            f"{self.duplicates:,} exact duplicate rows (kept)",
            f"read as {DELIMITER_NAMES.get(self.delimiter, repr(self.delimiter))}-separated {self.encoding}; "
            + ", ".join(f"{role}={name}" for role, name in self.mapping.to_dict().items() if name is not None)
            + f"; time: {self.timestamp_format or 'none (file order)'}",
        ]  # fmt: skip
        lines += [f"  rejected line {r.line}{_column(r)}: {r.reason}" for r in self.rejected[:SUMMARY_REJECTED]]
        if self.interactions_rejected > SUMMARY_REJECTED:
            lines.append(f"  ... and {self.interactions_rejected - SUMMARY_REJECTED:,} more rejected rows (see --json)")
        for kind, part in (("items", self.items), ("users", self.users)):
            if part.file is not None:
                lines.append(f"{kind}: {part.accepted:,} of {part.read:,} rows of {part.file} used, "
                             f"{part.rejected_count:,} rejected, {part.duplicates:,} repeated ids ignored")  # fmt: skip
                lines += [f"  rejected line {r.line}{_column(r)}: {r.reason}" for r in part.rejected[:SUMMARY_REJECTED]]
        lines += [f"warning: {warning}" for warning in (*self.warnings, *self.items.warnings, *self.users.warnings)]
        return "\n".join(lines)

    def rejected_csv(self) -> str:
        """Every listed rejected row of every file as CSV text (file, line, column, reason), formula-safe."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["file", "line", "column", "reason"])
        for file, rows in ((self.interactions_file, self.rejected), (self.items.file, self.items.rejected),
                           (self.users.file, self.users.rejected)):  # fmt: skip
            for r in rows:
                writer.writerow([_safe_cell(file), r.line, _safe_cell(r.column or ""), _safe_cell(r.reason)])
        return buffer.getvalue()


def _column(rejection: Rejection) -> str:
    return f' column "{rejection.column}"' if rejection.column is not None else ""


def _safe_cell(text: str | None) -> str:
    """Prefix a quote to text a spreadsheet would run as a formula (OWASP CSV injection advice)."""
    text = text or ""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text
