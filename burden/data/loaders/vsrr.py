"""CDC VSRR provisional drug overdose death counts -> ``us_provisional`` (2018 release, all
jurisdictions) and ``us_provisional_national`` (2015-2025 release, the US rows only).

One row per jurisdiction, month and indicator; each row counts the deaths of the 12 months
*ending* in that month (``year``/``month`` are the last month of the period), by the date
the death occurred, as reported when the file was released (later releases revise them).

Jurisdictions: ``US`` (the nation, level ``country``), the 50 states and DC (``US-XX``,
level ``state``) and ``YC`` = New York City (``US-YC``, level ``city``). New York City is
also inside ``NY`` (New York State includes it in this file), so adding states and YC
double counts NYC; add states only.

Both releases are read by this one loader: columns are found by name, so the 2018 file's
order (``State, State Name, Year, Month, Indicator, Data Value, Predicted Value, ...``) and
the newer one (``State, Year, Month, Period, Indicator, Data Value, Percent Complete,
Percent Pending Investigation, State Name, Footnote, Footnote Symbol, Predicted Value``)
both work. ``RELEASES`` says, per source, which jurisdictions a file may hold (the national
extract: ``US`` only). A "Period" column, where present, must say "12 month-ending".

Kept as published: "Data Value" (reported count, or a percent for ``percent_specified``;
thousands separators removed) as ``value``; "Predicted Value" (NCHS's count adjusted for
reporting delays; blank where NCHS does not publish one, e.g. all-cause deaths) as
``predicted_value``; "Percent Complete", "Percent Pending Investigation" and "Footnote".
A blank "Data Value" or "Predicted Value" stays NaN and is logged as ``flagged``, one entry
per cell. ``underreported`` is True for rows whose footnote says "Underreported due to
incomplete data" (the most recent months of a release), each logged as ``flagged``. Every
row has ``definition`` ``certified_overdose`` (``registry.estimands``): the counts are of
deaths whose certificate names the drug; ``all_deaths`` (all causes) and
``percent_specified`` rows belong to the same series. Other columns ("State Name",
"Footnote Symbol") are not used.
"""

from __future__ import annotations

from dataclasses import dataclass
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
from burden.registry.causes import CAUSES, INDICATORS
from burden.registry.estimands import DEFINITIONS

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
    "Natural & semi-synthetic opioids, incl. methadone (T40.2, T40.3)": "rx_opioids",
    "Natural, semi-synthetic, & synthetic opioids, incl. methadone (T40.2-T40.4)":
        "natural_semisynthetic_synthetic_opioids",
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
           "predicted_value", "percent_complete", "percent_pending", "footnote",
           "underreported", "definition", "source"]
PERIOD = "12 month-ending"  # the only "Period" the loader knows (newer files print it)
UNDERREPORTED = "Underreported due to incomplete data"  # footnote, with or without a "."
#: ``registry.estimands`` id of every row.
DEFINITION = "certified_overdose"
assert DEFINITION in DEFINITIONS


@dataclass(frozen=True)
class Release:
    """What one registered VSRR file may hold."""

    jurisdictions: frozenset[str] | None  # "State" codes allowed; None: US, YC and states
    description: str
    table: str  # the processed table it feeds: its schema gives the years allowed
    # complete grid: every indicator of ``indicators`` for every month of the file (so a file
    # cut short between rows is caught); None: no such check (the 2018 file gives states
    # different indicator sets)
    indicators: frozenset[str] | None = None

    @property
    def years(self) -> tuple[int, int]:
        return year_range(self.table)


RELEASES = {
    "vsrr_provisional": Release(None, "2018 release, all jurisdictions", "us_provisional"),
    "vsrr_national": Release(frozenset({"US"}), "the US rows of a later release",
                             "us_provisional_national", frozenset(INDICATOR_LABELS.values())),
}


def load(path: Path, log: CleaningLog, source_id: str) -> pd.DataFrame:
    """Read a VSRR provisional counts CSV into ``us_provisional`` rows."""
    path = Path(path)
    if source_id not in RELEASES:
        raise ValueError(f"vsrr loader: unknown source {source_id!r}; known: {list(RELEASES)}")
    release = RELEASES[source_id]
    rows = csv_rows(decode(path, expected="UTF-8 CSV, as data.cdc.gov exports it"), path)
    header_line, header = split_header(rows, path, REQUIRED)
    require_columns(header, REQUIRED, file=path, line=header_line)
    records = []
    seen = FirstLines(path, column=KEY_COLUMNS,
                      expected="one row per state, year, month, indicator")
    for line, row in data_rows(rows[1:], header, path, log=log):
        record = _parse_row(row, path, line, log, source_id, release)
        key = (record["location_id"], record["year"], record["month"], record["indicator"])
        seen.add(key, line, f"row {key}")
        records.append(record)
    if not records:
        raise DataFormatError(path, "no data rows below the header", line=2,
                              expected="one row per state, month and indicator")
    if release.indicators is not None:
        _check_grid(seen.lines, release.indicators, path)
    frame = pd.DataFrame.from_records(records, columns=COLUMNS)
    return frame.astype({"year": int, "month": int, "value": float, "predicted_value": float,
                         "percent_complete": float, "percent_pending": float,
                         "underreported": bool})


def _parse_row(row: dict[str, str], path: Path, line: int, log: CleaningLog,
               source_id: str, release: Release) -> dict:
    location_id, level = _location(row["State"], path, line, release)
    if "Period" in row and row["Period"] != PERIOD:
        raise DataFormatError(path, f"unknown Period {row['Period']!r}", line=line,
                              column="Period", expected=f"{PERIOD!r} (12-month-ending counts)")
    indicator = _lookup(INDICATOR_LABELS, row["Indicator"], path, line, "Indicator")
    month = _lookup(MONTHS, row["Month"], path, line, "Month")
    year = parse_year(row["Year"], file=path, line=line, column="Year", years=release.years)
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
    for column in ("Data Value", "Predicted Value"):
        if pd.isna(numbers[column]):
            log.record("flagged", f"{column} blank (not published): kept as missing",
                       line=line, column=column, original="", record=words)
    underreported = row["Footnote"].startswith(UNDERREPORTED)
    if underreported:
        log.record("flagged", "footnote says the counts are underreported (incomplete "
                   "data): kept, underreported = True", line=line, column="Footnote",
                   original=row["Footnote"], record=words)
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
        "underreported": underreported,
        "definition": DEFINITION,
        "source": source_id,
    }


def _check_grid(lines: dict, indicators: frozenset[str], path: Path) -> None:
    """Every indicator for every month of the file; else the file was cut (or edited).

    ``lines`` maps (location, year, month, indicator) to its line. Names the last line of the
    first incomplete series (column Month), or the file's last line for a missing indicator.
    """
    months: dict[str, set] = {}
    ends: dict[str, int] = {}
    for (_, year, month, indicator), line in lines.items():
        months.setdefault(indicator, set()).add((year, month))
        ends[indicator] = max(ends.get(indicator, 0), line)
    last = max(ends.values())
    absent = sorted(indicators - set(months))
    if absent:
        raise DataFormatError(path, f"no rows for indicator(s) {absent} (file cut short?)",
                              line=last, column="Indicator",
                              expected=f"every indicator of {sorted(indicators)} each month")
    every = set().union(*months.values())
    for indicator in sorted(months, key=ends.get):
        lacking = sorted(every - months[indicator])
        if lacking:
            shown = ", ".join(f"{m:02d}/{y}" for y, m in lacking[:5])
            raise DataFormatError(path, f"indicator {indicator!r} lacks {len(lacking)} month(s) "
                                  f"that other indicators have ({shown}); its rows end at "
                                  f"line {ends[indicator]} (file cut short between rows?)",
                                  line=ends[indicator], column="Month",
                                  expected="every indicator for every month")


def _location(code: str, path: Path, line: int, release: Release) -> tuple[str, str]:
    if release.jurisdictions is not None and code not in release.jurisdictions:
        raise DataFormatError(path, f"jurisdiction {code!r} in a file of "
                              f"{release.description}", line=line, column="State",
                              expected=f"only {sorted(release.jurisdictions)}")
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
