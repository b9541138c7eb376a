"""IHME GBD 2017 exports from Our World in Data -> ``gbd_deaths``.

Two OWID chart exports share one layout: ``Entity, Code, Year`` and one column per cause,
named by IHME's label, e.g. ``Deaths - Opioid use disorders - Sex: Both - Age: All Ages
(Number)``. Columns are found by that label, never by position.

Entities:

- a row with an ISO3 ``Code`` is a country (``location_id`` = ISO3, level ``country``); the
  code must be a GBD 2017 country and the ``Entity`` name must agree with it (coco);
- ``OWID_WRL`` is the world (``WLD``);
- rows without a code that name a GBD region or super-region get its ``GBD_R:``/``GBD_SR:``
  id; "South Asia" and "North Africa and Middle East" are each a super-region and its only
  region, so one row yields both ids (logged once as ``flagged``);
- other rows without a code (SDI groups, England, Scotland, Wales, Northern Ireland) are
  dropped and logged: they are not in the registry.
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
from burden.data.textfile import csv_rows, data_rows, decode, split_header
from burden.registry import locations

ENTITY, CODE, YEAR = "Entity", "Code", "Year"
WORLD_CODE = "OWID_WRL"
COLUMNS = ["location_id", "location_name", "location_level", "year", "cause", "measure",
           "value", "source"]

#: IHME cause labels as printed in the headers -> ``registry.causes`` id.
CAUSE_LABELS = {
    "Opioid use disorders": "opioid_use_disorders",
    "Cocaine use disorders": "cocaine_use_disorders",
    "Other drug use disorders": "other_drug_use_disorders",
    "Amphetamine use disorders": "amphetamine_use_disorders",
}


@dataclass(frozen=True)
class Export:
    """What one OWID export holds: its measure and the cause columns it must have."""

    measure: str
    age: str  # as in the header: "All Ages" | "Age-standardized"
    unit: str  # as in the header: "Number" | "Rate"
    causes: tuple[str, ...]  # IHME labels

    def header(self, cause_label: str) -> str:
        return f"Deaths - {cause_label} - Sex: Both - Age: {self.age} ({self.unit})"


EXPORTS = {
    "owid_gbd_deaths": Export("deaths", "All Ages", "Number", tuple(CAUSE_LABELS)),
    "owid_gbd_opioid_rate": Export("rate_age_std_per_100k", "Age-standardized", "Rate",
                                   ("Opioid use disorders",)),
}


def load(path: Path, log: CleaningLog, source_id: str) -> pd.DataFrame:
    """Read an OWID GBD export into long ``gbd_deaths`` rows (one per location-year-cause)."""
    path = Path(path)
    export = EXPORTS[source_id]
    rows = csv_rows(decode(path, expected="UTF-8 CSV, as OWID exports it"), path)
    expected = [ENTITY, CODE, YEAR] + [export.header(c) for c in export.causes]
    header_line, header = split_header(rows, path, expected)
    require_columns(header, expected, file=path, line=header_line, only=True)
    cause_columns = {export.header(label): CAUSE_LABELS[label] for label in export.causes}
    records, both_logged = [], set()
    entity_years = FirstLines(path, column=YEAR, expected="one row per Entity and Year")
    location_years = FirstLines(path, column=ENTITY, expected="one row per location and year")
    for line, row in data_rows(rows[1:], header, path, log=log):
        entity = row[ENTITY]
        year = parse_year(row[YEAR], file=path, line=line, column=YEAR)
        entity_years.add((entity, year), line, f"row ({entity!r}, {year})")
        places = _places(row, path, line)
        if not places:
            log.record("dropped", "no ISO3 code and not a GBD 2017 region or "
                       "super-region in the registry (SDI group or UK nation)",
                       line=line, column=ENTITY, original=entity,
                       record=f"{entity}, {year}")
            continue
        if len(places) > 1 and entity not in both_logged:
            both_logged.add(entity)
            log.record("flagged", f"one row is both {' and '.join(p.id for p in places)} "
                       "(same locations): rows kept under both ids, every year",
                       line=line, column=ENTITY, original=entity, record=entity)
        for place in places:  # e.g. a region under two spellings
            location_years.add((place.id, year), line, f"{place.id} ({entity!r}), {year}")
        for column, cause in cause_columns.items():
            value = parse_count(row[column], file=path, line=line, column=column)
            for place in places:
                records.append((place.id, place.name, place.level, year, cause,
                                export.measure, value, source_id))
    if not records:
        raise DataFormatError(path, "no data rows below the header", line=2,
                              expected="one row per entity and year")
    return pd.DataFrame.from_records(records, columns=COLUMNS)


def _places(row: dict[str, str], path: Path, line: int) -> list[locations.Location]:
    entity, code = row[ENTITY], row[CODE]
    if code == WORLD_CODE:
        return [locations.get(locations.WORLD_ID)]
    if code:
        if not locations.is_country_code(code):
            raise DataFormatError(path, f"unknown country code {code!r} ({entity!r})",
                                  line=line, column=CODE,
                                  expected=f"a GBD 2017 country ISO3 code or {WORLD_CODE}")
        named = locations.to_iso3(entity, file=path, line=line, column=ENTITY,
                                  gbd_only=False)
        if named != code:
            raise DataFormatError(path, f"Entity {entity!r} is {named}, but Code is {code!r}",
                                  line=line, column=CODE,
                                  expected="the ISO3 code of the Entity")
        return [locations.get(code)]
    return [locations.get(i) for i in locations.aggregate_ids(entity)]
