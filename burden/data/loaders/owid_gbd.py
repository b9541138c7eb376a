"""IHME GBD 2017 and GBD 2019 exports from Our World in Data -> ``gbd_deaths``.

Every OWID chart export of either round has one layout: ``Entity, Code, Year`` and one
column per cause, named by IHME's label, e.g. ``Deaths - Opioid use disorders - Sex: Both -
Age: All Ages (Number)``. Columns are found by that label, never by position (the GBD 2019
deaths export orders its causes differently from the GBD 2017 one). ``EXPORTS`` says, per
source, which round it is and which cause columns it must have; each row of the table
carries its ``gbd_round`` and ``definition`` (``gbd_use_disorder``).

Entities:

- a row with an ISO3 ``Code`` is a country (``location_id`` = ISO3, level ``country``); the
  code must be a country of the export's GBD round (195 in 2017, 204 in 2019; see
  ``registry.locations``) and the ``Entity`` name must agree with it (coco);
- ``OWID_WRL`` is the world (``WLD``);
- GBD 2017: rows without a code that name a GBD region or super-region get its
  ``GBD_R:``/``GBD_SR:`` id; "South Asia" and "North Africa and Middle East" are each a
  super-region and its only region, so one row yields both ids (logged once as
  ``flagged``); other rows without a code (SDI groups, England, Scotland, Wales, Northern
  Ireland) are dropped and logged: they are not in the registry; the reason names the
  kind of aggregate, as for GBD 2019 (``aggregate_kind``);
- GBD 2019: the exports hold no GBD regions; every row without a code (WHO regions, World
  Bank regions and income groups, G20, OECD, the UK nations) is dropped and logged, one
  entry per row, with the kind of aggregate as the reason (``aggregate_kind``).
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
from burden.registry import locations
from burden.registry.estimands import DEFINITIONS

ENTITY, CODE, YEAR = "Entity", "Code", "Year"
WORLD_CODE = "OWID_WRL"
YEARS = year_range("gbd_deaths")  # a year outside is an error naming its line
COLUMNS = ["location_id", "location_name", "location_level", "year", "cause", "measure",
           "value", "gbd_round", "definition", "source"]
#: ``registry.estimands`` id of every row: IHME's modelled use-disorder deaths.
DEFINITION = "gbd_use_disorder"
assert DEFINITION in DEFINITIONS

#: IHME cause labels as printed in the headers -> ``registry.causes`` id.
CAUSE_LABELS = {
    "Opioid use disorders": "opioid_use_disorders",
    "Cocaine use disorders": "cocaine_use_disorders",
    "Other drug use disorders": "other_drug_use_disorders",
    "Amphetamine use disorders": "amphetamine_use_disorders",
    "Drug use disorders": "drug_use_disorders",  # GBD 2019 files: all drug use disorders
    "Alcohol use disorders": "alcohol_use_disorders",
}

#: GBD 2019 exports: uncoded rows that are not GBD locations, by name -> kind (log reason).
UK_NATIONS = ("England", "Scotland", "Wales", "Northern Ireland")
COUNTRY_GROUPS = ("G20", "OECD Countries")


@dataclass(frozen=True)
class Export:
    """What one OWID export holds: its measure and the cause columns it must have."""

    measure: str
    age: str  # as in the header: "All Ages" | "Age-standardized"
    unit: str  # as in the header: "Number" | "Rate"
    causes: tuple[str, ...]  # IHME labels
    gbd_round: int = 2017

    def header(self, cause_label: str) -> str:
        return f"Deaths - {cause_label} - Sex: Both - Age: {self.age} ({self.unit})"


_GBD2017_CAUSES = ("Opioid use disorders", "Cocaine use disorders", "Other drug use disorders",
                   "Amphetamine use disorders")
EXPORTS = {
    "owid_gbd_deaths": Export("deaths", "All Ages", "Number", _GBD2017_CAUSES),
    "owid_gbd_opioid_rate": Export("rate_age_std_per_100k", "Age-standardized", "Rate",
                                   ("Opioid use disorders",)),
    "owid_gbd2019_deaths": Export("deaths", "All Ages", "Number", (
        "Cocaine use disorders", "Drug use disorders", "Opioid use disorders",
        "Alcohol use disorders", "Other drug use disorders", "Amphetamine use disorders"),
        gbd_round=2019),
    "owid_gbd2019_opioid_rate": Export("rate_age_std_per_100k", "Age-standardized", "Rate",
                                       ("Opioid use disorders",), gbd_round=2019),
    "owid_gbd2019_drug_rate": Export("rate_age_std_per_100k", "Age-standardized", "Rate",
                                     ("Drug use disorders",), gbd_round=2019),
}


def load(path: Path, log: CleaningLog, source_id: str) -> pd.DataFrame:
    """Read an OWID GBD export into long ``gbd_deaths`` rows (one per location-year-cause)."""
    path = Path(path)
    if source_id not in EXPORTS:
        raise ValueError(f"owid_gbd loader: unknown source {source_id!r}; known: "
                         f"{list(EXPORTS)}")
    export = EXPORTS[source_id]
    rows = csv_rows(decode(path, expected="UTF-8 CSV, as OWID exports it"), path)
    expected = [ENTITY, CODE, YEAR] + [export.header(c) for c in export.causes]
    header_line, header = split_header(rows, path, expected)
    require_columns(header, expected, file=path, line=header_line, only=True)
    cause_columns = {export.header(label): CAUSE_LABELS[label] for label in export.causes}
    records, both_logged = [], set()
    entity_lines: dict[str, dict[int, int]] = {}  # entity -> {year: line}
    entity_years = FirstLines(path, column=YEAR, expected="one row per Entity and Year")
    location_years = FirstLines(path, column=ENTITY, expected="one row per location and year")
    codes, last_line = set(), header_line
    for line, row in data_rows(rows[1:], header, path, log=log):
        entity = row[ENTITY]
        codes.add(row[CODE])
        last_line = line
        year = parse_year(row[YEAR], file=path, line=line, column=YEAR, years=YEARS)
        entity_years.add((entity, year), line, f"row ({entity!r}, {year})")
        entity_lines.setdefault(entity, {})[year] = line
        places = _places(row, path, line, export.gbd_round)
        if not places:
            log.record("dropped", _drop_reason(entity, export.gbd_round),
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
                                export.measure, value, export.gbd_round, DEFINITION,
                                source_id))
    if not records:
        raise DataFormatError(path, "no data rows below the header", line=2,
                              expected="one row per entity and year")
    _check_years(entity_lines, path)
    if WORLD_CODE not in codes:
        # every OWID export has the World; a file without it was cut at an entity
        # boundary (OWID sorts entities by name: "World" comes near the end) or edited
        raise DataFormatError(path, f"no {WORLD_CODE} (World) rows: file cut short at an "
                              "entity boundary, or edited?", line=last_line, column=CODE,
                              expected=f"the World's rows, code {WORLD_CODE}")
    return pd.DataFrame.from_records(records, columns=COLUMNS)


def _check_years(entity_lines: dict[str, dict[int, int]], path: Path) -> None:
    """Every entity has the same years (OWID exports are complete panels); an entity that
    lacks some was cut short (a file truncated between rows) or edited."""
    every = set().union(*(set(years) for years in entity_lines.values()))
    for entity, years in entity_lines.items():
        lacking = sorted(every - set(years))
        if lacking:
            end = max(years.values())
            raise DataFormatError(path, f"{entity!r} lacks year(s) {lacking} that other "
                                  f"entities have; its rows end at line {end} (file cut "
                                  "short between rows?)", line=end, column=YEAR,
                                  expected="the same years for every entity")


def aggregate_kind(entity: str) -> str:
    """What an uncoded row that is not a registry location is, in words (the cleaning-log
    reason's start), in either round's exports."""
    if entity.endswith(" SDI"):  # GBD 2017 exports: "High SDI" ... "Low SDI"
        return "SDI group (socio-demographic index quintile)"
    if entity.endswith("(WHO)"):
        return "WHO region"
    if entity.endswith("(WB)") or entity.startswith("World Bank "):
        return "World Bank region or income group"
    if entity in COUNTRY_GROUPS:
        return "country group (G20, OECD)"
    if entity in UK_NATIONS:
        return "UK nation (part of GBR, which has its own row)"
    return "aggregate without ISO3 code"


def _drop_reason(entity: str, gbd_round: int) -> str:
    if gbd_round == 2017:
        return (f"{aggregate_kind(entity)}: no ISO3 code and not a GBD 2017 region or "
                "super-region in the registry")
    return (f"{aggregate_kind(entity)}: no ISO3 code, not a GBD location (GBD {gbd_round} "
            "exports carry no GBD regions)")


def _places(row: dict[str, str], path: Path, line: int,
            gbd_round: int) -> list[locations.Location]:
    entity, code = row[ENTITY], row[CODE]
    if code == WORLD_CODE:
        return [locations.get(locations.WORLD_ID)]
    if code:
        if not locations.is_country_code(code, gbd_round=gbd_round):
            raise DataFormatError(path, f"unknown country code {code!r} ({entity!r})",
                                  line=line, column=CODE,
                                  expected=f"a GBD {gbd_round} country ISO3 code or "
                                  f"{WORLD_CODE}")
        named = locations.to_iso3(entity, file=path, line=line, column=ENTITY,
                                  gbd_only=False)
        if named != code:
            raise DataFormatError(path, f"Entity {entity!r} is {named}, but Code is {code!r}",
                                  line=line, column=CODE,
                                  expected="the ISO3 code of the Entity")
        return [locations.get(code)]
    if gbd_round != 2017:  # the registry's regions are GBD 2017's; 2019 exports have none
        return []
    return [locations.get(i) for i in locations.aggregate_ids(entity)]
