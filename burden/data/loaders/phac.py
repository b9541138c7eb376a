"""PHAC opioid- and stimulant-related harms (Health Infobase export) -> ``canada_opioid_deaths``.

The file is long: one value a row, ``Substance, Source, Specific_Measure, Region, PRUID,
Time_Period, Year_Quarter, Aggregator, Disaggregator, Unit, Value``, mixing units (Number,
Crude rate, Percent), harms (deaths, hospitalizations, ED visits, EMS) and breakdowns.

Kept (``Substance`` "Opioids", ``Source`` "Deaths", i.e. apparent opioid toxicity deaths):

- "Overall numbers" in ``Number``: deaths by year and by quarter -> ``measure`` ``deaths``,
  ``category`` ``all_opioids``, ``unit`` ``number``;
- "Type of opioids" in ``Percent``: percent of deaths involving fentanyl, fentanyl analogues,
  non-fentanyl opioids (a death can involve several: they do not add up to 100) ->
  ``percent_by_opioid_type``;
- "Origin of opioid(s)" in ``Percent``: pharmaceutical only, non-pharmaceutical only, both,
  undetermined (shares of one whole, 2018 onwards) -> ``percent_by_origin``.

Everything else (stimulants; hospitalizations, ED visits and EMS; crude rates; breakdowns by
sex, age, manner, co-involved substances) is left out with ONE ``dropped`` log entry per
category with its row count and first and last line: nothing vanishes unexplained. An
unknown ``Substance``, ``Source``, ``Specific_Measure``, ``Unit`` or ``Time_Period`` is an
error (never silently excluded); so are an unknown region, PRUID or breakdown label in a
kept row.

Values: "Suppr." (suppressed by PHAC, small counts) and "n/a" (not available, e.g. not
reported by the jurisdiction) are kept as NaN with ``status`` ``suppressed`` /
``not_available`` and each ``flagged`` in the log; anything else must be a non-negative
number (percents at most 100).

Periods: "By year" rows have ``Year_Quarter`` "2016" ... or "2025 (Jan to Sep)" (a partial
year: ``partial_year`` True, ``period_end_month`` 9); "By quarter" rows have "2016 Q1" ...
(``quarter`` 1-4, ``period_end_month`` 3, 6, 9, 12).

Locations: ``CAN`` (Canada, level ``country``) and ``CA-XX`` (ISO 3166-2:CA subdivision code,
levels ``province`` and ``territory``); the ``PRUID`` must be the region's.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from burden.data.cleaning import (
    CleaningLog,
    DataFormatError,
    FirstLines,
    check_year,
    parse_count,
    require_columns,
)
from burden.data.schemas import year_range
from burden.data.textfile import csv_rows, data_rows, decode, split_header
from burden.registry.estimands import DEFINITIONS

#: Estimand of these counts (``registry.estimands``). PHAC counts apparent opioid toxicity
#: deaths from coroners' and medical examiners' investigations, not ICD-10-coded
#: certificates: the nearest estimand the registry has, with the differences its
#: ``certified_overdose`` entry states (deaths still under investigation included, counts
#: revised each release).
DEFINITION = "certified_overdose"
assert DEFINITION in DEFINITIONS
YEARS = year_range("canada_opioid_deaths")  # a year outside is an error naming its line

SUBSTANCE, SOURCE, MEASURE, REGION, PRUID = (
    "Substance", "Source", "Specific_Measure", "Region", "PRUID")
TIME_PERIOD, YEAR_QUARTER, AGGREGATOR, DISAGGREGATOR, UNIT, VALUE = (
    "Time_Period", "Year_Quarter", "Aggregator", "Disaggregator", "Unit", "Value")
REQUIRED = [SUBSTANCE, SOURCE, MEASURE, REGION, PRUID, TIME_PERIOD, YEAR_QUARTER, AGGREGATOR,
            DISAGGREGATOR, UNIT, VALUE]
COLUMNS = ["location_id", "location_name", "location_level", "year", "quarter",
           "period_end_month", "partial_year", "measure", "category", "unit", "value",
           "status", "definition", "source"]

#: Labels the file may hold; any other is an error, not a silent exclusion.
SUBSTANCES = ("Opioids", "Stimulants")
SOURCES = ("Deaths", "Hospitalizations", "Emergency Department (ED) Visits",
           "Emergency Medical Services (EMS)")
MEASURES = ("Overall numbers", "Type of opioids", "Origin of opioid(s)", "Type of stimulants",
            "Sex", "Age group", "Sex and age group", "Manner of death", "Intent",
            "Involving opioids", "Involving stimulants",
            "Involving other psychoactive substances")
UNITS = {"Number": "number", "Crude rate": "crude_rate_per_100k", "Percent": "percent"}
TIME_PERIODS = {"By year": "year", "By quarter": "quarter"}

#: (Specific_Measure, Unit) of opioid deaths kept -> (measure, {Disaggregator: category}).
KEPT: dict[tuple[str, str], tuple[str, dict[str, str]]] = {
    ("Overall numbers", "Number"): ("deaths", {"": "all_opioids"}),
    ("Type of opioids", "Percent"): ("percent_by_opioid_type", {
        "Fentanyl": "fentanyl",
        "Fentanyl analogues": "fentanyl_analogues",
        "Non-fentanyl opioids": "non_fentanyl_opioids",
    }),
    ("Origin of opioid(s)", "Percent"): ("percent_by_origin", {
        "Pharmaceutical only": "pharmaceutical_only",
        "Non-pharmaceutical only": "non_pharmaceutical_only",
        "Both": "both",
        "Undetermined": "undetermined",
    }),
}

#: Region as printed -> (location_id, level, PRUID). ISO 3166-2:CA codes.
REGIONS: dict[str, tuple[str, str, str]] = {
    "Canada": ("CAN", "country", "1"),
    "Newfoundland and Labrador": ("CA-NL", "province", "10"),
    "Prince Edward Island": ("CA-PE", "province", "11"),
    "Nova Scotia": ("CA-NS", "province", "12"),
    "New Brunswick": ("CA-NB", "province", "13"),
    "Quebec": ("CA-QC", "province", "24"),
    "Ontario": ("CA-ON", "province", "35"),
    "Manitoba": ("CA-MB", "province", "46"),
    "Saskatchewan": ("CA-SK", "province", "47"),
    "Alberta": ("CA-AB", "province", "48"),
    "British Columbia": ("CA-BC", "province", "59"),
    "Yukon": ("CA-YT", "territory", "60"),
    "Northwest Territories": ("CA-NT", "territory", "61"),
    "Nunavut": ("CA-NU", "territory", "62"),
}

#: Missing-value markers -> (status, reason logged).
MARKERS = {
    "Suppr.": ("suppressed", "suppressed by PHAC (small count): kept as missing"),
    "n/a": ("not_available", "not available (n/a in the file): kept as missing"),
}
MONTHS = {"Mar": 3, "Jun": 6, "Sep": 9, "Dec": 12}
_YEAR = re.compile(r"(\d{4})")
_PARTIAL_YEAR = re.compile(r"(\d{4}) \(Jan to (Mar|Jun|Sep)\)")
_QUARTER = re.compile(r"(\d{4}) Q([1-4])")


def load(path: Path, log: CleaningLog, source_id: str) -> pd.DataFrame:
    """Read the PHAC harms CSV into ``canada_opioid_deaths`` rows."""
    path = Path(path)
    rows = csv_rows(decode(path, expected="UTF-8 CSV, as Health Infobase exports it"), path)
    header_line, header = split_header(rows, path, REQUIRED)
    require_columns(header, REQUIRED, file=path, line=header_line, only=True)
    records, excluded = [], {}
    seen = FirstLines(path, column=YEAR_QUARTER,
                      expected="one row per region, period, measure and breakdown")
    for line, row in data_rows(rows[1:], header, path, log=log):
        for column, known in [(SUBSTANCE, SUBSTANCES), (SOURCE, SOURCES), (MEASURE, MEASURES),
                              (UNIT, UNITS), (TIME_PERIOD, TIME_PERIODS)]:
            _check_label(row[column], known, path, line, column)
        category = _excluded_category(row)
        if category is not None:
            entry = excluded.setdefault(category, [0, line, line])
            entry[0] += 1
            entry[2] = line
            continue
        record = _parse_row(row, path, line, log, source_id)
        key = (record["location_id"], record["year"], record["quarter"], record["measure"],
               record["category"])
        seen.add(key, line, f"row {key}")
        records.append(record)
    for (column, label, words), (count, first, last) in excluded.items():
        log.record("dropped", f"not needed for the deaths table: {words}: {count} rows "
                   f"(lines {first}-{last}, interleaved with others)", line=first,
                   column=column, original=label, record=f"{count} rows")
    if not records:
        raise DataFormatError(path, "no opioid death rows below the header", line=2,
                              expected="rows with Substance 'Opioids' and Source 'Deaths'")
    frame = pd.DataFrame.from_records(records, columns=COLUMNS)
    return frame.astype({"year": int, "quarter": "Int64", "period_end_month": int,
                         "partial_year": bool, "value": float})


def _check_label(label: str, known, path: Path, line: int, column: str) -> None:
    if label not in known:
        raise DataFormatError(path, f"unknown {column} {label!r}", line=line, column=column,
                              expected=f"one of {list(known)}")


def _excluded_category(row: dict[str, str]) -> tuple[str, str, str] | None:
    """(column, label, words) of the category a left-out row belongs to; None if kept."""
    if row[SUBSTANCE] != "Opioids":
        return SUBSTANCE, row[SUBSTANCE], f"Substance {row[SUBSTANCE]!r} (all sources)"
    if row[SOURCE] != "Deaths":
        return SOURCE, row[SOURCE], f"opioid {row[SOURCE]!r} (all measures)"
    if (row[MEASURE], row[UNIT]) not in KEPT:
        return (MEASURE, f"{row[MEASURE]} ({row[UNIT]})",
                f"opioid deaths, {row[MEASURE]!r} in {row[UNIT]!r}")
    return None


def _parse_row(row: dict[str, str], path: Path, line: int, log: CleaningLog,
               source_id: str) -> dict:
    location_id, level = _location(row, path, line)
    year, quarter, end_month, partial = _period(row, path, line)
    measure, categories = KEPT[row[MEASURE], row[UNIT]]
    if row[DISAGGREGATOR] not in categories:
        raise DataFormatError(path, f"unknown {DISAGGREGATOR} {row[DISAGGREGATOR]!r} for "
                              f"{row[MEASURE]!r}", line=line, column=DISAGGREGATOR,
                              expected=f"one of {list(categories)}")
    expected_aggregator = "" if measure == "deaths" else row[YEAR_QUARTER]
    if row[AGGREGATOR] != expected_aggregator:
        raise DataFormatError(path, f"{AGGREGATOR} {row[AGGREGATOR]!r} for {row[MEASURE]!r}",
                              line=line, column=AGGREGATOR,
                              expected=repr(expected_aggregator) + " (blank for overall "
                              "numbers, the period for breakdowns)")
    unit = UNITS[row[UNIT]]
    raw = row[VALUE]
    words = (f"{row[REGION]}, {row[YEAR_QUARTER]}, {row[MEASURE]}"
             + (f", {row[DISAGGREGATOR]}" if row[DISAGGREGATOR] else ""))
    if raw in MARKERS:
        status, reason = MARKERS[raw]
        value = float("nan")
        log.record("flagged", reason, line=line, column=VALUE, original=raw, record=words)
    else:
        status = "published"
        value = parse_count(raw, file=path, line=line, column=VALUE,
                            markers=())
        if unit == "percent" and value > 100:
            raise DataFormatError(path, f"percent above 100: {raw!r}", line=line,
                                  column=VALUE, expected="a percent from 0 to 100")
    return {
        "location_id": location_id,
        "location_name": row[REGION],
        "location_level": level,
        "year": year,
        "quarter": quarter,
        "period_end_month": end_month,
        "partial_year": partial,
        "measure": measure,
        "category": categories[row[DISAGGREGATOR]],
        "unit": unit,
        "value": value,
        "status": status,
        "definition": DEFINITION,
        "source": source_id,
    }


def _location(row: dict[str, str], path: Path, line: int) -> tuple[str, str]:
    region = row[REGION]
    if region not in REGIONS:
        raise DataFormatError(path, f"unknown {REGION} {region!r}", line=line, column=REGION,
                              expected=f"Canada or a province/territory ({', '.join(REGIONS)})")
    location_id, level, pruid = REGIONS[region]
    if row[PRUID] != pruid:
        raise DataFormatError(path, f"PRUID {row[PRUID]!r} is not {region}'s", line=line,
                              column=PRUID, expected=f"PRUID {pruid} for {region}")
    return location_id, level


def _period(row: dict[str, str], path: Path, line: int) -> tuple[int, int | None, int, bool]:
    """(year, quarter or None, last month of the period, partial year?); the year within
    ``YEARS``."""
    year, quarter, end_month, partial = _read_period(row, path, line)
    check_year(year, row[YEAR_QUARTER], file=path, line=line, column=YEAR_QUARTER,
               years=YEARS)
    return year, quarter, end_month, partial


def _read_period(row: dict[str, str], path: Path,
                 line: int) -> tuple[int, int | None, int, bool]:
    text, kind = row[YEAR_QUARTER], TIME_PERIODS[row[TIME_PERIOD]]
    if kind == "year":
        if m := _YEAR.fullmatch(text):
            return int(m[1]), None, 12, False
        if m := _PARTIAL_YEAR.fullmatch(text):
            return int(m[1]), None, MONTHS[m[2]], True
        expected = "a year (2016) or a partial year (2025 (Jan to Sep))"
    else:
        if m := _QUARTER.fullmatch(text):
            return int(m[1]), int(m[2]), 3 * int(m[2]), False
        expected = "a quarter such as 2016 Q1"
    raise DataFormatError(path, f"not a period of {row[TIME_PERIOD]!r}: {text!r}", line=line,
                          column=YEAR_QUARTER, expected=expected)
