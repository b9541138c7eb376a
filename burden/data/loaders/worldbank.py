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

NAME, CODE, YEAR, VALUE = "Country Name", "Country Code", "Year", "Value"
REQUIRED = [NAME, CODE, YEAR, VALUE]
COLUMNS = ["location_id", "year", "population", "source"]
YEARS = year_range("population")  # a year outside is an error naming its line


def load(path: Path, log: CleaningLog, source_id: str) -> pd.DataFrame:
    """Read the World Bank population CSV into ``population`` rows (countries only)."""
    path = Path(path)
    rows = csv_rows(decode(path, expected="UTF-8 CSV"), path)
    header_line, header = split_header(rows, path, REQUIRED)
    require_columns(header, REQUIRED, file=path, line=header_line, only=True)
    records = []
    seen = FirstLines(path, column=CODE, expected="one row per Country Code and Year")
    for line, row in data_rows(rows[1:], header, path, log=log):
        code = row[CODE]
        year = parse_year(row[YEAR], file=path, line=line, column=YEAR, years=YEARS)
        population = parse_count(row[VALUE], file=path, line=line, column=VALUE, positive=True)
        seen.add((code, year), line, f"row ({code}, {year})")
        if not locations.is_country_code(code, gbd_only=False):
            log.record("dropped", "not a country: a World Bank aggregate (world, region, "
                       "income or lending group) or a code outside ISO 3166-1",
                       line=line, column=CODE, original=code, record=f"{row[NAME]}, {year}")
            continue
        records.append((code, year, population, source_id))
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
