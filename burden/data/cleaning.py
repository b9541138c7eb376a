"""The cleaning log that records every dropped or changed row, and the checks of cells,
headers and keys that every loader shares."""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Hashable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from burden.errors import DataFormatError

__all__ = ["CleaningLog", "DataFormatError", "FirstLines", "check_unique", "check_year",
           "parse_count", "parse_year", "require_columns"]


#: A number with separators: one kind (comma, space or no-break space) between groups of
#: three digits only ("1,234,567.5", "1 234").
_GROUPED = re.compile(r"[+-]?\d{1,3}(?:(?P<sep>[, \u00a0])\d{3})(?:(?P=sep)\d{3})*(\.\d+)?")
_SEPARATORS = (",", " ", "\u00a0")

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
    text: object, *, file: str | Path, line: int, column: str, allow_blank: bool = False,
    allow_negative: bool = False, positive: bool = False, markers: Collection[str] = (),
) -> float:
    """A number as publishers print it ("16,849", "1 234", "12") -> float; error otherwise.

    A comma or a space (also no-break) is read only as a thousands separator, one kind in a
    number: "1,234,567.5" is 1234567.5 and "1 234" is 1234, while "0,73", "1,5", "16,84",
    "0.5," or "1 5" (a decimal comma, a misplaced or stray separator) are errors, never read
    as 73, 15, 1684, 0.5 or 15.

    Blank -> NaN if ``allow_blank``; a ``markers`` word (e.g. WONDER's "Suppressed") -> NaN.
    Negative values are refused unless ``allow_negative``; zero too if ``positive``.
    """
    number = ("a positive number" if positive else "a number" if allow_negative
              else "a non-negative number")
    or_marker = f" or one of {sorted(markers)}" if markers else ""
    kind = number + or_marker
    raw = "" if text is None or (isinstance(text, float) and pd.isna(text)) else str(text).strip()
    if raw in markers:
        return float("nan")
    if raw == "":
        if allow_blank:
            return float("nan")
        raise DataFormatError(file, "empty cell", line=line, column=column, expected=kind)
    if any(c in raw for c in _SEPARATORS) and not _GROUPED.fullmatch(raw):
        # "0,73", "1,5", "16,84", "0.5,", "1 5": never read by deleting the separator
        raise DataFormatError(file, f"not a number: {text!r} (a comma or space must "
                              "separate groups of three digits)", line=line, column=column,
                              expected=f"{number} such as 16,849{or_marker}")
    cleaned = raw.replace(",", "").replace("\u00a0", "").replace(" ", "")
    try:
        value = float(cleaned)
    except ValueError:
        raise DataFormatError(file, f"not a number: {text!r}", line=line, column=column,
                              expected=f"{number} such as 16,849{or_marker}") from None
    if not math.isfinite(value):
        raise DataFormatError(file, f"not a finite number: {text!r}", line=line,
                              column=column, expected=kind)
    if value < 0 and not allow_negative:
        raise DataFormatError(file, f"negative value {text!r}", line=line, column=column,
                              expected=kind)
    if positive and value <= 0:
        raise DataFormatError(file, f"{text!r} is not positive", line=line, column=column,
                              expected=kind)
    return value


def parse_year(text: str, *, file: str | Path, line: int, column: str,
               years: tuple[int, int]) -> int:
    """A four-digit year from ``years[0]`` to ``years[1]`` -> int; error otherwise.

    ``years``: the processed table's range (``schemas.year_range``).
    """
    if not re.fullmatch(r"\d{4}", text):
        raise DataFormatError(file, f"not a year: {text!r}", line=line, column=column,
                              expected="a four-digit year")
    return check_year(int(text), text, file=file, line=line, column=column, years=years)


def check_year(year: int, text: str, *, file: str | Path, line: int, column: str,
               years: tuple[int, int]) -> int:
    """``year`` (read from the cell ``text``) if within ``years`` (both ends included);
    else an error naming the file, line, column, the cell and the range."""
    first, last = years
    if not first <= year <= last:
        raise DataFormatError(file, f"year {year} out of range: {text!r}", line=line,
                              column=column, expected=f"a year from {first} to {last}")
    return year


def require_columns(header: list[str], required: list[str], *, file: str | Path,
                    line: int = 1, only: bool = False) -> None:
    """Fail naming the first repeated or missing (renamed) column; with ``only``, extra too.

    Columns are found by name, so their order does not matter. A name given to two columns
    is always an error (only one of them could be read by name: the other's data would be
    lost unseen), whether or not the loader reads that column.
    """
    repeated = [c for i, c in enumerate(header) if c in header[:i]]
    if repeated:
        raise DataFormatError(file, f"repeated column name {repeated[0]!r} in {header}",
                              line=line, column=repeated[0], expected="each column name once")
    missing = [c for c in required if c not in header]
    if missing:
        raise DataFormatError(file, f"missing or renamed column(s) {missing}; found {header}",
                              line=line, column=missing[0], expected=f"columns {required}")
    if not only:
        return
    extra = [c for c in header if c not in required]
    if extra:
        raise DataFormatError(file, f"unexpected column(s) {extra}", line=line,
                              column=extra[0], expected=f"only the columns {required}")


class FirstLines:
    """The line each key was first read on; reading a key again is an error naming both."""

    def __init__(self, file: str | Path, *, column: str, expected: str):
        self.file, self.column, self.expected = file, column, expected
        self.lines: dict[Hashable, int] = {}

    def add(self, key: Hashable, line: int, what: str) -> None:
        """Remember ``key`` at ``line``; ``what`` names it in the error ("row (USA, 2017)")."""
        if key in self.lines:
            raise DataFormatError(self.file, f"duplicated {what}: lines {self.lines[key]} "
                                  f"and {line}", line=line, column=self.column,
                                  expected=self.expected)
        self.lines[key] = line


def check_unique(frame: pd.DataFrame, keys: list[str], *, file: str | Path, column: str,
                 expected: str, line_column: str = "_line") -> None:
    """Fail on rows of ``frame`` sharing ``keys``, naming their lines (from ``line_column``)."""
    dup = frame[frame.duplicated(keys, keep=False)]
    if dup.empty:
        return
    first = dup.iloc[0]
    lines = sorted(set(dup.loc[(dup[keys] == first[keys]).all(axis=1), line_column]))
    same = ", ".join(f"{k} {first[k]}" for k in keys)
    raise DataFormatError(file, f"rows on lines {lines} repeat the same {same}",
                          line=int(lines[-1]), column=column, expected=expected)
