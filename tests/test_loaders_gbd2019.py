"""GBD 2019 round of the OWID/IHME exports (``owid_gbd`` loader, ``gbd_deaths`` table).

Fixtures are real lines of the pinned files (registry.sources): ``owid_gbd2019_deaths_sample
.csv`` (countries incl. three GBD 2019 additions, the UK and England, WHO and World Bank
aggregates, G20, the world), ``owid_gbd2019_opioid_rate_sample.csv`` and
``owid_gbd2019_drug_rate_sample.csv``. Bad inputs are edits of them in ``tmp_path``;
expected values are read from the fixtures with the csv module, never typed in.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest
from loader_helpers import (
    MATRIX_ERRORS,
    assert_bad_input,
    assert_names,
    bad_input,
    edited,
    line_of,
    replace_on,
)
from loader_helpers import csv_dicts as rows

from burden.data import build
from burden.data.cleaning import CleaningLog, DataFormatError
from burden.data.loaders import owid_gbd
from burden.data.schemas import year_range
from burden.registry import locations
from burden.registry.sources import SOURCES

FIXTURES = Path(__file__).parent / "fixtures"
DEATHS = FIXTURES / "owid_gbd2019_deaths_sample.csv"
OPIOID_RATE = FIXTURES / "owid_gbd2019_opioid_rate_sample.csv"
DRUG_RATE = FIXTURES / "owid_gbd2019_drug_rate_sample.csv"
GBD2017_DEATHS = FIXTURES / "owid_gbd_deaths_sample.csv"


def _header(label: str) -> str:
    return f"Deaths - {label} - Sex: Both - Age: All Ages (Number)"


OPIOID, ALCOHOL, ALL_DRUG = (_header("Opioid use disorders"), _header("Alcohol use disorders"),
                             _header("Drug use disorders"))
GBD2019_ADDED = {"COK", "KNA", "MCO", "NIU", "NRU", "PLW", "SMR", "TKL", "TUV"}


def load(path: Path, source_id: str = "owid_gbd2019_deaths"):
    log = CleaningLog(source=source_id, file=path.name)
    return owid_gbd.load(path, log, source_id), log


# ---------------------------------------------------------------- the fixtures


def test_gbd2019_deaths_rows_round_definition_and_countries():
    frame, _ = load(DEATHS)
    build.validate("gbd_deaths", frame)
    raw = rows(DEATHS)
    assert set(frame["gbd_round"]) == {2019}
    assert set(frame["definition"]) == {"gbd_use_disorder"}
    assert set(frame["measure"]) == {"deaths"}
    assert set(frame["cause"]) == {"opioid_use_disorders", "cocaine_use_disorders",
                                   "amphetamine_use_disorders", "other_drug_use_disorders",
                                   "drug_use_disorders", "alcohol_use_disorders"}
    coded = {r["Code"] for r in raw if r["Code"] and r["Code"] != "OWID_WRL"}
    assert set(frame.query("location_level == 'country'")["location_id"]) == coded
    assert {"COK", "KNA", "MCO"} <= coded  # GBD 2019 additions are kept
    assert {"CIV", "FSM"} <= coded  # "Cote d'Ivoire", "Micronesia (country)"
    by_key = frame.set_index(["location_id", "year", "cause"])["value"]
    for r in raw:
        if r["Code"]:
            place = "WLD" if r["Code"] == "OWID_WRL" else r["Code"]
            assert by_key[place, int(r["Year"]), "opioid_use_disorders"] == float(r[OPIOID])
            assert by_key[place, int(r["Year"]), "alcohol_use_disorders"] == float(r[ALCOHOL])
            assert by_key[place, int(r["Year"]), "drug_use_disorders"] == float(r[ALL_DRUG])
    assert set(frame.query("location_id == 'WLD'")["location_level"]) == {"world"}
    assert not frame["location_level"].isin(["region", "super_region"]).any()


def test_gbd2019_uncoded_rows_dropped_one_entry_each_with_their_kind():
    frame, log = load(DEATHS)
    raw = rows(DEATHS)
    entries = log.to_frame()
    uncoded = {i: r["Entity"] for i, r in enumerate(raw, 2) if not r["Code"]}
    assert dict(zip(entries["line"], entries["original"])) == uncoded
    assert set(entries["action"]) == {"dropped"} and len(entries) == len(uncoded)
    kinds = dict(zip(entries["original"], entries["reason"]))
    assert kinds["African Region (WHO)"].startswith("WHO region")
    assert kinds["South Asia (WB)"].startswith("World Bank")  # not GBD's South Asia
    assert kinds["World Bank High Income"].startswith("World Bank")
    assert kinds["G20"].startswith("country group")
    assert kinds["England"].startswith("UK nation")
    coded = sum(1 for r in raw if r["Code"])
    assert len(frame) == coded * len(owid_gbd.EXPORTS["owid_gbd2019_deaths"].causes)


def test_gbd2019_and_2017_give_an_uncoded_row_the_same_kind(tmp_path):
    """One classification (``aggregate_kind``) for both rounds: "England" renamed "High SDI"
    in a GBD 2019 export is logged as an SDI group, as in the GBD 2017 exports."""
    path = edited(tmp_path, DEATHS, lambda lines: [
        t.replace("England,,", "High SDI,,", 1) if t.startswith("England,,") else t
        for t in lines])
    _, log = load(path)
    entries = log.to_frame()
    sdi = entries[entries["original"] == "High SDI"]
    assert len(sdi) == sum(r["Entity"] == "England" for r in rows(DEATHS)) > 0
    assert all(r.startswith("SDI group") for r in sdi["reason"]), set(sdi["reason"])
    assert owid_gbd._drop_reason("High SDI", 2017).split(":")[0] == (
        owid_gbd._drop_reason("High SDI", 2019).split(":")[0])


@pytest.mark.parametrize("fixture, source_id, cause", [
    (OPIOID_RATE, "owid_gbd2019_opioid_rate", "opioid_use_disorders"),
    (DRUG_RATE, "owid_gbd2019_drug_rate", "drug_use_disorders"),
])
def test_gbd2019_rate_exports(fixture, source_id, cause):
    frame, log = load(fixture, source_id)
    build.validate("gbd_deaths", frame)
    assert set(frame["measure"]) == {"rate_age_std_per_100k"} and set(frame["cause"]) == {cause}
    assert set(frame["gbd_round"]) == {2019}
    raw = rows(fixture)
    column = next(c for c in raw[0] if c.startswith("Deaths - "))
    usa = next(r for r in raw if r["Code"] == "USA" and r["Year"] == "2019")
    assert frame.query("location_id == 'USA' and year == 2019")["value"].item() == float(
        usa[column])
    assert len(log.entries) == sum(1 for r in raw if not r["Code"])


def test_gbd2019_column_order_does_not_matter(tmp_path):
    frame, _ = load(DEATHS)

    def reverse_cause_columns(lines):
        out = []
        for text in lines:
            cells = next(csv.reader([text]))
            out.append(",".join(cells[:3] + cells[:2:-1]) + "\n")
        return out

    swapped, _ = load(edited(tmp_path, DEATHS, reverse_cause_columns))
    key = ["location_id", "year", "cause"]
    pd.testing.assert_frame_equal(swapped.sort_values(key).reset_index(drop=True),
                                  frame.sort_values(key).reset_index(drop=True))


def test_the_2017_round_still_refuses_a_country_gbd_2017_does_not_have(tmp_path):
    line = line_of(GBD2017_DEATHS, "Afghanistan,AFG,2016")
    path = edited(tmp_path, GBD2017_DEATHS, replace_on(line, "Afghanistan,AFG", "Monaco,MCO"))
    with pytest.raises(DataFormatError, match="GBD 2017 country") as err:
        load(path, "owid_gbd_deaths")
    assert_names(err, path, line, "Code")


def test_the_2019_round_accepts_a_country_only_gbd_2019_has(tmp_path):
    path = edited(tmp_path, DEATHS, lambda lines: [
        text.replace("Afghanistan,AFG", "San Marino,SMR", 1) for text in lines])
    frame, _ = load(path)
    assert "SMR" in set(frame["location_id"]) and "AFG" not in set(frame["location_id"])


# ---------------------------------------------------------------- bad inputs


@pytest.mark.parametrize("starts, old, new, column, problem", [
    ("Afghanistan,AFG,2018", "Afghanistan,AFG", "Afghanistan,AFX", "Code", "unknown country"),
    ("Afghanistan,AFG,2018", "Afghanistan,AFG", "Narnia,AFG", "Entity", "unknown country"),
    ("Afghanistan,AFG,2018", "Afghanistan,AFG", "Hong Kong,HKG", "Code",
     "unknown country code"),  # an ISO3 code, but not a GBD 2019 location
    ("Afghanistan,AFG,2018", "Afghanistan,AFG", "Pakistan,AFG", "Code", "but Code is"),
    ("United States,USA,2019", ",47337,", ",4733x,", OPIOID, "not a number"),
    ("United States,USA,2019", ",47337,", ",-47337,", OPIOID, "negative"),
    ("United States,USA,2019", ",2019,", ",19,", "Year", "not a year"),
])
def test_gbd2019_bad_cell(tmp_path, starts, old, new, column, problem):
    line = line_of(DEATHS, starts)
    path = edited(tmp_path, DEATHS, replace_on(line, old, new))
    with pytest.raises(DataFormatError, match=problem) as err:
        load(path)
    assert_names(err, path, line, column)


def test_gbd2019_year_out_of_range_names_its_line(tmp_path):
    line = line_of(DEATHS, "United States,USA,2019")
    path = edited(tmp_path, DEATHS, replace_on(line, ",2019,", ",1017,"))
    with pytest.raises(DataFormatError, match="year 1017 out of range") as err:
        load(path)
    assert_names(err, path, line, "Year")
    first, last = year_range("gbd_deaths")
    assert err.value.expected == f"a year from {first} to {last}"


def test_gbd2019_renamed_and_missing_column(tmp_path):
    path = edited(tmp_path, DEATHS, replace_on(1, "Alcohol use disorders", "Alcohol disorders"))
    with pytest.raises(DataFormatError, match="missing or renamed") as err:
        load(path)
    assert_names(err, path, 1, ALCOHOL)

    drop = next(csv.reader([DEATHS.read_text().splitlines()[0]])).index(ALL_DRUG)

    def without_column(lines):
        out = []
        for text in lines:
            cells = next(csv.reader([text]))
            out.append(",".join(cells[:drop] + cells[drop + 1:]) + "\n")
        return out

    path = edited(tmp_path, DEATHS, without_column)
    with pytest.raises(DataFormatError, match="missing or renamed") as err:
        load(path)
    assert_names(err, path, 1, ALL_DRUG)


def test_gbd2019_truncated_mid_row(tmp_path):
    path = edited(tmp_path, DEATHS, lambda lines: lines[:-1] + [lines[-1][:30]])
    n = len(path.read_text().splitlines())
    with pytest.raises(DataFormatError, match="truncated") as err:
        load(path)
    cells = next(csv.reader([path.read_text().splitlines()[-1]]))
    header = next(csv.reader([DEATHS.read_text().splitlines()[0]]))
    assert_names(err, path, n, header[len(cells)])


def test_gbd2019_truncated_between_rows(tmp_path):
    path = edited(tmp_path, DEATHS, lambda lines: lines[:-1])  # last entity loses 2019
    end = len(path.read_text().splitlines())
    with pytest.raises(DataFormatError, match="cut short between rows") as err:
        load(path)
    assert_names(err, path, end, "Year")
    assert "[2019]" in str(err.value)


def test_gbd2019_cut_at_an_entity_boundary_misses_the_world(tmp_path):
    """A file cut between two entities passes the per-entity year check; it lacks the
    World (OWID sorts by name: "World" comes near the end), which is refused."""
    path = edited(tmp_path, DEATHS,
                  lambda lines: [ln for ln in lines if ",OWID_WRL," not in ln])
    end = len(path.read_text().splitlines())
    with pytest.raises(DataFormatError, match="no OWID_WRL \\(World\\) rows") as err:
        load(path)
    assert_names(err, path, end, "Code")


def test_gbd2019_utf16_and_invalid_byte(tmp_path):
    path = tmp_path / DEATHS.name
    path.write_bytes(DEATHS.read_text(encoding="utf-8").encode("utf-16"))
    with pytest.raises(DataFormatError, match="UTF-16") as err:
        load(path)
    assert_names(err, path, 1, "Entity")

    line = line_of(DEATHS, "Monaco,MCO,2018")
    data = DEATHS.read_bytes().splitlines(keepends=True)
    data[line - 1] = data[line - 1].replace(b"Monaco", b"Monac\xff", 1)
    path.write_bytes(b"".join(data))
    with pytest.raises(DataFormatError, match="not valid UTF-8") as err:
        load(path)
    assert_names(err, path, line, "Entity")


@pytest.mark.parametrize("case, line, column, problem", [
    ("missing", None, None, "the raw file of source 'owid_gbd2019_deaths'"),
    ("empty", 1, None, "the file is empty"),
    ("header_only", 2, None, "no data rows below the header"),
    ("extra_column", 1, "Extra", "unexpected column(s) ['Extra']"),
    ("semicolons", 1, "Entity", "missing or renamed column(s)"),
    ("utf16_no_bom", 1, "Entity", "not UTF-8 text (UTF-16?)"),
    ("latin1_byte", 2, "Entity", "byte b'\\xe9' is not valid UTF-8"),
])
def test_gbd2019_bad_input_matrix(tmp_path, case, line, column, problem):
    """A missing, empty or header-only file, an extra column (read with only=True), another
    delimiter or encoding: an error naming the file (line, column) and the problem."""
    path = bad_input(tmp_path, DEATHS, case, "owid_gbd2019_deaths")
    with pytest.raises(MATRIX_ERRORS[case]) as err:
        load(path)
    assert_bad_input(err, path, line, column, problem)


def test_gbd2019_duplicated_key_names_both_lines(tmp_path):
    copied = line_of(DEATHS, "Cook Islands,COK,2019")
    path = edited(tmp_path, DEATHS, lambda lines: lines + [lines[copied - 1]])
    n = len(path.read_text().splitlines())
    with pytest.raises(DataFormatError, match=f"lines {copied} and {n}") as err:
        load(path)
    assert_names(err, path, n, "Year")


def test_gbd2019_country_named_twice_under_two_codes_is_one_location_per_year(tmp_path):
    # "United Kingdom" is GBR; a second spelling with the same code is a duplicate location
    line = line_of(DEATHS, "United Kingdom,GBR,2019")
    path = edited(tmp_path, DEATHS, lambda lines: lines + [
        lines[line - 1].replace("United Kingdom", "UK", 1)])
    n = len(path.read_text().splitlines())
    with pytest.raises(DataFormatError, match=f"lines {line} and {n}") as err:
        load(path)
    assert_names(err, path, n, "Entity")


# ---------------------------------------------------------------- real data


def _owid(path: Path) -> tuple[list[str], list[dict]]:
    raw = rows(path)
    return [c for c in raw[0] if c.startswith("Deaths - ")], raw


@pytest.mark.realdata
def test_real_gbd2019_countries_are_the_2017_set_plus_nine(raw_file):
    _, raw = _owid(raw_file("owid_gbd2019_deaths"))
    codes = {r["Code"] for r in raw if r["Code"] and r["Code"] != "OWID_WRL"}
    gbd2017 = {c.iso3 for c in locations.countries(2017)}
    assert len(codes) == 204 and codes == gbd2017 | GBD2019_ADDED
    assert codes == {c.iso3 for c in locations.countries(2019)}
    for iso3, region in [("COK", "oceania"), ("KNA", "caribbean"), ("MCO", "western_europe")]:
        assert locations.region_of(iso3).id == f"GBD_R:{region}"


@pytest.mark.realdata
def test_real_gbd2019_world_opioid_deaths_2017(raw_file, tmp_path):
    # 82,634: printed in shared/data/README.md for this file (GBD 2017's file: 109,520)
    paths = [raw_file(s.id) for s in SOURCES.values() if s.table == "gbd_deaths"]
    out = build.build_table("gbd_deaths", out_dir=tmp_path, raw_dir=paths[0].parent,
                            progress=None)
    table = pd.read_parquet(out)
    world = table.query("location_id == 'WLD' and year == 2017 and measure == 'deaths' "
                        "and cause == 'opioid_use_disorders'").set_index("gbd_round")["value"]
    assert world[2019] == 82_634
    assert round(world[2017]) == 109_520
    assert set(table.query("gbd_round == 2019")["source"]) == {
        "owid_gbd2019_deaths", "owid_gbd2019_opioid_rate", "owid_gbd2019_drug_rate"}


@pytest.mark.realdata
def test_real_gbd2019_world_vs_sum_of_countries(raw_file):
    """Measured on the pinned file: the world row is never below the sum of the 204
    countries and exceeds it by at most 0.41 % (cocaine; opioids at most 0.043 %, 8-26
    deaths); it equals the sum in 2 of 180 cause-years (other drugs 1995, amphetamines
    2012). Values are printed as whole numbers, so rounding alone can explain a few deaths
    either way; the positive excess is IHME's total counting more than the listed
    countries (as in the GBD 2017 file)."""
    path = raw_file("owid_gbd2019_deaths")
    frame, log = load(path)
    countries = frame[frame["location_level"] == "country"]
    world = frame[frame["location_id"] == "WLD"].set_index(["cause", "year"])["value"]
    total = countries.groupby(["cause", "year"])["value"].sum()
    excess = (world - total).dropna()
    assert len(excess) == 6 * 30
    assert (excess >= 0).all()
    assert (excess / world <= 0.0041).all()
    opioid = excess.loc["opioid_use_disorders"]
    assert opioid.between(8, 26).all() and (opioid / world.loc["opioid_use_disorders"]
                                            <= 0.00043).all()
    assert sorted(excess[excess == 0].index) == [("amphetamine_use_disorders", 2012),
                                                 ("other_drug_use_disorders", 1995)]
    assert len(log.entries) == 23 * 30  # 23 uncoded entities x 30 years, all dropped
