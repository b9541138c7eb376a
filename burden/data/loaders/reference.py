"""Curated published figures shipped in the package -> ``production_measurements`` and
``signature_shares``.

The files live in ``burden/registry/reference/`` (see its README.md): opium cultivation,
production, yields and shares from UNODC, national surveys and US government estimates, and
the DEA Heroin Signature Program shares of US heroin by source region. Each row carries its
own publication and url, so the "source url" of these inputs is the package path.

``verified``: ``yes`` -> True (read in a published page); ``memory`` -> False (recalled, not
checked; models should give such rows less weight). In the signature shares, a bound stated
in words is read from the note only in the explicit forms ``(upper bound N)``,
``(lower bound N)``, ``(<N)``, ``(>N)``; each row so completed is logged as ``changed``.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from burden.data.cleaning import CleaningLog, DataFormatError
from burden.registry import locations

REFERENCE_DIR = Path(__file__).resolve().parents[2] / "registry" / "reference"


@dataclass(frozen=True)
class ReferenceSource:
    """A curated table shipped with the package (no download, no pinned hash)."""

    id: str
    filename: str
    title: str
    publisher: str
    citation: str
    licence: str
    loader: str
    table: str

    @property
    def path(self) -> Path:
        return REFERENCE_DIR / self.filename

    @property
    def url(self) -> str:  # rows cite their own publications; the input is the package file
        return f"package://burden/registry/reference/{self.filename}"


_COMPILED = ("Compiled for this project from the publications cited on each row; "
             "see burden/registry/reference/README.md")
REFERENCE_SOURCES: dict[str, ReferenceSource] = {
    s.id: s
    for s in [
        ReferenceSource(
            id="reference_opium_production",
            filename="opium_production_published.csv",
            title="Published opium cultivation, production, yield, share and heroin "
                  "figures by country and year, 1998-2024",
            publisher="UNODC, national opium surveys, US government (compiled)",
            citation=_COMPILED,
            licence="facts with citations (per row)",
            loader="reference",
            table="production_measurements",
        ),
        ReferenceSource(
            id="reference_heroin_signature",
            filename="heroin_signature_program_published.csv",
            title="DEA Heroin Signature Program: shares of US heroin by source region",
            publisher="US DEA (compiled from DEA reports and pages quoting them)",
            citation=_COMPILED,
            licence="facts with citations (per row)",
            loader="reference",
            table="signature_shares",
        ),
    ]
}

PRODUCTION_COLUMNS = ["country", "iso3", "year", "measure", "value", "lower", "upper",
                      "publisher", "publication", "url", "verified", "note"]
SIGNATURE_COLUMNS = ["destination", "year", "source_region", "share_pct", "basis",
                     "publication", "url", "verified", "note"]
#: Measures and whether they can be negative (a percent change can).
MEASURES = {"cultivation_ha": False, "production_t": False, "yield_kg_per_ha": False,
            "heroin_manufacture_t": False, "share_of_world": False,
            "share_of_world_area": False, "production_pct_change": True}
PERCENT_MEASURES = {"share_of_world", "share_of_world_area"}
VERIFIED = {"yes": True, "memory": False}
_BOUNDS = [  # explicit bounds in a note -> (which bound, pattern)
    ("upper_pct", re.compile(r"\(upper bound (\d+(?:\.\d+)?)\)")),
    ("lower_pct", re.compile(r"\(lower bound (\d+(?:\.\d+)?)\)")),
    ("upper_pct", re.compile(r"\(<\s*(\d+(?:\.\d+)?)\)")),
    ("lower_pct", re.compile(r"\(>\s*(\d+(?:\.\d+)?)\)")),
]


def load(path: Path, log: CleaningLog, source_id: str) -> pd.DataFrame:
    """Read a curated reference CSV into its table's rows."""
    path = Path(path)
    table = REFERENCE_SOURCES[source_id].table
    if table == "production_measurements":
        return _production(_rows(path, PRODUCTION_COLUMNS), path, source_id)
    return _signature(_rows(path, SIGNATURE_COLUMNS), path, log, source_id)


def _production(rows: list[tuple[int, dict]], path: Path, source_id: str) -> pd.DataFrame:
    out = []
    for line, row in rows:
        measure, negative_ok = row["measure"], _choice(row, "measure", MEASURES, path, line)
        numbers = {c: _number(row[c], path, line, c, negative_ok=negative_ok)
                   for c in ("value", "lower", "upper")}
        if all(math.isnan(v) for v in numbers.values()):
            raise DataFormatError(path, "no value, lower or upper", line=line, column="value",
                                  expected="a value or a bound")
        _check_order(numbers["lower"], numbers["value"], numbers["upper"], path, line)
        if measure in PERCENT_MEASURES and any(v > 100 for v in numbers.values()):
            raise DataFormatError(path, f"share above 100 for {measure}", line=line,
                                  column="value", expected="a percent between 0 and 100")
        out.append({
            "country": _text(row, "country", path, line),
            "iso3": _iso3(row, path, line),
            "year": _year(row["year"], path, line),
            "measure": measure,
            **numbers,
            "publisher": _text(row, "publisher", path, line),
            "publication": _text(row, "publication", path, line),
            "url": row["url"] or None,
            "verified": _choice(row, "verified", VERIFIED, path, line),
            "note": row["note"] or None,
            "source": source_id,
        })
    return pd.DataFrame(out)


def _signature(rows: list[tuple[int, dict]], path: Path, log: CleaningLog,
               source_id: str) -> pd.DataFrame:
    out = []
    for line, row in rows:
        share = _number(row["share_pct"], path, line, "share_pct")
        if share > 100:
            raise DataFormatError(path, f"share {row['share_pct']!r} above 100", line=line,
                                  column="share_pct", expected="a percent between 0 and 100")
        bounds = _note_bounds(row["note"])
        words = f"{row['destination']}, {row['source_region']}, {row['year']}"
        for column, value in bounds.items():
            log.record("changed", f"{column} = {value:g} read from the note's stated bound",
                       line=line, column=column, original=row["note"], record=words)
        lower, upper = bounds.get("lower_pct", math.nan), bounds.get("upper_pct", math.nan)
        _check_order(lower, share, upper, path, line)
        if math.isnan(share) and not bounds:
            log.record("flagged", "no share and no bound stated: kept as missing", line=line,
                       column="share_pct", original=row["note"], record=words)
        out.append({
            "destination": _text(row, "destination", path, line),
            "year": _year(row["year"], path, line),
            "source_region": _text(row, "source_region", path, line),
            "share_pct": share, "lower_pct": lower, "upper_pct": upper,
            "basis": _text(row, "basis", path, line),
            "publication": _text(row, "publication", path, line),
            "url": row["url"] or None,
            "verified": _choice(row, "verified", VERIFIED, path, line),
            "note": row["note"] or None,
            "source": source_id,
        })
    return pd.DataFrame(out)


def _note_bounds(note: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for column, pattern in _BOUNDS:
        match = pattern.search(note)
        if match:
            found[column] = float(match.group(1))
    return found


def _rows(path: Path, columns: list[str]) -> list[tuple[int, dict]]:
    """(line, row) pairs; fail on a wrong header, a short row or a repeated row."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataFormatError(path, "not valid UTF-8", line=data.count(b"\n", 0, exc.start) + 1,
                              expected="UTF-8 CSV") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip() for h in next(reader, [])]
    if header != columns:
        missing = [c for c in columns if c not in header]
        raise DataFormatError(path, f"header is {header}", line=1,
                              column=missing[0] if missing else None,
                              expected=f"exactly the columns {columns}")
    rows, first_line = [], {}
    try:
        for cells in reader:
            line = reader.line_num
            if len(cells) != len(columns):
                column = columns[len(cells)] if len(cells) < len(columns) else None
                raise DataFormatError(path, f"{len(cells)} cells for {len(columns)} columns: "
                                      "the row is cut short (truncated file?) or has extra "
                                      "cells", line=line, column=column,
                                      expected=f"{len(columns)} comma-separated cells")
            cells = tuple(c.strip() for c in cells)
            if cells in first_line:
                raise DataFormatError(path, f"row repeats line {first_line[cells]}", line=line,
                                      column=columns[0], expected="each published figure once")
            first_line[cells] = line
            rows.append((line, dict(zip(columns, cells, strict=True))))
    except csv.Error as exc:
        raise DataFormatError(path, f"unreadable CSV: {exc}", line=reader.line_num,
                              expected="comma-separated cells") from None
    if not rows:
        raise DataFormatError(path, "no data rows below the header", line=2,
                              expected="one published figure a row")
    return rows


def _number(text: str, path: Path, line: int, column: str, negative_ok: bool = False
            ) -> float:
    if text == "":
        return math.nan
    try:
        value = float(text.replace(",", ""))
    except ValueError:
        raise DataFormatError(path, f"not a number: {text!r}", line=line, column=column,
                              expected="a number or an empty cell") from None
    if not math.isfinite(value) or (value < 0 and not negative_ok):
        raise DataFormatError(path, f"negative or infinite value {text!r}", line=line,
                              column=column, expected="a non-negative number")
    return value


def _check_order(lower: float, value: float, upper: float, path: Path, line: int) -> None:
    known = [v for v in (lower, value, upper) if not math.isnan(v)]
    if known != sorted(known):
        raise DataFormatError(path, f"bounds out of order: lower {lower}, value {value}, "
                              f"upper {upper}", line=line, column="lower",
                              expected="lower <= value <= upper")


def _year(text: str, path: Path, line: int) -> int:
    if not re.fullmatch(r"\d{4}", text):
        raise DataFormatError(path, f"not a year: {text!r}", line=line, column="year",
                              expected="a four-digit year")
    return int(text)


def _text(row: dict, column: str, path: Path, line: int) -> str:
    if not row[column]:
        raise DataFormatError(path, "empty cell", line=line, column=column,
                              expected="text (every figure names its publication)")
    return row[column]


def _choice(row: dict, column: str, choices: dict, path: Path, line: int):
    try:
        return choices[row[column]]
    except KeyError:
        raise DataFormatError(path, f"unknown {column} {row[column]!r}", line=line,
                              column=column, expected=f"one of {list(choices)}") from None


def _iso3(row: dict, path: Path, line: int) -> str | None:
    """The row's ISO3 (``WLD`` for the world; blank for regions), checked against its name."""
    code = row["iso3"]
    if not code or code == locations.WORLD_ID:
        return code or None
    named = locations.to_iso3(row["country"], file=path, line=line, column="country",
                              gbd_only=False)
    if named != code:
        raise DataFormatError(path, f"country {row['country']!r} is {named}, but iso3 is "
                              f"{code!r}", line=line, column="iso3",
                              expected="the ISO3 code of the country")
    return code
