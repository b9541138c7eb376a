"""CDC VSRR provisional drug overdose death counts -> ``us_provisional``.

One row per jurisdiction, month and indicator; each row counts the deaths of the 12 months
*ending* in that month (``year``/``month`` are the last month of the period), by the date
the death occurred, as reported when the file was released (later releases revise them).

Jurisdictions: ``US`` (the nation, level ``country``), the 50 states and DC (``US-XX``,
level ``state``) and ``YC`` = New York City (``US-YC``, level ``city``). New York City is
also inside ``NY`` (New York State includes it in this file), so adding states and YC
double counts NYC; add states only.

Kept as published: "Data Value" (reported count, or a percent for ``percent_specified``) as
``value``; "Predicted Value" (NCHS's count adjusted for reporting delays; blank where NCHS
does not publish one, e.g. all-cause deaths, and not logged) as ``predicted_value``;
"Percent Complete", "Percent Pending Investigation" and "Footnote". A blank "Data Value"
stays NaN and is logged as ``flagged``. Other columns ("State Name", ...) are not used.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from burden.data.cleaning import CleaningLog, DataFormatError, parse_count
from burden.registry.causes import CAUSES, INDICATORS

#: "Indicator" labels as printed -> ``registry.causes`` id (or ``INDICATORS`` id).
INDICATOR_LABELS = {
    "Number of Deaths": "all_deaths",
    "Number of Drug Overdose Deaths": "all_overdose",
    "Percent with drugs specified": "percent_specified",
    "Opioids (T40.0-T40.4,T40.6)": "any_opioid",
    "Heroin (T40.1)": "heroin",
    "Natural & semi-synthetic opioids (T40.2)": "natural_semisynthetic_opioids",
    "Methadone (T40.3)": "methadone",
    "Synthetic opioids, excl. methadone (T40.4)": "synthetic_opioids",
    "Cocaine (T40.5)": "cocaine",
    "Psychostimulants with abuse potential (T43.6)": "psychostimulants",
}
assert set(INDICATOR_LABELS.values()) <= set(CAUSES) | set(INDICATORS)
PERCENT_INDICATORS = {"percent_specified"}

#: USPS postal codes of the 50 states and the District of Columbia.
STATES = frozenset({
    "AK", "AL", "AR", "AZ", "CA", "CO", "CT", "DC", "DE", "FL", "GA", "HI", "IA", "ID", "IL",
    "IN", "KS", "KY", "LA", "MA", "MD", "ME", "MI", "MN", "MO", "MS", "MT", "NC", "ND", "NE",
    "NH", "NJ", "NM", "NV", "NY", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT",
    "VA", "VT", "WA", "WI", "WV", "WY"
})
#: Jurisdictions that are not states: "State" code -> (location_id, location_level).
SPECIAL_JURISDICTIONS = {"US": ("US", "country"), "YC": ("US-YC", "city")}
MONTHS = {name: number for number, name in enumerate(
    ["January", "February", "March", "April", "May", "June", "July", "August", "September",
     "October", "November", "December"], start=1)}

REQUIRED = ["State", "Year", "Month", "Indicator", "Data Value", "Predicted Value",
            "Percent Complete", "Percent Pending Investigation", "Footnote"]
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
KEY_COLUMNS = "State, Year, Month, Indicator"
COLUMNS = ["location_id", "location_level", "year", "month", "indicator", "value",
           "predicted_value", "percent_complete", "percent_pending", "footnote", "source"]


def load(path: Path, log: CleaningLog, source_id: str) -> pd.DataFrame:
    """Read a VSRR provisional counts CSV into ``us_provisional`` rows."""
    path = Path(path)
    reader = csv.reader(io.StringIO(_decode(path), newline=""))
    try:
        header = next(reader, None)
        if header is None:
            raise DataFormatError(path, "the file is empty", line=1,
                                  expected=f"a header with {REQUIRED}")
        header = [h.strip() for h in header]
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise DataFormatError(path, f"missing or renamed column(s) {missing}; found "
                                  f"{header}", line=1, column=missing[0],
                                  expected=f"columns {REQUIRED}")
        at = {name: header.index(name) for name in REQUIRED}
        records, first_line = [], {}
        for cells in reader:
            line = reader.line_num
            if not any(c.strip() for c in cells):
                log.record("dropped", "blank line", line=line)
                continue
            if len(cells) != len(header):
                column = header[len(cells)] if len(cells) < len(header) else None
                raise DataFormatError(path, f"{len(cells)} cells for {len(header)} columns: "
                                      "the row is cut short (truncated file?) or has extra "
                                      "cells", line=line, column=column,
                                      expected=f"{len(header)} comma-separated cells")
            row = {name: cells[i].strip() for name, i in at.items()}
            record = _parse_row(row, path, line, log, source_id)
            key = (record["location_id"], record["year"], record["month"],
                   record["indicator"])
            if key in first_line:
                raise DataFormatError(path, f"duplicated row {key}: lines {first_line[key]} "
                                      f"and {line}", line=line, column=KEY_COLUMNS,
                                      expected="one row per state, year, month, indicator")
            first_line[key] = line
            records.append(record)
    except csv.Error as exc:
        raise DataFormatError(path, f"unreadable CSV: {exc}", line=reader.line_num,
                              expected="comma-separated cells") from None
    if not records:
        raise DataFormatError(path, "no data rows below the header", line=2,
                              expected="one row per state, month and indicator")
    frame = pd.DataFrame.from_records(records, columns=COLUMNS)
    return frame.astype({"year": int, "month": int, "value": float, "predicted_value": float,
                         "percent_complete": float, "percent_pending": float})


def _parse_row(row: dict[str, str], path: Path, line: int, log: CleaningLog,
               source_id: str) -> dict:
    location_id, level = _location(row["State"], path, line)
    indicator = _lookup(INDICATOR_LABELS, row["Indicator"], path, line, "Indicator")
    month = _lookup(MONTHS, row["Month"], path, line, "Month")
    if not (row["Year"].isdigit() and len(row["Year"]) == 4):
        raise DataFormatError(path, f"not a year: {row['Year']!r}", line=line, column="Year",
                              expected="a four-digit year")
    numbers = {
        column: parse_count(row[column], file=path, line=line, column=column, allow_blank=True)
        for column in ["Data Value", "Predicted Value", "Percent Complete",
                       "Percent Pending Investigation"]
    }
    percents = ["Percent Complete", "Percent Pending Investigation"]
    if indicator in PERCENT_INDICATORS:
        percents += ["Data Value", "Predicted Value"]
    for column in percents:
        if numbers[column] > 100:
            raise DataFormatError(path, f"percent above 100: {row[column]!r}", line=line,
                                  column=column, expected="a percent between 0 and 100")
    words = f"{row['State']}, {row['Indicator']}, 12 months ending {row['Month']} {row['Year']}"
    if pd.isna(numbers["Data Value"]):
        log.record("flagged", "Data Value blank (not published): kept as missing",
                   line=line, column="Data Value", original="", record=words)
    return {
        "location_id": location_id,
        "location_level": level,
        "year": int(row["Year"]),
        "month": month,
        "indicator": indicator,
        "value": numbers["Data Value"],
        "predicted_value": numbers["Predicted Value"],
        "percent_complete": numbers["Percent Complete"],
        "percent_pending": numbers["Percent Pending Investigation"],
        "footnote": row["Footnote"] or None,
        "source": source_id,
    }


def _location(code: str, path: Path, line: int) -> tuple[str, str]:
    if code in SPECIAL_JURISDICTIONS:
        return SPECIAL_JURISDICTIONS[code]
    if code in STATES:
        return f"US-{code}", "state"
    raise DataFormatError(path, f"unknown jurisdiction {code!r}", line=line, column="State",
                          expected=f"US, YC or a state postal code ({', '.join(sorted(STATES))})")


def _lookup(table: dict, label: str, path: Path, line: int, column: str):
    try:
        return table[label]
    except KeyError:
        raise DataFormatError(path, f"unknown {column} {label!r}", line=line, column=column,
                              expected=f"one of {list(table)}") from None


def _decode(path: Path) -> str:
    """UTF-8 text (ASCII as published); a clear error for UTF-16 or other encodings."""
    data = path.read_bytes()
    if data[:2] in _UTF16_BOMS or b"\x00" in data:
        at = 0 if data[:2] in _UTF16_BOMS else data.find(b"\x00")
        raise DataFormatError(path, "NUL bytes or a UTF-16 byte-order mark: not UTF-8 text",
                              line=data.count(b"\n", 0, at) + 1, column=_column_at(data, at),
                              expected="UTF-8 CSV, as data.cdc.gov exports it")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataFormatError(path, f"byte {data[exc.start:exc.start + 1]!r} is not valid "
                              "UTF-8", line=data.count(b"\n", 0, exc.start) + 1,
                              column=_column_at(data, exc.start),
                              expected="UTF-8 CSV, as data.cdc.gov exports it") from None


def _column_at(data: bytes, offset: int) -> str:
    """Header name of the CSV column holding byte ``offset`` (best effort)."""
    first = data.split(b"\n", 1)[0]
    first = first[2:] if first[:2] in _UTF16_BOMS else first
    header = next(csv.reader([first.decode("latin-1").replace("\x00", "")]), [])
    start = data.rfind(b"\n", 0, offset) + 1
    prefix = data[start:offset].decode("latin-1").replace("\x00", "")
    index = max(len(next(csv.reader([prefix]), [])), 1) - 1
    return header[index].strip() if 0 <= index < len(header) else f"#{index + 1}"
