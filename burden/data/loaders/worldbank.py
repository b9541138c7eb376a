"""World Bank population (SP.POP.TOTL, datasets/population layout) -> ``population``.

Columns ``Country Name, Country Code, Year, Value``: one row per economy or aggregate and
year. Kept: rows whose code is a country (a GBD 2017 country, or any current ISO3 code that
``country_converter`` knows, e.g. Hong Kong, Monaco, Kosovo ``XKX``). Dropped and logged:
aggregates (``WLD``, income groups ``HIC``..., regions ``EAS``..., lending groups) and codes
outside ISO 3166 (``CHI`` Channel Islands).

The World Bank does not publish Taiwan, a GBD 2017 location: ``missing_population`` lists
such gaps so that callers decide what to do; it is not a loading error.
"""

from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path

import pandas as pd

from burden.data.cleaning import CleaningLog, DataFormatError
from burden.registry import locations

NAME, CODE, YEAR, VALUE = "Country Name", "Country Code", "Year", "Value"
REQUIRED = [NAME, CODE, YEAR, VALUE]
COLUMNS = ["location_id", "year", "population", "source"]


def load(path: Path, log: CleaningLog, source_id: str) -> pd.DataFrame:
    """Read the World Bank population CSV into ``population`` rows (countries only)."""
    path = Path(path)
    reader = csv.reader(io.StringIO(_decode(path), newline=""))
    header = [h.strip() for h in next(reader, [])]
    if header != REQUIRED:
        missing = [c for c in REQUIRED if c not in header]
        raise DataFormatError(path, f"header is {header}", line=1,
                              column=missing[0] if missing else None,
                              expected=f"exactly the columns {REQUIRED}")
    records, first_line = [], {}
    try:
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
            name, code, year_text, value_text = (c.strip() for c in cells)
            year = _year(year_text, path, line)
            population = _population(value_text, path, line)
            if (code, year) in first_line:
                raise DataFormatError(path, f"duplicated row ({code}, {year}): lines "
                                      f"{first_line[code, year]} and {line}", line=line,
                                      column=CODE, expected="one row per Country Code and Year")
            first_line[code, year] = line
            if not locations.is_country_code(code, gbd_only=False):
                log.record("dropped", "not a country: a World Bank aggregate (world, region, "
                           "income or lending group) or a code outside ISO 3166-1",
                           line=line, column=CODE, original=code, record=f"{name}, {year}")
                continue
            records.append((code, year, population, source_id))
    except csv.Error as exc:
        raise DataFormatError(path, f"unreadable CSV: {exc}", line=reader.line_num,
                              expected="comma-separated cells") from None
    if not records:
        raise DataFormatError(path, "no country rows below the header", line=2,
                              expected="one row per country and year")
    return pd.DataFrame.from_records(records, columns=COLUMNS)


def missing_population(pop: pd.DataFrame, hierarchy: pd.DataFrame,
                       years: range | list[int] | None = None) -> pd.DataFrame:
    """Countries of ``hierarchy`` (``locations.hierarchy()``) without population in ``years``.

    ``years`` defaults to every year present in ``pop``. Returns one row per country with a
    gap: ``iso3``, ``name``, ``n_missing``, ``missing_years`` (tuple), sorted by iso3; empty
    when every country has every year. Taiwan is the known case for the World Bank.
    """
    wanted = sorted(set(pop["year"]) if years is None else set(years))
    have = pop.groupby("location_id")["year"].apply(set).to_dict()
    rows = []
    for iso3, name in zip(hierarchy["iso3"], hierarchy["name"], strict=True):
        missing = tuple(y for y in wanted if y not in have.get(iso3, set()))
        if missing:
            rows.append({"iso3": iso3, "name": name, "n_missing": len(missing),
                         "missing_years": missing})
    return pd.DataFrame(rows, columns=["iso3", "name", "n_missing", "missing_years"])


def _year(text: str, path: Path, line: int) -> int:
    if not re.fullmatch(r"\d{4}", text):
        raise DataFormatError(path, f"not a year: {text!r}", line=line, column=YEAR,
                              expected="a four-digit year")
    return int(text)


def _population(text: str, path: Path, line: int) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DataFormatError(path, f"not a number: {text!r}", line=line, column=VALUE,
                              expected="a positive head count") from None
    if not math.isfinite(value) or value <= 0:
        raise DataFormatError(path, f"population {text!r} is not positive", line=line,
                              column=VALUE, expected="a positive head count")
    return value


def _decode(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataFormatError(path, f"byte {data[exc.start:exc.start + 1]!r} is not valid "
                              "UTF-8", line=data.count(b"\n", 0, exc.start) + 1,
                              expected="UTF-8 CSV") from None
