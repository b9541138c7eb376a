"""Locations: the world, the GBD 2017 super-regions, regions and 195 countries, with ISO3,
and the 9 countries GBD 2019 added (204 countries in that round).

Sources:

- GBD 2017 location hierarchy (7 super-regions, 21 regions, 195 countries and territories):
  IHME, GBD 2017 (GBD 2017 Causes of Death Collaborators, Lancet 2018;392:1736-88, appendix;
  IHME's listing https://www.healthdata.org/sites/default/files/files/Projects/GBD/
  GBDRegions_countries.pdf). The country -> region table is ``gbd_locations.csv`` beside this
  module; tests/test_locations.py checks it against IHME's own totals in the OWID export of
  GBD 2017 deaths (``owid_gbd2017_drug_use_disorder_deaths.csv``): every super-region is the
  sum of its regions; 11 regions are the sums of their countries (to 1e-15), and 10 regions
  exceed that sum by a small positive remainder (2e-5 to 6.6 % of the region) that no reported
  country carries: IHME's totals count locations without a row of their own in this export.
- GBD 2019 location hierarchy (204 countries and territories: GBD 2017's 195 plus Cook
  Islands, Niue, Nauru, Palau, Tokelau and Tuvalu in Oceania, Saint Kitts and Nevis in the
  Caribbean, Monaco and San Marino in Western Europe; regions and super-regions unchanged):
  IHME, GBD 2019 (GBD 2019 Diseases and Injuries Collaborators, Lancet 2020;396:1204-22,
  appendix 1, location hierarchy). ``gbd_rounds`` in ``gbd_locations.csv`` says which
  rounds list a country ("2017;2019" or "2019"); every function that lists or checks GBD
  countries takes a ``gbd_round`` that defaults to 2017, so GBD 2017 code paths see the
  195 countries only. tests/test_loaders_global.py checks that the OWID export of GBD 2019
  deaths has exactly these 204 countries.
- Drug-market regions (for trafficking routes): the subregions of the UNODC World Drug Report
  2019 "Regional groupings" page, merged into ten groups: "North America" (Canada, Mexico,
  United States, as in the WDR, plus Greenland), "Latin America and the Caribbean" (WDR
  Caribbean, Central America, South America), "Western and Central Europe", "Eastern and
  South-Eastern Europe" (WDR Eastern Europe and South-Eastern Europe, incl. Turkey), "Africa"
  (the four WDR African subregions), "Near and Middle East / South-West Asia", "Central Asia
  and Transcaucasia", "South Asia", "East and South-East Asia", "Oceania". Territories the WDR
  does not list follow their geography. Assumption to re-check: the country lists were
  written from the compiler's reading of that WDR page, not re-checked against it.
- Country names: ``country_converter`` (coco) ``name_short`` of the ISO3 code, never typed.

Ids follow ``burden.data.schemas``: ISO3 for countries, ``WLD``, ``GBD_R:<slug>``,
``GBD_SR:<slug>``.
"""

from __future__ import annotations

import csv
import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import pandas as pd

from burden.errors import DataFormatError

WORLD_ID = "WLD"
GBD_ROUNDS = (2017, 2019)
LEVELS = ("world", "super_region", "region", "country")

#: GBD 2017 super-regions: slug -> name (IHME spelling).
SUPER_REGIONS: dict[str, str] = {
    "central_europe_eastern_europe_and_central_asia":
        "Central Europe, Eastern Europe, and Central Asia",
    "high_income": "High-income",
    "latin_america_and_caribbean": "Latin America and Caribbean",
    "north_africa_and_middle_east": "North Africa and Middle East",
    "south_asia": "South Asia",
    "southeast_asia_east_asia_and_oceania": "Southeast Asia, East Asia, and Oceania",
    "sub_saharan_africa": "Sub-Saharan Africa",
}

#: GBD 2017 regions: slug -> (name, super-region slug).
REGIONS: dict[str, tuple[str, str]] = {
    "central_asia": ("Central Asia", "central_europe_eastern_europe_and_central_asia"),
    "central_europe": ("Central Europe", "central_europe_eastern_europe_and_central_asia"),
    "eastern_europe": ("Eastern Europe", "central_europe_eastern_europe_and_central_asia"),
    "australasia": ("Australasia", "high_income"),
    "high_income_asia_pacific": ("High-income Asia Pacific", "high_income"),
    "high_income_north_america": ("High-income North America", "high_income"),
    "southern_latin_america": ("Southern Latin America", "high_income"),
    "western_europe": ("Western Europe", "high_income"),
    "andean_latin_america": ("Andean Latin America", "latin_america_and_caribbean"),
    "caribbean": ("Caribbean", "latin_america_and_caribbean"),
    "central_latin_america": ("Central Latin America", "latin_america_and_caribbean"),
    "tropical_latin_america": ("Tropical Latin America", "latin_america_and_caribbean"),
    "north_africa_and_middle_east": ("North Africa and Middle East",
                                     "north_africa_and_middle_east"),
    "south_asia": ("South Asia", "south_asia"),
    "east_asia": ("East Asia", "southeast_asia_east_asia_and_oceania"),
    "oceania": ("Oceania", "southeast_asia_east_asia_and_oceania"),
    "southeast_asia": ("Southeast Asia", "southeast_asia_east_asia_and_oceania"),
    "central_sub_saharan_africa": ("Central Sub-Saharan Africa", "sub_saharan_africa"),
    "eastern_sub_saharan_africa": ("Eastern Sub-Saharan Africa", "sub_saharan_africa"),
    "southern_sub_saharan_africa": ("Southern Sub-Saharan Africa", "sub_saharan_africa"),
    "western_sub_saharan_africa": ("Western Sub-Saharan Africa", "sub_saharan_africa"),
}

#: Other spellings of GBD aggregates seen in real exports (OWID shortens this one).
AGGREGATE_ALIASES: dict[str, str] = {"North America": "High-income North America"}

MARKET_REGIONS = (
    "North America",
    "Latin America and the Caribbean",
    "Western and Central Europe",
    "Eastern and South-Eastern Europe",
    "Africa",
    "Near and Middle East / South-West Asia",
    "Central Asia and Transcaucasia",
    "South Asia",
    "East and South-East Asia",
    "Oceania",
)

#: Country spellings coco (1.3) does not recognise, seen in real files: name -> ISO3.
NAME_ALIASES: dict[str, str] = {"Timor": "TLS"}  # OWID's name for Timor-Leste

_TABLE = "gbd_locations.csv"
_EXCLUSION = re.compile(r"excl|without|w/o", re.IGNORECASE)


@dataclass(frozen=True)
class Location:
    id: str
    iso3: str | None  # countries only
    name: str
    level: str  # one of LEVELS
    parent: str | None  # id of the enclosing location; None for the world
    market_region: str | None = None  # countries only (MARKET_REGIONS)
    gbd_rounds: tuple[int, ...] = ()  # countries only: GBD rounds listing it (GBD_ROUNDS)


def region_id(slug: str) -> str:
    return f"GBD_R:{slug}"


def super_region_id(slug: str) -> str:
    return f"GBD_SR:{slug}"


@lru_cache(maxsize=1)
def country_converter():
    """A coco converter that reads its table correctly under pandas >= 3.

    coco 1.3 relies on ``converters=str`` to keep Namibia's ISO2 code "NA" from becoming NaN;
    pandas 3 applies NA detection first, so ``coco.CountryConverter()`` fails. We read coco's
    own table with "NA" excluded from the missing-value markers and hand it over.
    """
    import country_converter as coco
    from pandas._libs.parsers import STR_NA_VALUES

    path = Path(coco.__file__).with_name("country_data.tsv")
    data = pd.read_csv(path, sep="\t", encoding="utf-8", keep_default_na=False,
                       na_values=sorted(STR_NA_VALUES - {"NA"}))
    text_columns = ["name_short", "name_official", "regex", "ISO2", "ISO3"]
    data[text_columns] = data[text_columns].fillna("")
    int_columns = ["ISOnumeric", "UNcode", "FAOcode", "GBDcode", "EURO", "UN", "UNmember",
                   "obsolete", "GEOnumeric"]  # as coco types them when it reads the file
    data = data.astype({c: "Int64" for c in int_columns if c in data.columns})
    return coco.CountryConverter(country_data=data)


@lru_cache(maxsize=1)
def _registry() -> dict[str, Location]:
    names = country_converter().data.set_index("ISO3")["name_short"]
    locations = {WORLD_ID: Location(WORLD_ID, None, "World", "world", None)}
    for slug, name in SUPER_REGIONS.items():
        sid = super_region_id(slug)
        locations[sid] = Location(sid, None, name, "super_region", WORLD_ID)
    for slug, (name, parent) in REGIONS.items():
        rid = region_id(slug)
        locations[rid] = Location(rid, None, name, "region", super_region_id(parent))
    text = resources.files("burden.registry").joinpath(_TABLE).read_text(encoding="utf-8")
    for line, row in enumerate(csv.DictReader(text.splitlines()), start=2):
        iso3, region, market = row["iso3"], row["gbd_region"], row["market_region"]
        rounds = tuple(int(r) for r in row["gbd_rounds"].split(";") if r.isdigit())
        if (region not in REGIONS or market not in MARKET_REGIONS or iso3 not in names.index
                or not rounds or not set(rounds) <= set(GBD_ROUNDS)):
            raise DataFormatError(_TABLE, f"bad row {row}", line=line,
                                  expected="a coco ISO3 code, a REGIONS slug, a MARKET_REGION, "
                                  f"GBD rounds among {GBD_ROUNDS} separated by ';'")
        locations[iso3] = Location(iso3, iso3, str(names[iso3]), "country", region_id(region),
                                   market, rounds)
    return locations


def all_locations() -> list[Location]:
    return list(_registry().values())


def _check_round(gbd_round: int) -> None:
    if gbd_round not in GBD_ROUNDS:
        raise ValueError(f"unknown GBD round {gbd_round!r}; known: {GBD_ROUNDS}")


def countries(gbd_round: int = 2017) -> list[Location]:
    """The countries and territories of a GBD round (195 in 2017, 204 in 2019), by ISO3."""
    _check_round(gbd_round)
    return sorted((loc for loc in _registry().values()
                   if loc.level == "country" and gbd_round in loc.gbd_rounds),
                  key=lambda loc: loc.id)


def regions() -> list[Location]:
    """The 21 GBD 2017 regions."""
    return [loc for loc in _registry().values() if loc.level == "region"]


def super_regions() -> list[Location]:
    """The 7 GBD 2017 super-regions."""
    return [loc for loc in _registry().values() if loc.level == "super_region"]


def get(location_id: str) -> Location:
    """A location by id (ISO3, ``WLD``, ``GBD_R:<slug>``, ``GBD_SR:<slug>``)."""
    try:
        return _registry()[location_id]
    except KeyError:
        raise KeyError(f"unknown location id {location_id!r}") from None


def _country(iso3: str) -> Location:
    loc = get(iso3)
    if loc.level != "country":
        raise KeyError(f"{iso3!r} is not a country")
    return loc


def region_of(iso3: str) -> Location:
    return get(_country(iso3).parent)


def super_region_of(iso3: str) -> Location:
    return get(region_of(iso3).parent)


def market_region_of(iso3: str) -> str:
    return _country(iso3).market_region


def is_country_code(code: str, *, gbd_only: bool = True, gbd_round: int = 2017) -> bool:
    """True for the ISO3 of a country of GBD round ``gbd_round`` (default 2017), or, with
    ``gbd_only=False``, of any current ISO 3166 country."""
    _check_round(gbd_round)
    loc = _registry().get(code)
    if loc is not None and loc.level == "country" and gbd_round in loc.gbd_rounds:
        return True
    return not gbd_only and code in _iso3_codes()


@lru_cache(maxsize=1)
def _iso3_codes() -> frozenset[str]:
    return frozenset(country_converter().data["ISO3"])


def aggregate_ids(name: str) -> tuple[str, ...]:
    """Ids of the GBD region and/or super-region called ``name`` (GBD spelling or alias).

    "South Asia" and "North Africa and Middle East" are both a super-region and its only
    region, so they return two ids. Unknown names return ``()``.
    """
    name = AGGREGATE_ALIASES.get(name, name)
    if name in ("World", "Global"):
        return (WORLD_ID,)
    return tuple(loc.id for loc in _registry().values()
                 if loc.level in ("super_region", "region") and loc.name == name)


def to_iso3(name_or_code: str, *, file: str | Path = "<input>", line: int | None = None,
            column: str | None = None, gbd_only: bool = True) -> str:
    """ISO3 of a country given its ISO3 code or a name in any common spelling (via coco).

    Raises DataFormatError (naming file, line, column) for a name that is not a country of
    the GBD 2017 registry (or, with ``gbd_only=False``, not a current ISO 3166 country).
    coco's patterns also match some parts of a country ("England" -> GBR): callers that must
    tell parts from wholes check for them before calling.
    """
    text = str(name_or_code).strip()
    expected = ("a GBD 2017 country name or ISO3 code" if gbd_only
                else "a country name or ISO3 code")
    if re.fullmatch(r"[A-Z]{3}", text) and is_country_code(text, gbd_only=gbd_only):
        return text
    iso3 = _name_to_iso3(text)
    if iso3 is None or not is_country_code(iso3, gbd_only=gbd_only):
        raise DataFormatError(file, f"unknown country {text!r}", line=line, column=column,
                              expected=expected)
    return iso3


@lru_cache(maxsize=4096)
def _name_to_iso3(text: str) -> str | None:
    if text in NAME_ALIASES:
        return NAME_ALIASES[text]
    if not text or _EXCLUSION.search(text):  # "China without Hong Kong" is not China
        return None
    coco_log = logging.getLogger("country_converter.country_converter")
    previous, coco_log.disabled = coco_log.disabled, True  # silence "not found" warnings
    try:
        found = country_converter().convert(text, src="regex", to="ISO3", not_found=None)
    finally:
        coco_log.disabled = previous
    return found if isinstance(found, str) and found != text else None


def hierarchy(gbd_round: int = 2017) -> pd.DataFrame:
    """One row per country of GBD round ``gbd_round`` (default 2017): iso3, name, region_id,
    region_name, super_region_id, super_region_name, market_region."""
    rows = []
    for loc in countries(gbd_round):
        region = get(loc.parent)
        super_region = get(region.parent)
        rows.append({
            "iso3": loc.iso3, "name": loc.name,
            "region_id": region.id, "region_name": region.name,
            "super_region_id": super_region.id, "super_region_name": super_region.name,
            "market_region": loc.market_region,
        })
    return pd.DataFrame(rows)
