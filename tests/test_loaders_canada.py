"""PHAC opioid- and stimulant-related harms -> ``canada_opioid_deaths``.

The fixture ``phac_harms_sample.csv`` is real lines copied byte for byte from the pinned
raw file (header, Canada and provincial counts by year and quarter with "Suppr." and "n/a",
the 2025 partial year, type-of-opioid and origin percents, and one row of several left-out
categories). Bad inputs are edits of it in ``tmp_path``; expected values are read from the
fixture with the ``csv`` module, never typed in.
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

from burden.data import build
from burden.data.cleaning import CleaningLog, DataFormatError
from burden.data.loaders import phac
from burden.data.schemas import year_range

FIXTURE = Path(__file__).parent / "fixtures" / "phac_harms_sample.csv"
SOURCE_ID = "phac_harms"


def _load(path: Path) -> tuple[pd.DataFrame, CleaningLog]:
    log = CleaningLog(source=SOURCE_ID, file=path.name)
    return phac.load(path, log, SOURCE_ID), log


def _rows(path: Path = FIXTURE) -> list[tuple[int, dict]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(enumerate(csv.DictReader(f), start=2))


def _line_of(starts: str) -> int:
    return line_of(FIXTURE, starts)


def _edited(tmp_path: Path, edit, encoding: str = "utf-8") -> Path:
    return edited(tmp_path, FIXTURE, edit, encoding)


CANADA_2024 = "Opioids,Deaths,Overall numbers,Canada,1,By year,2024,,,Number"
FENTANYL_2018 = "Opioids,Deaths,Type of opioids,Canada,1,By year,2018,2018,Fentanyl"


# ---------------------------------------------------------------- what the fixture gives


def test_fixture_counts_percents_and_schema():
    frame, _ = _load(FIXTURE)
    build.validate("canada_opioid_deaths", frame)
    raw = {(r["Region"], r["Year_Quarter"], r["Specific_Measure"], r["Disaggregator"],
            r["Unit"]): r["Value"] for _, r in _rows()}
    can = frame.query("location_id == 'CAN' and measure == 'deaths' and quarter.isna()")
    assert can.set_index("year")["value"][2024] == float(
        raw["Canada", "2024", "Overall numbers", "", "Number"])
    assert set(frame["definition"]) == {phac.DEFINITION} == {"certified_overdose"}
    fentanyl = frame.query("measure == 'percent_by_opioid_type' and category == 'fentanyl' "
                           "and year == 2018")
    assert fentanyl["value"].tolist() == [float(
        raw["Canada", "2018", "Type of opioids", "Fentanyl", "Percent"])]
    assert set(fentanyl["unit"]) == {"percent"}
    origin = frame.query("measure == 'percent_by_origin' and year == 2018")
    assert set(origin["category"]) == {"pharmaceutical_only", "non_pharmaceutical_only",
                                       "both", "undetermined"}
    assert set(frame["location_id"]) == {"CAN", "CA-BC", "CA-ON", "CA-YT", "CA-NU"}
    levels = frame.drop_duplicates("location_id").set_index("location_id")["location_level"]
    assert levels.to_dict() == {"CAN": "country", "CA-BC": "province", "CA-ON": "province",
                                "CA-YT": "territory", "CA-NU": "territory"}


def test_partial_year_and_quarters():
    frame, _ = _load(FIXTURE)
    year_2025 = frame.query("location_id == 'CAN' and year == 2025 and quarter.isna()")
    assert year_2025["partial_year"].tolist() == [True]
    assert year_2025["period_end_month"].tolist() == [9]
    full = frame.query("year == 2024 and quarter.isna()")
    assert not full["partial_year"].any() and set(full["period_end_month"]) == {12}
    quarters = frame.query("location_id == 'CAN' and quarter.notna()")
    assert sorted(zip(quarters["year"], quarters["quarter"], quarters["period_end_month"],
                      strict=True)) == [(2016, 1, 3), (2016, 2, 6), (2025, 1, 3), (2025, 2, 6),
                                        (2025, 3, 9)]
    assert not quarters["partial_year"].any()


def test_suppressed_and_not_available_kept_as_missing_and_flagged():
    frame, log = _load(FIXTURE)
    markers = [(line, r["Value"]) for line, r in _rows() if r["Value"] in phac.MARKERS
               and (r["Specific_Measure"], r["Unit"]) in phac.KEPT and r["Source"] == "Deaths"
               and r["Substance"] == "Opioids"]
    flagged = log.to_frame().query("action == 'flagged'")
    assert sorted(zip(flagged["line"], flagged["original"], strict=True)) == sorted(markers)
    assert set(flagged["column"]) == {"Value"}
    nunavut = frame.query("location_id == 'CA-NU' and measure == 'deaths'").set_index("year")
    assert nunavut["status"].to_dict() == {2018: "published", 2019: "suppressed",
                                           2020: "suppressed", 2024: "not_available",
                                           2025: "not_available"}
    assert nunavut["value"].isna().tolist() == [False, True, True, True, True]
    assert (frame["status"] == "published").sum() + len(markers) == len(frame)


def test_left_out_categories_one_log_entry_each_with_counts():
    frame, log = _load(FIXTURE)
    dropped = log.to_frame().query("action == 'dropped'")
    assert set(dropped["original"]) == {
        "Stimulants", "Hospitalizations", "Emergency Department (ED) Visits",
        "Emergency Medical Services (EMS)", "Overall numbers (Crude rate)",
        "Manner of death (Percent)", "Sex (Percent)"}
    assert len(dropped) == 7  # one entry per category
    crude = dropped.query("original == 'Overall numbers (Crude rate)'")
    assert "2 rows" in crude["reason"].item() and crude["line"].item() == 2
    # every data line is either a table row or counted in an exclusion entry
    counted = dropped["record"].str.extract(r"(\d+) rows")[0].astype(int).sum()
    assert len(frame) + counted == len(_rows())


# ---------------------------------------------------------------- bad input


def test_utf16_is_refused(tmp_path):
    path = _edited(tmp_path, lambda lines: lines, encoding="utf-16")
    with pytest.raises(DataFormatError, match="UTF-16") as err:
        _load(path)
    assert_names(err, path, 1, "Substance")


def test_invalid_byte_is_refused(tmp_path):
    line = _line_of(CANADA_2024)
    data = FIXTURE.read_bytes().split(b"\n")
    data[line - 1] = data[line - 1].replace(b"Canada", b"Can\xe9da")
    path = tmp_path / FIXTURE.name
    path.write_bytes(b"\n".join(data))
    with pytest.raises(DataFormatError, match="not valid UTF-8") as err:
        _load(path)
    assert_names(err, path, line, "Region")


@pytest.mark.parametrize("case, line, column, problem", [
    ("missing", None, None, "the raw file of source 'phac_harms'"),
    ("empty", 1, None, "the file is empty"),
    ("header_only", 2, None, "no opioid death rows below the header"),
    ("extra_column", 1, "Extra", "unexpected column(s) ['Extra']"),
    ("semicolons", 1, "Substance", "missing or renamed column(s)"),
    ("utf16_no_bom", 1, "Substance", "not UTF-8 text (UTF-16?)"),
    ("latin1_byte", 2, "Substance", "byte b'\\xe9' is not valid UTF-8"),
])
def test_bad_input_matrix(tmp_path, case, line, column, problem):
    """A missing, empty or header-only file, an extra column (read with only=True), another
    delimiter or encoding: an error naming the file (line, column) and the problem."""
    path = bad_input(tmp_path, FIXTURE, case, SOURCE_ID)
    with pytest.raises(MATRIX_ERRORS[case]) as err:
        _load(path)
    assert_bad_input(err, path, line, column, problem)


@pytest.mark.parametrize("old, new, column", [
    ("Specific_Measure", "Measure", "Specific_Measure"),
    (",Value", ",Count", "Value"),
])
def test_renamed_column(tmp_path, old, new, column):
    path = _edited(tmp_path, replace_on(1, old, new))
    with pytest.raises(DataFormatError, match="missing or renamed") as err:
        _load(path)
    assert_names(err, path, 1, column)


def test_truncated_mid_row(tmp_path):
    line = _line_of(FENTANYL_2018)
    path = _edited(tmp_path, lambda lines: lines[:line - 1] + [lines[line - 1][:45]])
    with pytest.raises(DataFormatError, match="truncated") as err:
        _load(path)
    assert_names(err, path, line, "Year_Quarter")  # the first column the row lacks


def test_truncated_between_rows_is_read_but_loses_nothing_silently(tmp_path):
    # a file cut at a line end is valid CSV: the loader reads what is there, and the
    # left-out categories still account for every line that is present
    line = _line_of(FENTANYL_2018)
    path = _edited(tmp_path, lambda lines: lines[:line])
    frame, log = _load(path)
    counted = log.to_frame().query("action == 'dropped'")["record"].str.extract(
        r"(\d+) rows")[0].astype(int).sum()
    assert len(frame) + counted == line - 1


def test_truncated_inside_quoted_cell(tmp_path):
    path = _edited(tmp_path, lambda lines: lines + ['Opioids,Deaths,"Overall numbers'])
    last = len(path.read_text().splitlines())
    with pytest.raises(DataFormatError, match="unreadable CSV|truncated") as err:
        _load(path)
    # the cut row (3 cells: Substance, Source, Specific_Measure) lacks Region onwards
    assert_names(err, path, last, "Region")


@pytest.mark.parametrize("new, problem", [("73x", "not a number"), ("-73", "negative"),
                                          ("173", "percent above 100")])
def test_bad_percent_value(tmp_path, new, problem):
    line = _line_of(FENTANYL_2018)
    path = _edited(tmp_path, replace_on(line, ",Percent,71", f",Percent,{new}"))
    with pytest.raises(DataFormatError, match=problem) as err:
        _load(path)
    assert_names(err, path, line, "Value")


@pytest.mark.parametrize("new, problem", [("7x13", "not a number"), ("-7313", "negative")])
def test_bad_count(tmp_path, new, problem):
    line = _line_of(CANADA_2024)
    path = _edited(tmp_path, replace_on(line, ",Number,7313", f",Number,{new}"))
    with pytest.raises(DataFormatError, match=problem) as err:
        _load(path)
    assert_names(err, path, line, "Value")


def test_duplicated_key_names_both_lines(tmp_path):
    line = _line_of(CANADA_2024)
    path = _edited(tmp_path, lambda lines: lines + [lines[line - 1]])
    last = len(path.read_text().splitlines())
    with pytest.raises(DataFormatError, match=f"lines {line} and {last}") as err:
        _load(path)
    assert_names(err, path, last, "Year_Quarter")


@pytest.mark.parametrize("starts, old, new, column", [
    (CANADA_2024, "Canada,1", "Atlantis,1", "Region"),  # unknown region
    (CANADA_2024, "Canada,1", "Canada,35", "PRUID"),  # PRUID of another region
    (CANADA_2024, "By year,2024", "By year,2024 Q1", "Year_Quarter"),
    (FENTANYL_2018, "Fentanyl,", "Heroin,", "Disaggregator"),  # unknown breakdown
    (FENTANYL_2018, "Opioids,Deaths", "Opioids,Coroner reports", "Source"),
    (FENTANYL_2018, "Opioids,Deaths", "Cannabis,Deaths", "Substance"),
    (FENTANYL_2018, ",Percent,", ",Per cent,", "Unit"),
    (FENTANYL_2018, "2018,2018", "2018,2019", "Aggregator"),
])
def test_unknown_label(tmp_path, starts, old, new, column):
    line = _line_of(starts)
    path = _edited(tmp_path, replace_on(line, old, new))
    with pytest.raises(DataFormatError) as err:
        _load(path)
    assert_names(err, path, line, column)


@pytest.mark.parametrize("starts, old, new, cell", [
    (CANADA_2024, "By year,2024", "By year,1916", "1916"),
    (FENTANYL_2018, "2018,2018", "1918,1918", "1918"),  # a breakdown: Aggregator = period
    ("Opioids,Deaths,Overall numbers,Canada,1,By quarter,2016 Q1", "2016 Q1", "1916 Q1",
     "1916 Q1"),
])
def test_year_out_of_range_names_its_line(tmp_path, starts, old, new, cell):
    line = _line_of(starts)
    path = _edited(tmp_path, replace_on(line, old, new))
    with pytest.raises(DataFormatError, match=f"year {cell[:4]} out of range: {cell!r}") as err:
        _load(path)
    assert_names(err, path, line, "Year_Quarter")
    first, last = year_range("canada_opioid_deaths")
    assert err.value.expected == f"a year from {first} to {last}"


# ---------------------------------------------------------------- real data


@pytest.mark.realdata
def test_real_file_provinces_add_up_to_canada_and_percents_in_range(raw_file, tmp_path):
    path = raw_file(SOURCE_ID)
    out = build.build_table("canada_opioid_deaths", out_dir=tmp_path, raw_dir=path.parent,
                            progress=None)
    table = pd.read_parquet(out)
    annual = table.query("measure == 'deaths' and quarter.isna()")
    canada = annual.query("location_id == 'CAN'").set_index("year")["value"]
    shown = canada.to_dict()
    assert all(canada.get(y, float("nan")) > 0 for y in range(2016, 2025)), shown
    assert len(annual.query("location_id != 'CAN'")["location_id"].unique()) == 13
    provinces = annual.query("location_id != 'CAN'")
    summed = provinces.groupby("year")["value"].sum()  # NaN (suppressed, n/a) skipped
    missing = provinces[provinces["value"].isna()].groupby("year")["location_id"].apply(list)
    # Measured: Canada's annual count equals the sum of the published provincial and
    # territorial counts exactly, every year 2016-2025 -- even in the years where Nunavut is
    # suppressed (2019-2022) or not available (2024, 2025 Jan-Sep).
    assert (summed == canada).all(), pd.DataFrame({"canada": canada, "sum": summed,
                                                   "missing": missing})
    assert missing.to_dict() == {y: ["CA-NU"] for y in (2019, 2020, 2021, 2022, 2024, 2025)}
    assert canada.index.max() == 2025
    assert annual.query("year == 2025")["partial_year"].all()
    percents = table.query("unit == 'percent'")["value"].dropna()
    types = table.query("measure == 'percent_by_opioid_type'")["value"].dropna()
    assert types.between(0, 100).all() and percents.between(0, 100).all()
    assert len(types) > 300
    # fentanyl involvement in Canada is a majority every year
    fentanyl = table.query("location_id == 'CAN' and category == 'fentanyl'")
    assert set(range(2016, 2025)) <= set(fentanyl["year"]), sorted(set(fentanyl["year"]))
    assert (fentanyl["value"] > 50).all(), fentanyl[["year", "value"]]
    log = pd.read_csv(tmp_path / "canada_opioid_deaths.cleaning_log.csv")
    assert (log["action"] == "dropped").sum() == 12  # one per left-out category
    assert (log["action"] == "flagged").sum() == table["value"].isna().sum()
