"""The location registry: structure, names, lookups, and the GBD hierarchy checked against
IHME's own regional totals in the OWID export (real data)."""

from __future__ import annotations

import csv
import re
from collections import defaultdict

import pytest

from burden.data.cleaning import DataFormatError
from burden.registry import locations as loc

# ---------------------------------------------------------------- structure


def test_counts_match_gbd_2017():
    assert len(loc.countries()) == 195
    assert len(loc.regions()) == 21
    assert len(loc.super_regions()) == 7


def test_every_country_chains_up_to_the_world():
    for country in loc.countries():
        region = loc.get(country.parent)
        super_region = loc.get(region.parent)
        assert (region.level, super_region.level) == ("region", "super_region")
        assert loc.get(super_region.parent).id == loc.WORLD_ID
        assert region is loc.region_of(country.iso3)
        assert super_region is loc.super_region_of(country.iso3)


def test_ids_follow_the_schema_conventions():
    assert all(re.fullmatch(r"[A-Z]{3}", c.id) and c.id == c.iso3 for c in loc.countries())
    assert all(re.fullmatch(r"GBD_R:[a-z_]+", r.id) for r in loc.regions())
    assert all(re.fullmatch(r"GBD_SR:[a-z_]+", s.id) for s in loc.super_regions())
    assert all(r.iso3 is None for r in loc.regions() + loc.super_regions())


def test_every_region_and_super_region_has_members():
    parents = {c.parent for c in loc.countries()} | {r.parent for r in loc.regions()}
    assert {r.id for r in loc.regions()} | {s.id for s in loc.super_regions()} <= parents


def test_names_are_coco_short_names_of_the_iso3_code():
    converter = loc.country_converter()
    for country in loc.countries():
        assert country.name == converter.convert(country.iso3, src="ISO3", to="name_short")


def test_coco_workaround_keeps_namibia_iso2():
    # coco 1.3 under pandas 3 reads Namibia's ISO2 "NA" as missing; our converter must not
    assert loc.country_converter().convert("NAM", src="ISO3", to="ISO2") == "NA"


def test_market_regions_cover_every_country_and_keep_north_america_apart():
    assert {c.market_region for c in loc.countries()} == set(loc.MARKET_REGIONS)
    north_america = [c.iso3 for c in loc.countries() if c.market_region == "North America"]
    assert {"USA", "CAN", "MEX"} <= set(north_america)
    assert loc.market_region_of("USA") == "North America"


def test_hierarchy_frame_agrees_with_lookups():
    frame = loc.hierarchy()
    assert list(frame.columns) == ["iso3", "name", "region_id", "region_name",
                                   "super_region_id", "super_region_name", "market_region"]
    assert frame["iso3"].is_unique and len(frame) == 195
    for row in frame.itertuples():
        assert row.region_id == loc.region_of(row.iso3).id
        assert row.super_region_name == loc.super_region_of(row.iso3).name
        assert row.market_region == loc.market_region_of(row.iso3)


def test_get_and_region_of_reject_unknown_or_non_country_ids():
    with pytest.raises(KeyError):
        loc.get("XXX")
    with pytest.raises(KeyError):
        loc.region_of(loc.regions()[0].id)


# ---------------------------------------------------------------- name lookup


@pytest.mark.parametrize("names", [
    ("Czechia", "Czech Republic", "CZE"),
    ("Eswatini", "Swaziland"),
    ("North Macedonia", "Macedonia"),
    ("Côte d'Ivoire", "Cote d'Ivoire"),
    ("United States", "USA"),
    ("Timor", "Timor-Leste"),
])
def test_spelling_variants_resolve_to_one_code(names):
    codes = {loc.to_iso3(name) for name in names}
    assert len(codes) == 1 and loc.is_country_code(codes.pop())


def test_unknown_name_raises_with_file_line_column():
    with pytest.raises(DataFormatError) as err:
        loc.to_iso3("Narnia", file="x.csv", line=7, column="Entity")
    assert (err.value.file, err.value.line, err.value.column) == ("x.csv", 7, "Entity")
    assert "line 7" in str(err.value) and "'Entity'" in str(err.value)


def test_non_gbd_country_needs_gbd_only_false():
    with pytest.raises(DataFormatError):
        loc.to_iso3("Liechtenstein")
    assert loc.to_iso3("Liechtenstein", gbd_only=False) == "LIE"


def test_a_country_minus_a_part_is_not_that_country():
    with pytest.raises(DataFormatError):
        loc.to_iso3("China (without Hong Kong and Macao)")


def test_aggregate_names_map_to_ids():
    assert loc.aggregate_ids("Western Europe") == (loc.region_id("western_europe"),)
    assert loc.aggregate_ids("North America") == (loc.region_id("high_income_north_america"),)
    assert set(loc.aggregate_ids("South Asia")) == {"GBD_SR:south_asia", "GBD_R:south_asia"}
    assert loc.aggregate_ids("High SDI") == ()


# ---------------------------------------------------------------- real data: GBD totals

#: Regions whose IHME total exceeds the sum of their 195-country rows, measured in
#: owid_gbd2017_drug_use_disorder_deaths.csv (relative remainder, all years and causes):
#: Oceania 5.5-6.6 %, Caribbean 3.4-3.6 %, East Asia 1.6-1.7 %, Southeast Asia 0.13 %,
#: Western Europe 0.10 %, North Africa and Middle East 0.06-0.10 %, Eastern Sub-Saharan
#: Africa 0.05-0.06 %, Southern Latin America 4-5e-5, High-income North America 2e-5,
#: Western Sub-Saharan Africa 1-3e-5. IHME's totals count locations that have no row of
#: their own here (the file does not say which). Every other region matches to ~3e-15.
REGIONS_WITH_REMAINDER = {
    "oceania", "caribbean", "east_asia", "southeast_asia", "western_europe",
    "north_africa_and_middle_east", "eastern_sub_saharan_africa", "southern_latin_america",
    "high_income_north_america", "western_sub_saharan_africa",
}
EXACT = 1e-6  # relative; sums of doubles agree to ~1e-15
REMAINDER_MAX = 0.07  # relative; the largest measured remainder is 6.6 % (Oceania)


def _owid_totals(path):
    """(entity, code) -> {(year, cause column): deaths}, read with plain csv."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        causes = [h for h in header if h.startswith("Deaths - ")]
        totals = defaultdict(dict)
        for row in reader:
            cells = dict(zip(header, row, strict=True))
            for cause in causes:
                totals[cells["Entity"], cells["Code"]][cells["Year"], cause] = float(cells[cause])
    return totals, causes


@pytest.fixture(scope="module")
def owid(raw_file):
    return _owid_totals(raw_file("owid_gbd_deaths"))


def _by_name(totals):
    return {loc.AGGREGATE_ALIASES.get(entity, entity): values
            for (entity, code), values in totals.items() if not code}


def _sum(parts):
    out = defaultdict(float)
    for values in parts:
        for key, value in values.items():
            out[key] += value
    return out


def _relative_gaps(total, parts):
    summed = _sum(parts)
    assert set(summed) == set(total)
    return {key: (total[key] - summed[key]) / total[key] for key in total}


@pytest.mark.realdata
def test_file_has_the_195_countries_and_the_world(owid):
    totals, _ = owid
    codes = {code for _, code in totals if code}
    assert codes == {c.iso3 for c in loc.countries()} | {"OWID_WRL"}


@pytest.mark.realdata
def test_super_regions_are_the_sums_of_their_regions(owid):
    totals, _ = owid
    named = _by_name(totals)
    for super_region in loc.super_regions():
        members = [named[r.name] for r in loc.regions() if r.parent == super_region.id]
        gaps = _relative_gaps(named[super_region.name], members)
        assert max(abs(g) for g in gaps.values()) < EXACT, super_region.name
    world = totals["World", "OWID_WRL"]
    gaps = _relative_gaps(world, [named[s.name] for s in loc.super_regions()])
    assert max(abs(g) for g in gaps.values()) < EXACT


@pytest.mark.realdata
def test_regions_are_the_sums_of_their_countries(owid):
    """Each region's four causes, every year: equal to its countries' sum (1e-6), or -- for
    the regions IHME totals with unreported locations -- above it by a small remainder.
    A country in the wrong region would break an exact region or make a remainder negative."""
    totals, _ = owid
    named = _by_name(totals)
    by_code = {code: values for (_, code), values in totals.items() if code}
    for region in loc.regions():
        members = [by_code[c.iso3] for c in loc.countries() if c.parent == region.id]
        gaps = list(_relative_gaps(named[region.name], members).values())
        slug = region.id.split(":", 1)[1]
        if slug in REGIONS_WITH_REMAINDER:
            assert 0 < min(gaps) and max(gaps) < REMAINDER_MAX, (region.name, min(gaps))
        else:
            assert max(abs(g) for g in gaps) < EXACT, (region.name, max(gaps))


@pytest.mark.realdata
def test_countries_are_the_sdi_groups_and_fall_short_of_the_world_by_the_remainders(owid):
    """The five SDI quintiles partition the reported countries: our 195 must sum to them
    exactly. World minus the countries is then the regions' remainders (1.1 % at most)."""
    totals, _ = owid
    named = _by_name(totals)
    countries = [values for (_, code), values in totals.items() if code and code != "OWID_WRL"]
    sdi = _sum(values for name, values in named.items() if name.endswith(" SDI"))
    assert max(abs(g) for g in _relative_gaps(sdi, countries).values()) < EXACT
    world_gaps = _relative_gaps(totals["World", "OWID_WRL"], countries).values()
    assert 0 < min(world_gaps) and max(world_gaps) < REMAINDER_MAX
