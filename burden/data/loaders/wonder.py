"""CDC WONDER Multiple Cause of Death export, grouped by county -> ``us_county_deaths``.

The export is tab-delimited with quoted text fields:

- a "Notes" column, empty on data rows; a "Total" row (national total; dropped and logged,
  and used to check that the county deaths we keep do not add up to more than it); rows
  with other notes and no county are not data (dropped and logged); a data row with a note
  is kept and the note logged as ``flagged``;
- "Suppressed" cells (counts below 10, hidden for confidentiality: footnote 9 of the
  export and WONDER's "Assurance of Confidentiality" help): deaths and rates NaN,
  ``suppressed=True``, logged ``flagged``; "Unreliable" rates ("calculated with a numerator
  of 20 or less", footnote 10 of the export): rate NaN,
  ``unreliable=True``, deaths kept, logged ``flagged``; "Missing" (areas with no data for
  the requested years, see the export's caveats): NaN, logged ``flagged``;
- after the table, a line ``"---"`` starts the footer with the query (cause codes, years)
  and caveats. Reading stops there; the years pooled in the query come from its
  ``Year/Month: 2006; 2007; ...`` line (``year_start``, ``year_end``).

Counties: "Autauga County, AL" -> county "Autauga County", state "AL"; the 5-digit FIPS
"County Code" is read as text (leading zeros kept) into ``location_id`` "US-FIPS:01001".
The other 7 columns are not kept, one ``dropped`` entry per column with its own reason
(``DROPPED_COLUMNS``): the crude rate's standard error and 95% limits and "% of Total
Deaths" can be computed again from the deaths, the population and the Total row; the
age-adjusted rate's standard error and 95% limits cannot (they need the county's deaths and
population by age, which a county-only export does not hold), so they are lost.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from burden.data.cleaning import (
    CleaningLog,
    DataFormatError,
    FirstLines,
    parse_count,
    require_columns,
)
from burden.data.textfile import csv_rows, data_rows, decode, split_header

REQUIRED = ["Notes", "County", "County Code", "Deaths", "Population", "Crude Rate",
            "Age Adjusted Rate"]
RATES = {"Crude Rate": "crude_rate_per_100k", "Age Adjusted Rate": "age_adj_rate_per_100k"}
_CRUDE_CI = ("derivable from deaths and population: WONDER's limits are exact (gamma) limits "
             "below 100 deaths, crude rate +/- 1.96 standard errors from 100 on (export "
             "footnote 14)")
_AGE_ADJUSTED = ("not derivable from this export: it needs the county's deaths and population "
                 "by age group (export footnotes 12, 14 and 15), which a county-only export "
                 "does not hold; the table keeps no uncertainty of rates")
#: Columns of the export not kept -> the reason logged. The crude-rate formulas are WONDER's
#: (export footnotes 14, 15: wonder.cdc.gov/wonder/help/mcd.html#Confidence-Intervals and
#: #Standard-Errors) and were checked against the pinned 2006-2012 export: they give the
#: printed value, to its 0.1 rounding, for all 1,557 counties with a death count
#: (tests/test_loaders_us.py::test_real_wonder_dropped_columns_derivable_as_logged).
DROPPED_COLUMNS = {
    "Crude Rate Lower 95% Confidence Interval": _CRUDE_CI,
    "Crude Rate Upper 95% Confidence Interval": _CRUDE_CI,
    "Crude Rate Standard Error": "derivable from deaths and population: crude rate / "
                                 "sqrt(deaths) = 100,000 x sqrt(deaths) / population "
                                 "(export footnote 15)",
    "Age Adjusted Rate Lower 95% Confidence Interval": _AGE_ADJUSTED,
    "Age Adjusted Rate Upper 95% Confidence Interval": _AGE_ADJUSTED,
    "Age Adjusted Rate Standard Error": _AGE_ADJUSTED,
    "% of Total Deaths": "derivable: 100 x deaths / the Total row's deaths",
}
SUPPRESSED, UNRELIABLE, MISSING = "Suppressed", "Unreliable", "Missing"
FOOTER_MARK = "---"
YEARS_PREFIX = "Year/Month:"
COLUMNS = ["location_id", "county", "state", "year_start", "year_end", "deaths", "population",
           "crude_rate_per_100k", "age_adj_rate_per_100k", "suppressed", "unreliable",
           "source"]
_FIPS = re.compile(r"\d{5}")
_COUNTY = re.compile(r"(?P<county>.+), (?P<state>[A-Z]{2})")
_YEAR = re.compile(r"\b(?:19|20)\d\d\b")


def load(path: Path, log: CleaningLog, source_id: str) -> pd.DataFrame:
    """Read a CDC WONDER county export into ``us_county_deaths`` rows."""
    path = Path(path)
    text = decode(path, delimiter="\t",
                  expected="UTF-8 tab-delimited text, as WONDER exports it")
    rows = csv_rows(text, path, delimiter="\t")
    header_line, header = split_header(rows, path, REQUIRED)
    require_columns(header, REQUIRED, file=path, line=header_line)
    for column in [h for h in header if h and h not in REQUIRED]:
        reason = DROPPED_COLUMNS.get(column, "a column this loader does not know (not in "
                                     "wonder.DROPPED_COLUMNS): not read")
        log.record("dropped", f"column not kept: {reason}", line=header_line, column=column)
    footer_at = next((i for i, (_, cells) in enumerate(rows)
                      if [c.strip() for c in cells] == [FOOTER_MARK]), None)
    records, total = _table(rows[1:footer_at], header, path, log, source_id)
    if footer_at is None:
        raise DataFormatError(path, f'no "{FOOTER_MARK}" line ending the table: the file '
                              "looks truncated", line=rows[-1][0], column="Notes",
                              expected="the query footer WONDER writes after the table")
    if not records:
        raise DataFormatError(path, "no county rows in the table", line=header_line + 1,
                              column="County", expected="one row per county")
    frame = pd.DataFrame.from_records(records, columns=COLUMNS)
    frame["year_start"], frame["year_end"] = _query_years(rows[footer_at:], path)
    if total is not None:
        _check_total(frame, total, path)
    return frame.astype({"year_start": int, "year_end": int, "deaths": float,
                         "population": float, "crude_rate_per_100k": float,
                         "age_adj_rate_per_100k": float, "suppressed": bool,
                         "unreliable": bool})


def _table(rows: list[tuple[int, list[str]]], header: list[str], path: Path,
           log: CleaningLog, source_id: str) -> tuple[list[dict], tuple[int, float] | None]:
    """County records of the table rows, and (line, deaths) of the Total row if any."""
    records, total = [], None
    seen = FirstLines(path, column="County Code", expected="one row per county")
    for line, row in data_rows(rows, header, path, log=log, delimiter="\t"):
        if not row["County"]:
            if row["Notes"] == "Total":
                total = (line, parse_count(row["Deaths"], file=path, line=line, column="Deaths"))
                log.record("dropped", "national Total row, not a county (checked against "
                           "the sum of county deaths)", line=line, column="Notes",
                           original=row["Deaths"], record="Total")
            elif row["Notes"]:
                log.record("dropped", "note row, not a county", line=line, column="Notes",
                           original=row["Notes"])
            else:
                raise DataFormatError(path, "row without a county or a note", line=line,
                                      column="County", expected='"County name, ST"')
            continue
        record = _county_record(row, path, line, log, source_id)
        seen.add(record["location_id"], line, f"county code {row['County Code']}")
        records.append(record)
    return records, total


def _county_record(row: dict[str, str], path: Path, line: int, log: CleaningLog,
                   source_id: str) -> dict:
    match = _COUNTY.fullmatch(row["County"])
    if not match:
        raise DataFormatError(path, f"county {row['County']!r} has no state code", line=line,
                              column="County", expected='"County name, ST" (postal code)')
    if not _FIPS.fullmatch(row["County Code"]):
        raise DataFormatError(path, f"county code {row['County Code']!r}", line=line,
                              column="County Code", expected="a 5-digit FIPS code")
    words = row["County"]
    if row["Notes"]:
        log.record("flagged", f"note on a county row: {row['Notes']}", line=line,
                   column="Notes", original=row["Notes"], record=words)
    suppressed = row["Deaths"] == SUPPRESSED
    if suppressed:
        log.record("flagged", "deaths Suppressed (confidentiality, count below 10): deaths "
                   "and rates missing",
                   line=line, column="Deaths", original=SUPPRESSED, record=words)
    missing = [c for c in REQUIRED[3:] if row[c] == MISSING]
    if missing:
        log.record("flagged", "Missing: no data for this area for the requested years",
                   line=line, column=", ".join(missing), original=MISSING, record=words)
    unreliable = [c for c in RATES if row[c] == UNRELIABLE]
    if unreliable:
        log.record("flagged", "rate Unreliable (20 deaths or fewer): rate missing, deaths "
                   "kept", line=line, column=", ".join(unreliable), original=UNRELIABLE,
                   record=words)
    record = {
        "location_id": f"US-FIPS:{row['County Code']}",
        "county": match["county"],
        "state": match["state"],
        "deaths": parse_count(row["Deaths"], file=path, line=line, column="Deaths",
                              markers={SUPPRESSED, MISSING}),
        "population": parse_count(row["Population"], file=path, line=line, column="Population",
                                  markers={SUPPRESSED, MISSING}),
        "suppressed": suppressed,
        "unreliable": bool(unreliable),
        "source": source_id,
    }
    for column, name in RATES.items():
        record[name] = parse_count(row[column], file=path, line=line, column=column,
                                   markers={SUPPRESSED, UNRELIABLE, MISSING})
    return record



def _query_years(footer: list[tuple[int, list[str]]], path: Path) -> tuple[int, int]:
    """(first, last) year of the query's "Year/Month:" footer line; the years must run on."""
    texts = [(line, " ".join(c.strip() for c in cells)) for line, cells in footer]
    for i, (line, text) in enumerate(texts):
        if text.startswith(YEARS_PREFIX):
            years_text = text[len(YEARS_PREFIX):]
            # WONDER wraps long lists onto lines holding only years and semicolons
            for _, more in texts[i + 1:]:
                if not re.fullmatch(r"[\d;\s]+", more):
                    break
                years_text += " " + more
            years = sorted({int(y) for y in _YEAR.findall(years_text)})
            if not years:
                raise DataFormatError(path, f"no years in {text!r}", line=line, column="Notes",
                                      expected=f'"{YEARS_PREFIX} 2006; 2007; ..."')
            if years != list(range(years[0], years[-1] + 1)):
                raise DataFormatError(path, f"query years {years} are not consecutive",
                                      line=line, column="Notes",
                                      expected="one unbroken run of years")
            return years[0], years[-1]
    raise DataFormatError(path, f'no "{YEARS_PREFIX}" line in the query footer',
                          line=footer[0][0], column="Notes",
                          expected=f'a footer line "{YEARS_PREFIX} 2006; 2007; ..."')


def _check_total(frame: pd.DataFrame, total: tuple[int, float], path: Path) -> None:
    line, total_deaths = total
    kept = frame["deaths"].sum(skipna=True)
    if kept > total_deaths:
        raise DataFormatError(path, f"county deaths add up to {kept:,.0f}, more than the "
                              f"Total row's {total_deaths:,.0f}", line=line, column="Deaths",
                              expected="county deaths summing to at most the Total")
