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
from burden.data.textfile import csv_rows, data_rows, decode, split_header
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
KEY_COLUMNS = "State, Year, Month, Indicator"
COLUMNS = ["location_id", "location_level", "year", "month", "indicator", "value",
           "predicted_value", "percent_complete", "percent_pending", "footnote", "source"]


def load(path: Path, log: CleaningLog, source_id: str) -> pd.DataFrame:
    """Read a VSRR provisional counts CSV into ``us_provisional`` rows."""
    path = Path(path)
    rows = csv_rows(decode(path, expected="UTF-8 CSV, as data.cdc.gov exports it"), path)
    header_line, header = split_header(rows, path, REQUIRED)
    require_columns(header, REQUIRED, file=path, line=header_line)
    records = []
    seen = FirstLines(path, column=KEY_COLUMNS,
                      expected="one row per state, year, month, indicator")
    for line, row in data_rows(rows[1:], header, path, log=log):
        record = _parse_row(row, path, line, log, source_id)
        key = (record["location_id"], record["year"], record["month"], record["indicator"])
        seen.add(key, line, f"row {key}")
        records.append(record)
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
    year = parse_year(row["Year"], file=path, line=line, column="Year")
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
        "year": year,
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
