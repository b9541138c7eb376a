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

import math
import re
from pathlib import Path

import pandas as pd

from burden.data.cleaning import (
    CleaningLog,
    DataFormatError,
    FirstLines,
    parse_count,
    parse_year,
    require_columns,
)
from burden.data.schemas import year_range
from burden.data.textfile import csv_rows, data_rows, decode, split_header
from burden.registry import locations
from burden.registry.published import REFERENCE_SOURCES

PRODUCTION_COLUMNS = ["country", "iso3", "year", "measure", "value", "lower", "upper",
                      "publisher", "publication", "url", "verified", "note"]
SIGNATURE_COLUMNS = ["destination", "year", "source_region", "share_pct", "basis",
                     "publication", "url", "verified", "note"]
#: Years each table's schema allows: a year outside is an error naming its line.
PRODUCTION_YEARS = year_range("production_measurements")
SIGNATURE_YEARS = year_range("signature_shares")
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
    # the shared compilation's wording for a figure published only as a bound (rows added
    # 2026-11-29: "bound only: over 90 per cent", "bound only: less than 2 per cent")
    ("lower_pct", re.compile(r"^bound only: over (\d+(?:\.\d+)?) per cent")),
    ("upper_pct", re.compile(r"^bound only: less than (\d+(?:\.\d+)?) per cent")),
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
        numbers = {c: parse_count(row[c], file=path, line=line, column=c, allow_blank=True,
                                  allow_negative=negative_ok)
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
            "year": parse_year(row["year"], file=path, line=line, column="year",
                               years=PRODUCTION_YEARS),
            "measure": measure,
            **numbers,
            "publisher": _text(row, "publisher", path, line),
            **_citation(row, path, line, source_id),
        })
    return pd.DataFrame(out)


def _signature(rows: list[tuple[int, dict]], path: Path, log: CleaningLog,
               source_id: str) -> pd.DataFrame:
    out = []
    for line, row in rows:
        share = parse_count(row["share_pct"], file=path, line=line, column="share_pct",
                            allow_blank=True)
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
            "year": parse_year(row["year"], file=path, line=line, column="year",
                               years=SIGNATURE_YEARS),
            "source_region": _text(row, "source_region", path, line),
            "share_pct": share, "lower_pct": lower, "upper_pct": upper,
            "basis": _text(row, "basis", path, line),
            **_citation(row, path, line, source_id),
        })
    return pd.DataFrame(out)


def _citation(row: dict, path: Path, line: int, source_id: str) -> dict:
    """The columns both tables end with: where the figure was published, and our source."""
    return {
        "publication": _text(row, "publication", path, line),
        "url": row["url"] or None,
        "verified": _choice(row, "verified", VERIFIED, path, line),
        "note": row["note"] or None,
        "source": source_id,
    }


def _note_bounds(note: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for column, pattern in _BOUNDS:
        match = pattern.search(note)
        if match:
            found[column] = float(match.group(1))
    return found


def _rows(path: Path, columns: list[str]) -> list[tuple[int, dict]]:
    """(line, row) pairs; fail on a wrong header, a short or blank row or a repeated row."""
    lines = csv_rows(decode(path, expected="UTF-8 CSV"), path)
    header_line, header = split_header(lines, path, columns)
    require_columns(header, columns, file=path, line=header_line, only=True)
    rows = []
    seen = FirstLines(path, column=columns[0], expected="each published figure once")
    # no log: a blank line in a curated file is refused, not skipped
    for line, row in data_rows(lines[1:], header, path, log=None):
        seen.add(tuple(row[c] for c in columns), line, "row")
        rows.append((line, row))
    if not rows:
        raise DataFormatError(path, "no data rows below the header", line=2,
                              expected="one published figure a row")
    return rows


def _check_order(lower: float, value: float, upper: float, path: Path, line: int) -> None:
    known = [v for v in (lower, value, upper) if not math.isnan(v)]
    if known != sorted(known):
        raise DataFormatError(path, f"bounds out of order: lower {lower}, value {value}, "
                              f"upper {upper}", line=line, column="lower",
                              expected="lower <= value <= upper")



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
