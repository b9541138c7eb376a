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
Confidence intervals, standard errors and "% of Total Deaths" are derivable and not kept
(one ``dropped`` entry per column).
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pandas as pd

from burden.data.cleaning import CleaningLog, DataFormatError, parse_count

REQUIRED = ["Notes", "County", "County Code", "Deaths", "Population", "Crude Rate",
            "Age Adjusted Rate"]
RATES = {"Crude Rate": "crude_rate_per_100k", "Age Adjusted Rate": "age_adj_rate_per_100k"}
SUPPRESSED, UNRELIABLE, MISSING = "Suppressed", "Unreliable", "Missing"
FOOTER_MARK = "---"
YEARS_PREFIX = "Year/Month:"
COLUMNS = ["location_id", "county", "state", "year_start", "year_end", "deaths", "population",
           "crude_rate_per_100k", "age_adj_rate_per_100k", "suppressed", "unreliable",
           "source"]
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_FIPS = re.compile(r"\d{5}")
_COUNTY = re.compile(r"(?P<county>.+), (?P<state>[A-Z]{2})")
_YEAR = re.compile(r"\b(?:19|20)\d\d\b")


def load(path: Path, log: CleaningLog, source_id: str) -> pd.DataFrame:
    """Read a CDC WONDER county export into ``us_county_deaths`` rows."""
    path = Path(path)
    reader = csv.reader(io.StringIO(_decode(path), newline=""), delimiter="\t")
    try:
        rows = [(reader.line_num, cells) for cells in reader]
    except csv.Error as exc:
        raise DataFormatError(path, f"unreadable tab-delimited text: {exc}",
                              line=reader.line_num, expected="tab-separated cells") from None
    if not rows:
        raise DataFormatError(path, "the file is empty", line=1,
                              expected=f"a header with {REQUIRED}")
    header_line, header = rows[0]
    header = [h.strip() for h in header]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise DataFormatError(path, f"missing or renamed column(s) {missing}; found {header}",
                              line=header_line, column=missing[0],
                              expected=f"columns {REQUIRED}")
    for column in [h for h in header if h and h not in REQUIRED]:
        log.record("dropped", "column not kept (derivable from deaths and population)",
                   line=header_line, column=column)
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
    at = {name: header.index(name) for name in REQUIRED}
    records, total, seen = [], None, {}
    for line, cells in rows:
        if not any(c.strip() for c in cells):
            log.record("dropped", "blank line", line=line)
            continue
        if len(cells) != len(header):
            column = header[len(cells)] if len(cells) < len(header) else None
            raise DataFormatError(path, f"{len(cells)} cells for {len(header)} columns: the "
                                  "row is cut short (truncated file?) or has extra cells",
                                  line=line, column=column,
                                  expected=f"{len(header)} tab-separated cells")
        row = {name: cells[i].strip() for name, i in at.items()}
        if not row["County"]:
            if row["Notes"] == "Total":
                total = (line, _number(row["Deaths"], path, line, "Deaths"))
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
        if record["location_id"] in seen:
            raise DataFormatError(path, f"county code {row['County Code']} on lines "
                                  f"{seen[record['location_id']]} and {line}", line=line,
                                  column="County Code", expected="one row per county")
        seen[record["location_id"]] = line
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
        "deaths": _number(row["Deaths"], path, line, "Deaths", allow={SUPPRESSED, MISSING}),
        "population": _number(row["Population"], path, line, "Population",
                              allow={SUPPRESSED, MISSING}),
        "suppressed": suppressed,
        "unreliable": bool(unreliable),
        "source": source_id,
    }
    for column, name in RATES.items():
        record[name] = _number(row[column], path, line, column,
                               allow={SUPPRESSED, UNRELIABLE, MISSING})
    return record


def _number(text: str, path: Path, line: int, column: str, allow: frozenset | set = frozenset()
            ) -> float:
    """A number, or NaN for an allowed WONDER marker ("Suppressed", ...)."""
    if text in allow:
        return float("nan")
    try:
        return parse_count(text, file=path, line=line, column=column)
    except DataFormatError as exc:
        markers = f" or one of {sorted(allow)}" if allow else ""
        raise DataFormatError(path, exc.problem, line=line, column=column,
                              expected=f"a non-negative number{markers}") from None


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


def _decode(path: Path) -> str:
    """UTF-8 (ASCII as exported) text; a clear error for UTF-16 or other encodings."""
    data = path.read_bytes()
    if data[:2] in _UTF16_BOMS or b"\x00" in data:
        at = 0 if data[:2] in _UTF16_BOMS else data.find(b"\x00")
        raise DataFormatError(path, "NUL bytes or a UTF-16 byte-order mark: not UTF-8 text",
                              line=data.count(b"\n", 0, at) + 1, column=_column_at(data, at),
                              expected="UTF-8 tab-delimited text, as WONDER exports it")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataFormatError(path, f"byte {data[exc.start:exc.start + 1]!r} is not valid "
                              "UTF-8", line=data.count(b"\n", 0, exc.start) + 1,
                              column=_column_at(data, exc.start),
                              expected="UTF-8 tab-delimited text, as WONDER exports it"
                              ) from None


def _column_at(data: bytes, offset: int) -> str:
    """Header name of the column holding byte ``offset`` (best effort)."""
    first = data.split(b"\n", 1)[0]
    first = first[2:] if first[:2] in _UTF16_BOMS else first
    header = first.decode("latin-1").replace("\x00", "").split("\t")
    start = data.rfind(b"\n", 0, offset) + 1
    index = data[start:offset].count(b"\t")
    name = header[index].strip().strip('"') if index < len(header) else ""
    return name or f"#{index + 1}"
