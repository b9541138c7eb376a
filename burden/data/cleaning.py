"""The cleaning log that records every dropped or changed row."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from burden.errors import DataFormatError

__all__ = ["CleaningLog", "DataFormatError", "check_unique", "parse_count", "require_columns"]


LOG_COLUMNS = ["source", "file", "line", "column", "action", "reason", "original", "record"]


@dataclass
class CleaningLog:
    """Every row a loader drops or changes, with the reason.

    ``action`` is one of ``dropped``, ``changed``, ``flagged`` (kept, with a flag or as
    missing). ``record`` identifies the row in words (e.g. "Heroin, female, 2015").
    """

    source: str
    file: str
    entries: list[dict] = field(default_factory=list)

    def record(
        self,
        action: str,
        reason: str,
        *,
        line: int | None = None,
        column: str | None = None,
        original: object = None,
        record: str = "",
    ) -> None:
        if action not in {"dropped", "changed", "flagged"}:
            raise ValueError(f"unknown cleaning action {action!r}")
        self.entries.append(
            {
                "source": self.source,
                "file": self.file,
                "line": line,
                "column": column,
                "action": action,
                "reason": reason,
                "original": None if original is None else str(original),
                "record": record,
            }
        )

    def to_frame(self) -> pd.DataFrame:
        frame = pd.DataFrame(self.entries, columns=LOG_COLUMNS)
        return frame.astype({"line": "Int64"})


def parse_count(
    text: object, *, file: str | Path, line: int, column: str, allow_blank: bool = False
) -> float:
    """A count as publishers print it ("16,849", "1 234", "12") -> float; error otherwise."""
    if text is None or (isinstance(text, float) and pd.isna(text)) or str(text).strip() == "":
        if allow_blank:
            return float("nan")
        raise DataFormatError(file, "empty cell", line=line, column=column,
                              expected="a number")
    cleaned = str(text).strip().replace(",", "").replace("\u00a0", "").replace(" ", "")
    try:
        value = float(cleaned)
    except ValueError:
        raise DataFormatError(
            file, f"not a number: {text!r}", line=line, column=column,
            expected="a non-negative number such as 16,849",
        ) from None
    if value < 0:
        raise DataFormatError(file, f"negative value {text!r}", line=line, column=column,
                              expected="a non-negative number")
    return value


def require_columns(frame: pd.DataFrame, required: list[str], *, file: str | Path,
                    header_line: int = 1) -> None:
    """Fail with the missing column names (a renamed or missing column)."""
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataFormatError(
            file,
            f"missing column(s) {missing}; found {list(frame.columns)}",
            line=header_line,
            expected=f"columns {required}",
        )


def check_unique(frame: pd.DataFrame, keys: list[str], *, file: str | Path,
                 line_column: str = "_line") -> None:
    """Fail on duplicated keys, naming both lines."""
    dup = frame[frame.duplicated(keys, keep=False)]
    if not dup.empty:
        first = dup.iloc[0]
        same = dup[(dup[keys] == first[keys]).all(axis=1)]
        lines = same[line_column].tolist() if line_column in same else []
        raise DataFormatError(
            file,
            f"duplicated key {dict(first[keys])} on lines {lines}",
            line=int(lines[1]) if len(lines) > 1 else None,
            expected=f"one row per {keys}",
        )
