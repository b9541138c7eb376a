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

import csv
import io
import math
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from burden.data.cleaning import CleaningLog, DataFormatError
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
    text = _decode(path)
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip() for h in next(reader, [])]
    cause_columns = _cause_columns(header, export, path)
    records, first_line, location_line, both_logged = [], {}, {}, set()
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
            row = dict(zip(header, (c.strip() for c in cells), strict=True))
            entity, year = row[ENTITY], _year(row[YEAR], path, line)
            key = (entity, year)
            if key in first_line:
                raise DataFormatError(path, f"duplicated row ({entity!r}, {year}): lines "
                                      f"{first_line[key]} and {line}", line=line, column=YEAR,
                                      expected="one row per Entity and Year")
            first_line[key] = line
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
                if (place.id, year) in location_line:
                    raise DataFormatError(path, f"{entity!r} is {place.id}, already read on "
                                          f"line {location_line[place.id, year]}", line=line,
                                          column=ENTITY, expected="one row per location "
                                          "and year")
                location_line[place.id, year] = line
            for column, cause in cause_columns.items():
                value = _value(row[column], path, line, column)
                for place in places:
                    records.append((place.id, place.name, place.level, year, cause,
                                    export.measure, value, source_id))
    except csv.Error as exc:
        raise DataFormatError(path, f"unreadable CSV: {exc}", line=reader.line_num,
                              expected="comma-separated cells") from None
    if not records:
        raise DataFormatError(path, "no data rows below the header", line=2,
                              expected="one row per entity and year")
    return pd.DataFrame.from_records(records, columns=COLUMNS)


def _cause_columns(header: list[str], export: Export, path: Path) -> dict[str, str]:
    """Header name -> cause id; fail naming each expected column that is missing."""
    if not header:
        raise DataFormatError(path, "the file is empty", line=1,
                              expected=f"a header with {ENTITY}, {CODE}, {YEAR}")
    expected = [ENTITY, CODE, YEAR] + [export.header(c) for c in export.causes]
    missing = [name for name in expected if name not in header]
    if missing:
        raise DataFormatError(path, f"missing or renamed column(s) {missing}; found {header}",
                              line=1, column=missing[0], expected=f"columns {expected}")
    extra = [name for name in header if name not in expected]
    if extra:
        raise DataFormatError(path, f"unexpected column(s) {extra}", line=1, column=extra[0],
                              expected=f"only the columns {expected}")
    if len(set(header)) != len(header):
        raise DataFormatError(path, f"repeated column names in {header}", line=1,
                              expected="each column once")
    return {export.header(label): CAUSE_LABELS[label] for label in export.causes}


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


def _year(text: str, path: Path, line: int) -> int:
    if not re.fullmatch(r"\d{4}", text):
        raise DataFormatError(path, f"not a year: {text!r}", line=line, column=YEAR,
                              expected="a four-digit year")
    return int(text)


def _value(text: str, path: Path, line: int, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DataFormatError(path, f"not a number: {text!r}", line=line, column=column,
                              expected="a non-negative number") from None
    if not math.isfinite(value) or value < 0:
        raise DataFormatError(path, f"{'negative' if value < 0 else 'not a finite'} value "
                              f"{text!r}", line=line, column=column,
                              expected="a non-negative number")
    return value


def _decode(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataFormatError(path, f"byte {data[exc.start:exc.start + 1]!r} is not valid "
                              "UTF-8", line=data.count(b"\n", 0, exc.start) + 1,
                              expected="UTF-8 CSV, as OWID exports it") from None
