"""Loaders for the global sources: OWID/IHME GBD, World Bank population, curated reference
figures. Fixtures are real rows cut from the real files; bad inputs are edits of them."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pandas as pd
import pytest
from conftest import _missing
from loader_helpers import (
    MATRIX_ERRORS,
    assert_bad_input,
    assert_names,
    bad_input,
    csv_dicts,
    edited,
    line_of,
    replace_on,
)

from burden.data import build
from burden.data.cleaning import CleaningLog, DataFormatError
from burden.data.loaders import owid_gbd, reference, worldbank
from burden.data.schemas import year_range
from burden.registry import locations, published

FIXTURES = Path(__file__).parent / "fixtures"
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
OPIOID = "Deaths - Opioid use disorders - Sex: Both - Age: All Ages (Number)"
COCAINE = "Deaths - Cocaine use disorders - Sex: Both - Age: All Ages (Number)"


def _load(module, path: Path, source_id: str) -> tuple[pd.DataFrame, CleaningLog]:
    log = CleaningLog(source=source_id, file=path.name)
    return module.load(path, log, source_id), log


def _edited(tmp_path: Path, fixture: str, edit) -> Path:
    """A copy of a fixture with ``edit(list of lines) -> list of lines`` applied."""
    return edited(tmp_path, FIXTURES / fixture, edit)


# ---------------------------------------------------------------- checks every loader makes

LOADERS = {"owid_gbd_deaths": owid_gbd, "worldbank_population": worldbank,
           "reference_opium_production": reference, "reference_heroin_signature": reference}
OWID, WB = "owid_gbd_deaths_sample.csv", "worldbank_population_sample.csv"
PRODUCTION, SIGNATURE = ("reference_opium_production_sample.csv",
                         "reference_heroin_signature_sample.csv")


@pytest.mark.parametrize("fixture, source_id, starts, old, new, column", [
    (OWID, "owid_gbd_deaths", "Afghanistan,AFG,2016", "Afghanistan,AFG", "Narnia,AFG",
     "Entity"),  # unknown name
    (OWID, "owid_gbd_deaths", "Afghanistan,AFG,2016", "Afghanistan,AFG", "Afghanistan,AFX",
     "Code"),  # unknown code
    (OWID, "owid_gbd_deaths", "Afghanistan,AFG,2016", "Afghanistan,AFG", "Pakistan,AFG",
     "Code"),  # name and code disagree
    (WB, "worldbank_population", "United States,USA,2017", "326608609", "n/a", "Value"),
    (WB, "worldbank_population", "United States,USA,2017", "326608609", "-326608609",
     "Value"),
    (WB, "worldbank_population", "United States,USA,2017", "326608609", "0", "Value"),
    (WB, "worldbank_population", "United States,USA,2017", "2017", "17", "Year"),
    (PRODUCTION, "reference_opium_production", "Afghanistan,AFG,2016,production_t", "4800",
     "about 4800", "value"),
    (PRODUCTION, "reference_opium_production", "Afghanistan,AFG,2016,production_t", "4800",
     "-4800", "value"),
    (PRODUCTION, "reference_opium_production", "Afghanistan,AFG,2016,production_t",
     "4800,4000", "3000,4000", "lower"),
    (PRODUCTION, "reference_opium_production", "Afghanistan,AFG,2016,production_t",
     "production_t", "production_tons", "measure"),
    (PRODUCTION, "reference_opium_production", "Lao PDR,LAO,2015,production_t",
     "Lao PDR,LAO", "Lao PDR,LAA", "iso3"),
    (PRODUCTION, "reference_opium_production", "Lao PDR,LAO,2015,production_t",
     "Lao PDR,LAO", "Laputa,LAO", "country"),
    (SIGNATURE, "reference_heroin_signature", "USA,2012,Mexico", ",45,", ",145,",
     "share_pct"),
    (SIGNATURE, "reference_heroin_signature", "USA,2012,Mexico", ",yes,", ",maybe,",
     "verified"),
])
def test_bad_cell_names_line_and_column(tmp_path, fixture, source_id, starts, old, new,
                                        column):
    line = line_of(FIXTURES / fixture, starts)
    path = _edited(tmp_path, fixture, replace_on(line, old, new))
    with pytest.raises(DataFormatError) as err:
        _load(LOADERS[source_id], path, source_id)
    assert_names(err, path, line, column)


@pytest.mark.parametrize("fixture, source_id, starts, old, new, column, table", [
    (OWID, "owid_gbd_deaths", "Afghanistan,AFG,2016", ",2016,", ",1916,", "Year",
     "gbd_deaths"),
    (WB, "worldbank_population", "United States,USA,2017", ",2017,", ",1917,", "Year",
     "population"),
    (PRODUCTION, "reference_opium_production", "Afghanistan,AFG,2016,production_t",
     ",2016,", ",1916,", "year", "production_measurements"),
    (SIGNATURE, "reference_heroin_signature", "USA,2012,Mexico", ",2012,", ",1912,", "year",
     "signature_shares"),
])
def test_year_out_of_range_names_line_and_column(tmp_path, fixture, source_id, starts, old,
                                                 new, column, table):
    line = line_of(FIXTURES / fixture, starts)
    path = _edited(tmp_path, fixture, replace_on(line, old, new))
    with pytest.raises(DataFormatError, match=f"year {new.strip(',')} out of range") as err:
        _load(LOADERS[source_id], path, source_id)
    assert_names(err, path, line, column)
    first, last = year_range(table)
    assert err.value.expected == f"a year from {first} to {last}"


#: source -> (fixture, its first column, what a header without rows is called)
MATRIX = {"owid_gbd_deaths": (OWID, "Entity", "no data rows below the header"),
          "worldbank_population": (WB, "Country Name", "no country rows below the header"),
          "reference_opium_production": (PRODUCTION, "country", "no data rows below the header"),
          "reference_heroin_signature": (SIGNATURE, "destination",
                                         "no data rows below the header")}
FIRST, NO_ROWS = "<the fixture's first column>", "<the loader's words for no rows>"


@pytest.mark.parametrize("source_id", list(MATRIX))
@pytest.mark.parametrize("case, line, column, problem", [
    ("missing", None, None, "no such file"),
    ("empty", 1, None, "the file is empty"),
    ("header_only", 2, None, NO_ROWS),
    ("extra_column", 1, "Extra", "unexpected column(s) ['Extra']"),
    ("semicolons", 1, FIRST, "missing or renamed column(s)"),
    ("utf16_no_bom", 1, FIRST, "not UTF-8 text (UTF-16?)"),
    ("latin1_byte", 2, FIRST, "byte b'\\xe9' is not valid UTF-8"),
])
def test_bad_input_matrix(tmp_path, source_id, case, line, column, problem):
    """A missing, empty or header-only file, an extra column (all read with only=True),
    another delimiter or encoding: an error naming the file (line, column) and the problem;
    a missing reference table says to restore the package's copy, a raw file names
    `burden fetch SOURCE`."""
    fixture, first, no_rows = MATRIX[source_id]
    column = first if column == FIRST else column
    problem = no_rows if problem == NO_ROWS else problem
    path = bad_input(tmp_path, FIXTURES / fixture, case, source_id)
    with pytest.raises(MATRIX_ERRORS[case]) as err:
        _load(LOADERS[source_id], path, source_id)
    assert_bad_input(err, path, line, column, problem)


# ---------------------------------------------------------------- OWID / IHME GBD


def test_owid_deaths_long_rows_with_registry_ids():
    path = FIXTURES / "owid_gbd_deaths_sample.csv"
    frame, _ = _load(owid_gbd, path, "owid_gbd_deaths")
    build.validate("gbd_deaths", frame)
    assert set(frame["cause"]) == {owid_gbd.CAUSE_LABELS[c]
                                   for c in owid_gbd.EXPORTS["owid_gbd_deaths"].causes}
    assert set(frame["measure"]) == {"deaths"}
    assert set(frame["gbd_round"]) == {2017} and set(frame["definition"]) == {
        "gbd_use_disorder"}
    raw = {(r["Entity"], r["Year"]): r for r in csv_dicts(path)}
    usa = frame.query("location_id == 'USA' and year == 2017 and cause == 'opioid_use_disorders'")
    assert usa["value"].tolist() == [float(raw["United States", "2017"][OPIOID])]
    assert usa["location_name"].tolist() == [locations.get("USA").name]
    world = frame.query("location_id == 'WLD' and cause == 'cocaine_use_disorders'")
    assert set(world["location_level"]) == {"world"}
    assert world.set_index("year")["value"][2016] == float(raw["World", "2016"][COCAINE])
    assert "TLS" in set(frame["location_id"])  # OWID's "Timor"
    assert "CZE" in set(frame["location_id"])  # "Czechia"
    north_america = frame.query("location_id == 'GBD_R:high_income_north_america'")
    assert len(north_america) == 2 * 4 and set(north_america["location_level"]) == {"region"}


def test_owid_row_that_is_region_and_super_region_is_kept_under_both_ids():
    frame, log = _load(owid_gbd, FIXTURES / "owid_gbd_deaths_sample.csv", "owid_gbd_deaths")
    both = frame[frame["location_id"].isin(["GBD_SR:south_asia", "GBD_R:south_asia"])]
    pivot = both.pivot_table(index=["year", "cause"], columns="location_id", values="value")
    assert len(pivot) == 2 * 4 and (pivot["GBD_SR:south_asia"] == pivot["GBD_R:south_asia"]).all()
    flagged = log.to_frame().query("action == 'flagged'")
    assert flagged["original"].tolist() == ["South Asia"]


def test_owid_entities_outside_the_registry_are_dropped_and_logged_per_row():
    path = FIXTURES / "owid_gbd_deaths_sample.csv"
    frame, log = _load(owid_gbd, path, "owid_gbd_deaths")
    dropped = log.to_frame().query("action == 'dropped'")
    raw_lines = {i + 2 for i, r in enumerate(csv_dicts(path)) if r["Entity"] in ("High SDI",
                                                                             "England")}
    assert set(dropped["line"]) == raw_lines and len(dropped) == len(raw_lines)
    assert not frame["location_name"].isin(["High SDI", "England"]).any()
    kinds = dict(zip(dropped["original"], dropped["reason"], strict=True))
    assert kinds["High SDI"].startswith("SDI group") and "UK nation" not in kinds["High SDI"]
    assert kinds["England"].startswith("UK nation") and "SDI" not in kinds["England"]


def test_owid_rate_export_and_column_order_does_not_matter(tmp_path):
    path = FIXTURES / "owid_gbd_opioid_rate_sample.csv"
    frame, _ = _load(owid_gbd, path, "owid_gbd_opioid_rate")
    build.validate("gbd_deaths", frame)
    assert set(frame["measure"]) == {"rate_age_std_per_100k"}
    assert set(frame["cause"]) == {"opioid_use_disorders"}

    def swap_columns(lines):  # Year and the cause column exchanged, in every line
        out = []
        for text in lines:
            cells = next(csv.reader([text]))
            cells[2], cells[3] = cells[3], cells[2]
            out.append(",".join(cells) + "\n")
        return out

    swapped, _ = _load(owid_gbd, _edited(tmp_path, path.name, swap_columns),
                       "owid_gbd_opioid_rate")
    pd.testing.assert_frame_equal(swapped, frame)


def test_owid_renamed_cause_column_names_the_expected_column(tmp_path):
    path = _edited(tmp_path, "owid_gbd_deaths_sample.csv",
                   replace_on(1, "Cocaine use disorders", "Cocaine disorders"))
    with pytest.raises(DataFormatError) as err:
        _load(owid_gbd, path, "owid_gbd_deaths")
    assert_names(err, path, 1, COCAINE)


def test_owid_file_of_the_wrong_export_is_refused():
    path = FIXTURES / "owid_gbd_opioid_rate_sample.csv"
    with pytest.raises(DataFormatError) as err:
        _load(owid_gbd, path, "owid_gbd_deaths")
    assert_names(err, path, 1, OPIOID)


def test_owid_truncated_file(tmp_path):
    path = _edited(tmp_path, "owid_gbd_deaths_sample.csv",
                   lambda lines: lines[:-1] + [lines[-1].split(",", 3)[0] + ",OWID_WRL,20"])
    with pytest.raises(DataFormatError) as err:
        _load(owid_gbd, path, "owid_gbd_deaths")
    assert_names(err, path, len(path.read_text().splitlines()), OPIOID)


@pytest.mark.parametrize("bad", ["n/a", "-3.5", "inf"])
def test_owid_bad_value_names_line_and_column(tmp_path, bad):
    fixture = FIXTURES / "owid_gbd_deaths_sample.csv"
    line = line_of(fixture, "United States,USA,2017")
    value = csv_dicts(fixture)[line - 2][COCAINE]
    path = _edited(tmp_path, fixture.name, replace_on(line, value, bad))
    with pytest.raises(DataFormatError) as err:
        _load(owid_gbd, path, "owid_gbd_deaths")
    assert_names(err, path, line, COCAINE)


def test_owid_duplicated_entity_year(tmp_path):
    fixture = FIXTURES / "owid_gbd_deaths_sample.csv"
    copied = line_of(fixture, "Afghanistan,AFG,2017")
    path = _edited(tmp_path, fixture.name, lambda lines: lines + [lines[copied - 1]])
    with pytest.raises(DataFormatError) as err:
        _load(owid_gbd, path, "owid_gbd_deaths")
    assert_names(err, path, len(path.read_text().splitlines()), "Year")
    assert f"lines {copied} and" in str(err.value)


def test_owid_two_spellings_of_one_region(tmp_path):
    fixture = FIXTURES / "owid_gbd_deaths_sample.csv"
    line = line_of(fixture, "North America,,2017")
    path = _edited(tmp_path, fixture.name, lambda lines: lines + [
        lines[line - 1].replace("North America", "High-income North America")])
    with pytest.raises(DataFormatError) as err:
        _load(owid_gbd, path, "owid_gbd_deaths")
    assert_names(err, path, len(path.read_text().splitlines()), "Entity")


def test_owid_unknown_aggregate_without_code_is_dropped_not_guessed(tmp_path):
    fixture = FIXTURES / "owid_gbd_deaths_sample.csv"
    first = line_of(fixture, "High SDI,,2016")
    second = line_of(fixture, "High SDI,,2017")

    def rename(lines):  # both years: every entity has the same years
        return replace_on(second, "High SDI", "G20")(
            replace_on(first, "High SDI", "G20")(lines))

    path = _edited(tmp_path, fixture.name, rename)
    frame, log = _load(owid_gbd, path, "owid_gbd_deaths")
    dropped = log.to_frame().query("action == 'dropped' and original == 'G20'")
    assert list(dropped["line"]) == [first, second]
    assert "G20" not in set(frame["location_name"])
    # the kind as the GBD 2019 exports give it (owid_gbd.aggregate_kind), not "SDI group or
    # UK nation" for any uncoded row
    for reason in dropped["reason"]:
        assert reason.startswith("country group (G20, OECD): no ISO3 code"), reason
        assert "SDI" not in reason and "UK nation" not in reason


# ---------------------------------------------------------------- World Bank population


def test_worldbank_keeps_countries_and_logs_aggregates():
    path = FIXTURES / "worldbank_population_sample.csv"
    frame, log = _load(worldbank, path, "worldbank_population")
    build.validate("population", frame)
    raw = csv_dicts(path)
    kept = {r["Country Code"] for r in raw if locations.is_country_code(r["Country Code"],
                                                                        gbd_only=False)}
    assert set(frame["location_id"]) == kept
    assert {"WLD", "HIC", "EAS"} <= set(log.to_frame()["original"])
    assert len(frame) + len(log.entries) == len(raw)
    usa = next(r for r in raw if r["Country Code"] == "USA" and r["Year"] == "2017")
    assert frame.query("location_id == 'USA' and year == 2017")["population"].item() == float(
        usa["Value"])


def test_missing_population_lists_gbd_countries_without_rows():
    frame, _ = _load(worldbank, FIXTURES / "worldbank_population_sample.csv",
                     "worldbank_population")
    hierarchy = locations.hierarchy()
    missing = worldbank.missing_population(frame, hierarchy)
    have = set(frame["location_id"])
    # the fixture holds a few countries, so most GBD countries are missing (all their years)
    assert len(missing) > 0 and set(missing["iso3"]) == set(hierarchy["iso3"]) - have
    assert (missing["n_missing"] == frame["year"].nunique()).all()
    partial = frame[~((frame["location_id"] == "AFG") & (frame["year"] == 2017))]
    afg = worldbank.missing_population(partial, hierarchy).query("iso3 == 'AFG'")
    assert afg["missing_years"].tolist() == [(2017,)]


def test_worldbank_renamed_column(tmp_path):
    path = _edited(tmp_path, "worldbank_population_sample.csv",
                   replace_on(1, "Country Code", "ISO3"))
    with pytest.raises(DataFormatError) as err:
        _load(worldbank, path, "worldbank_population")
    assert_names(err, path, 1, "Country Code")


def test_worldbank_truncated_and_duplicated(tmp_path):
    path = _edited(tmp_path, "worldbank_population_sample.csv",
                   lambda lines: lines[:-1] + ["Kosovo,XKX"])
    with pytest.raises(DataFormatError) as err:
        _load(worldbank, path, "worldbank_population")
    assert_names(err, path, len(path.read_text().splitlines()), "Year")

    path = _edited(tmp_path, "worldbank_population_sample.csv",
                   lambda lines: lines + [lines[1]])
    with pytest.raises(DataFormatError) as err:
        _load(worldbank, path, "worldbank_population")
    assert_names(err, path, len(path.read_text().splitlines()), "Country Code")


# ---------------------------------------------------------------- curated reference figures


def test_reference_sources_point_at_shipped_files():
    for source in published.REFERENCE_SOURCES.values():
        assert source.path.is_file() and source.loader == "reference"
        assert source.table in ("production_measurements", "signature_shares")
        assert source.url.endswith(source.filename)


@pytest.mark.parametrize("source_id", list(published.REFERENCE_SOURCES))
def test_reference_shipped_files_load_and_keep_every_row(source_id):
    source = published.REFERENCE_SOURCES[source_id]
    frame, _ = _load(reference, source.path, source_id)
    build.validate(source.table, frame)
    raw = csv_dicts(source.path)
    assert len(frame) == len(raw)
    assert frame["verified"].tolist() == [r["verified"] == "yes" for r in raw]
    assert frame["publication"].tolist() == [r["publication"] for r in raw]


def test_reference_production_fixture():
    path = FIXTURES / "reference_opium_production_sample.csv"
    frame, log = _load(reference, path, "reference_opium_production")
    build.validate("production_measurements", frame)
    raw = csv_dicts(path)
    assert frame["iso3"].isna().tolist() == [r["iso3"] == "" for r in raw]
    change = frame.query("measure == 'production_pct_change'")["value"]
    assert (change < 0).all() and len(change) == 1  # a percent change may be negative
    ranged = frame.dropna(subset=["lower", "upper"])
    assert (ranged["lower"] <= ranged["upper"]).all() and len(ranged) >= 2
    assert not log.entries


def test_reference_signature_bounds_read_from_note_and_logged():
    path = FIXTURES / "reference_heroin_signature_sample.csv"
    frame, log = _load(reference, path, "reference_heroin_signature")
    build.validate("signature_shares", frame)
    notes = frame["note"].fillna("")
    upper = frame[notes.str.contains(r"\(upper bound \d+\)")]
    lower = frame[notes.str.contains(r"\(>\d+\)")]
    assert len(upper) == 1 and len(lower) == 1
    assert upper["upper_pct"].item() == float(
        upper["note"].item().split("(upper bound ")[1].split(")")[0])
    assert lower["lower_pct"].item() == float(lower["note"].item().split("(>")[1].split(")")[0])
    rest = frame.drop(upper.index.union(lower.index))
    assert len(rest) > 0 and rest[["lower_pct", "upper_pct"]].isna().all(axis=None)
    changed = log.to_frame().query("action == 'changed'")
    assert set(changed["column"]) == {"upper_pct", "lower_pct"} and len(changed) == 2


def test_shipped_signature_rows_published_as_bounds_get_them():
    """The 2016-2018 rows that give only a bound in words (shared/data/README.md: 2017
    Mexico "over 90 per cent"; 2018 South America "less than 2", Southwest Asia "less than
    1") carry it as lower_pct / upper_pct, not as a missing share."""
    src = published.REFERENCE_SOURCES["reference_heroin_signature"]
    frame, log = _load(reference, src.path, src.id)
    bounds = frame[frame["share_pct"].isna()].set_index(["year", "source_region"])
    assert bounds.loc[(2017, "Mexico"), "lower_pct"] == 90.0
    assert bounds.loc[(2018, "South America"), "upper_pct"] == 2.0
    assert bounds.loc[(2018, "Southwest Asia"), "upper_pct"] == 1.0
    flagged = log.to_frame().query("action == 'flagged'")
    assert not flagged["original"].fillna("").str.startswith("bound only").any()


def test_reference_renamed_truncated_and_repeated(tmp_path):
    fixture = "reference_heroin_signature_sample.csv"
    path = _edited(tmp_path, fixture, replace_on(1, "share_pct", "share"))
    with pytest.raises(DataFormatError) as err:
        _load(reference, path, "reference_heroin_signature")
    assert_names(err, path, 1, "share_pct")

    path = _edited(tmp_path, fixture, lambda lines: lines[:-1] + ["USA,2014,Mexico,79,by sa"])
    with pytest.raises(DataFormatError) as err:
        _load(reference, path, "reference_heroin_signature")
    assert_names(err, path, len(path.read_text().splitlines()), "publication")

    path = _edited(tmp_path, fixture, lambda lines: lines + [lines[2]])
    with pytest.raises(DataFormatError) as err:
        _load(reference, path, "reference_heroin_signature")
    assert_names(err, path, len(path.read_text().splitlines()), "destination")


# ---------------------------------------------------------------- real data


@pytest.mark.realdata
def test_gbd_world_opioid_deaths_2017_equal_the_raw_world_row(raw_file, tmp_path):
    paths = [raw_file(sid) for sid in ("owid_gbd_deaths", "owid_gbd_opioid_rate")]
    out = build.build_table("gbd_deaths", out_dir=tmp_path, raw_dir=paths[0].parent,
                            progress=None)
    table = pd.read_parquet(out).query("gbd_round == 2017")  # the table holds GBD 2019 too
    world = table.query("location_id == 'WLD' and year == 2017 and measure == 'deaths' "
                        "and cause == 'opioid_use_disorders'")["value"]
    raw = next(r for r in csv_dicts(paths[0]) if r["Code"] == "OWID_WRL" and r["Year"] == "2017")
    assert world.tolist() == [float(raw[OPIOID])]
    rows = csv_dicts(paths[0])
    countries = {r["Code"] for r in rows if r["Code"] and r["Code"] != "OWID_WRL"}
    assert set(table.query("location_level == 'country'")["location_id"]) == countries
    log = pd.read_csv(tmp_path / "gbd_deaths.cleaning_log.csv").query(
        "source == 'owid_gbd_deaths'")
    no_code = {r["Entity"] for r in rows if not r["Code"]}
    kept = set(table.query("location_level in ('region', 'super_region')")["location_name"])
    assert set(log.query("action == 'dropped'")["original"]) == no_code - kept - {
        "North America"}  # OWID's name for High-income North America


@pytest.mark.realdata
def test_worldbank_real_file(raw_file):
    path = raw_file("worldbank_population")
    frame, log = _load(worldbank, path, "worldbank_population")
    build.validate("population", frame)
    dropped = set(log.to_frame()["original"])
    assert {"WLD", "HIC", "EAS"} <= dropped
    assert not any(locations.is_country_code(code, gbd_only=False) for code in dropped)
    missing = worldbank.missing_population(frame, locations.hierarchy(), range(1990, 2018))
    assert missing["iso3"].tolist() == ["TWN"]  # the World Bank does not publish Taiwan


@pytest.mark.realdata
def test_shipped_reference_copies_have_the_shared_rows():
    mirror = os.environ.get("BURDEN_DATA_MIRROR")  # .../data/raw; reference/ sits beside it
    folder = (Path(mirror).parent if mirror else SHARED_DATA) / "reference"
    assert published.REFERENCE_SOURCES
    for source in published.REFERENCE_SOURCES.values():
        shared = folder / source.filename
        if not shared.exists():
            # under CI the shared folder is always beside the clone: missing is a failure
            _missing(f"no {source.filename} in the shared reference folder {folder}")
        shipped = csv_dicts(source.path)
        assert shipped and shipped == csv_dicts(shared), source.filename
