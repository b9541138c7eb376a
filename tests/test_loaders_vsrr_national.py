"""The national VSRR series of a later release, January 2015 - April 2025 (``vsrr`` loader,
``us_provisional_national`` table).

``vsrr_national_sample.csv`` holds real lines of the pinned extract: the header and the 12
indicators of the 12 months ending December 2017 and April 2025 (the latter footnoted
"Underreported due to incomplete data"). Its column order is the newer one (``Period``,
``State Name`` after the values, ``Footnote Symbol``, ``Predicted Value`` last). Bad inputs
are edits of it in ``tmp_path``; expected values are read with the csv module.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import pandas as pd
import pytest
from loader_helpers import (
    MATRIX_ERRORS,
    assert_bad_input,
    assert_names,
    bad_input,
    line_of,
    replace_on,
)
from loader_helpers import csv_dicts as rows
from loader_helpers import edited as shared_edited

from burden.data import build
from burden.data.cleaning import CleaningLog, DataFormatError
from burden.data.loaders import vsrr
from burden.data.schemas import TABLES, year_range
from burden.registry.causes import CAUSES, INDICATORS

FIXTURES = Path(__file__).parent / "fixtures"
NATIONAL = FIXTURES / "vsrr_national_sample.csv"
SOURCE = "vsrr_national"
ANY_OPIOID_2017 = 'US,2017,December,12 month-ending,"Opioids'


def load(path: Path, source_id: str = SOURCE):
    log = CleaningLog(source=source_id, file=path.name)
    return vsrr.load(path, log, source_id), log


def number(text: str) -> float:
    return float(text.replace(",", "")) if text else math.nan


def edited(tmp_path: Path, edit, fixture: Path = NATIONAL) -> Path:
    return shared_edited(tmp_path, fixture, edit)


def columns_edited(change):
    """Apply ``change(list of cells) -> list of cells`` to every line (header too)."""
    def edit(lines):
        out = []
        for text in lines:
            cells = change(next(csv.reader([text])))
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="\n").writerow(cells)
            out.append(buffer.getvalue())
        return out
    return edit


# ---------------------------------------------------------------- the fixture


def test_national_fixture_values_flags_and_log():
    frame, log = load(NATIONAL)
    TABLES["us_provisional_national"].schema.validate(frame)
    raw = rows(NATIONAL)
    assert len(frame) == len(raw) == 24
    assert set(frame["location_id"]) == {"US"} and set(frame["location_level"]) == {"country"}
    assert set(frame["indicator"]) == set(vsrr.INDICATOR_LABELS.values())
    assert set(frame["indicator"]) <= set(CAUSES) | set(INDICATORS)
    assert set(frame["definition"]) == {"certified_overdose"}
    for r, (_, out) in zip(raw, frame.iterrows(), strict=True):
        assert out["indicator"] == vsrr.INDICATOR_LABELS[r["Indicator"]]
        assert out["value"] == number(r["Data Value"])  # "14,069" -> 14069.0
        predicted = number(r["Predicted Value"])
        assert (math.isnan(out["predicted_value"]) and math.isnan(predicted)) or (
            out["predicted_value"] == predicted)
        assert out["percent_pending"] == float(r["Percent Pending Investigation"])
        assert out["underreported"] == (r["Footnote"] == "Underreported due to incomplete data.")
    assert frame.query("indicator == 'natural_semisynthetic_synthetic_opioids'").shape[0] == 2
    expected = sorted([(i, "Predicted Value") for i, r in enumerate(raw, 2)
                       if not r["Predicted Value"]]
                      + [(i, "Footnote") for i, r in enumerate(raw, 2)
                         if r["Footnote"].startswith("Underreported")])
    assert sorted((e["line"], e["column"]) for e in log.entries) == expected
    assert {e["action"] for e in log.entries} == {"flagged"}


def test_both_column_orders_give_the_same_rows(tmp_path):
    frame, _ = load(NATIONAL)
    header = next(csv.reader([NATIONAL.read_text().splitlines()[0]]))
    old_order = ["State", "State Name", "Year", "Month", "Indicator", "Data Value",
                 "Predicted Value", "Percent Complete", "Percent Pending Investigation",
                 "Footnote", "Period", "Footnote Symbol"]
    order = [header.index(c) for c in old_order]
    path = edited(tmp_path, columns_edited(lambda cells: [cells[i] for i in order]))
    reordered, _ = load(path)
    pd.testing.assert_frame_equal(reordered, frame)


def test_national_and_2018_files_have_the_same_columns():
    national, _ = load(NATIONAL)
    older, _ = load(FIXTURES / "vsrr_sample.csv", "vsrr_provisional")
    assert list(national.columns) == list(older.columns)
    assert set(older["source"]) == {"vsrr_provisional"} and set(national["source"]) == {SOURCE}


# ---------------------------------------------------------------- bad inputs


@pytest.mark.parametrize("old, new, column, problem", [
    (',"47,885",', ',"47,88x",', "Data Value", "not a number"),
    (',"47,885",', ',"-47,885",', "Data Value", "negative"),
    (',"47,885",', ',"47,88",', "Data Value", "comma or space must separate"),  # was read as 4788
    (',"48,406"', ',"48,4o6"', "Predicted Value", "not a number"),
    (",0.142977,", ",142.977,", "Percent Pending Investigation", "percent above 100"),
    ("US,2017,", "NY,2017,", "State", "jurisdiction 'NY'"),  # a state row in the extract
    ("US,2017,", "XX,2017,", "State", "jurisdiction 'XX'"),
    ("December", "Dec", "Month", "unknown Month"),
    ("12 month-ending", "1 month-ending", "Period", "unknown Period"),
    ("2017,", "17,", "Year", "not a year"),
])
def test_national_bad_cell(tmp_path, old, new, column, problem):
    line = line_of(NATIONAL, ANY_OPIOID_2017)
    path = edited(tmp_path, replace_on(line, old, new))
    with pytest.raises(DataFormatError, match=problem) as err:
        load(path)
    assert_names(err, path, line, column)


def test_year_out_of_range_names_its_line(tmp_path):
    """Four digits but outside the table's years: an error naming the cell, not the schema
    check of the combined table later (nor "file cut short" from the month grid)."""
    line = line_of(NATIONAL, ANY_OPIOID_2017)
    path = edited(tmp_path, replace_on(line, "US,2017,", "US,1916,"))
    with pytest.raises(DataFormatError, match="year 1916 out of range") as err:
        load(path)
    assert_names(err, path, line, "Year")
    first, last = year_range("us_provisional_national")
    assert err.value.expected == f"a year from {first} to {last}"


def test_unknown_indicator_lists_the_known_labels(tmp_path):
    line = line_of(NATIONAL, ANY_OPIOID_2017)
    path = edited(tmp_path, replace_on(line, "Opioids (T40.0-T40.4,T40.6)", "Opioids (T40)"))
    with pytest.raises(DataFormatError, match="unknown Indicator") as err:
        load(path)
    assert_names(err, path, line, "Indicator")
    for label in vsrr.INDICATOR_LABELS:
        assert repr(label) in str(err.value)


@pytest.mark.parametrize("column", ["Predicted Value", "Percent Pending Investigation"])
def test_renamed_and_missing_column(tmp_path, column):
    path = edited(tmp_path, replace_on(1, column, column + " (adj)"))
    with pytest.raises(DataFormatError, match="missing or renamed") as err:
        load(path)
    assert_names(err, path, 1, column)

    index = next(csv.reader([NATIONAL.read_text().splitlines()[0]])).index(column)
    path = edited(tmp_path, columns_edited(lambda cells: cells[:index] + cells[index + 1:]))
    with pytest.raises(DataFormatError, match="missing or renamed") as err:
        load(path)
    assert_names(err, path, 1, column)


def test_repeated_column_name_is_refused(tmp_path):
    """Two columns named "Footnote": reading by name would take the last one (the footnote
    symbol), so no row would be marked underreported. The header is an error instead."""
    path = edited(tmp_path, replace_on(1, "Footnote Symbol", "Footnote"))
    with pytest.raises(DataFormatError, match="repeated column name 'Footnote'") as err:
        load(path)
    assert_names(err, path, 1, "Footnote")


def test_truncated_mid_row(tmp_path):
    path = edited(tmp_path, lambda lines: lines[:-1] + [lines[-1][:60]])
    n = len(path.read_text().splitlines())
    cut = next(csv.reader([path.read_text().splitlines()[-1]]))
    header = next(csv.reader([NATIONAL.read_text().splitlines()[0]]))
    with pytest.raises(DataFormatError, match="truncated") as err:
        load(path)
    assert_names(err, path, n, header[len(cut)])


def test_truncated_between_rows(tmp_path):
    path = edited(tmp_path, lambda lines: lines[:-1])  # one indicator loses April 2025
    lost = rows(NATIONAL)[-1]["Indicator"]
    first = line_of(NATIONAL, "US,2017,December,12 month-ending,"
                    + ('"' if "," in lost else "") + lost)
    with pytest.raises(DataFormatError, match="cut short between rows") as err:
        load(path)
    assert_names(err, path, first, "Month")
    assert "04/2025" in str(err.value)


def test_indicator_missing_altogether(tmp_path):
    path = edited(tmp_path, lambda lines: [t for t in lines if "Methadone (T40.3)" not in t])
    with pytest.raises(DataFormatError, match="no rows for indicator") as err:
        load(path)
    assert_names(err, path, len(path.read_text().splitlines()), "Indicator")


def test_utf16_and_invalid_byte(tmp_path):
    path = tmp_path / NATIONAL.name
    path.write_bytes(NATIONAL.read_text(encoding="utf-8").encode("utf-16"))
    with pytest.raises(DataFormatError, match="UTF-16") as err:
        load(path)
    assert_names(err, path, 1, "State")

    line = line_of(NATIONAL, ANY_OPIOID_2017)
    data = NATIONAL.read_bytes().splitlines(keepends=True)
    data[line - 1] = data[line - 1].replace(b"United States", b"United St\xe4tes", 1)
    path.write_bytes(b"".join(data))
    with pytest.raises(DataFormatError, match="not valid UTF-8") as err:
        load(path)
    assert_names(err, path, line, "State Name")


@pytest.mark.parametrize("case, line, column, problem", [
    ("missing", None, None, "the raw file of source 'vsrr_national'"),
    ("empty", 1, None, "the file is empty"),
    ("header_only", 2, None, "no data rows below the header"),
    ("semicolons", 1, "State", "missing or renamed column(s)"),
    ("utf16_no_bom", 1, "State", "not UTF-8 text (UTF-16?)"),
    ("latin1_byte", 2, "State", "byte b'\\xe9' is not valid UTF-8"),
])
def test_bad_input_matrix(tmp_path, case, line, column, problem):
    """A missing, empty or header-only file, another delimiter or encoding: an error naming
    the file (line, column) and the problem. No extra-column case: columns are found by
    name and the releases hold columns the loader does not read (State Name, Footnote
    Symbol), so another one is read past, not refused."""
    path = bad_input(tmp_path, NATIONAL, case, SOURCE)
    with pytest.raises(MATRIX_ERRORS[case]) as err:
        load(path)
    assert_bad_input(err, path, line, column, problem)


def test_duplicated_key_names_both_lines(tmp_path):
    line = line_of(NATIONAL, ANY_OPIOID_2017)
    path = edited(tmp_path, lambda lines: lines + [lines[line - 1]])
    n = len(path.read_text().splitlines())
    with pytest.raises(DataFormatError, match=f"lines {line} and {n}") as err:
        load(path)
    assert_names(err, path, n, vsrr.KEY_COLUMNS)


def test_blank_data_value_kept_as_nan_and_flagged(tmp_path):
    line = line_of(NATIONAL, ANY_OPIOID_2017)
    path = edited(tmp_path, replace_on(line, ',"47,885",', ",,"))
    frame, log = load(path)
    assert frame["value"].isna().sum() == 1
    assert [(e["line"], e["action"]) for e in log.entries if e["column"] == "Data Value"] == [
        (line, "flagged")]


# ---------------------------------------------------------------- real data


def _months(frame: pd.DataFrame) -> list[tuple[int, int]]:
    return sorted(set(zip(frame["year"], frame["month"], strict=True)))


@pytest.mark.realdata
def test_real_national_series(raw_file):
    path = raw_file(SOURCE)
    frame, log = load(path)
    TABLES["us_provisional_national"].schema.validate(frame)
    raw = rows(path)
    assert len(frame) == len(raw) == 1_488
    assert frame["indicator"].nunique() == 12
    expected = [(y, m) for y in range(2015, 2026) for m in range(1, 13)
                if (y, m) <= (2025, 4)]
    assert len(expected) == 124 and _months(frame) == expected
    assert (frame.groupby("indicator").size() == 124).all()
    footnoted = [r["Footnote"] == "Underreported due to incomplete data." for r in raw]
    assert frame["underreported"].tolist() == footnoted
    assert sum(footnoted) == 192  # every row of 2024 and 2025 (16 months x 12 indicators)
    assert set(frame.loc[frame["underreported"], "year"]) == {2024, 2025}
    assert frame["value"].notna().all()
    blank_predicted = sum(not r["Predicted Value"] for r in raw)
    assert frame["predicted_value"].isna().sum() == blank_predicted == 248
    assert set(frame.loc[frame["predicted_value"].isna(), "indicator"]) == {
        "all_deaths", "percent_specified"}
    assert len(log.entries) == blank_predicted + sum(footnoted)


@pytest.mark.realdata
def test_real_releases_overlap_and_the_later_one_revised_values(raw_file):
    """Both files publish the US series for the 12 months ending January 2015 - March 2018
    (10 indicators x 39 months = 390 values). Measured: 232 of the 390 Data Values are
    equal, the rest revised (e.g. any opioid, 12 months ending December 2017: 47,944 in the
    2018 release, 47,885 in the later one); both kept, told apart by ``source``."""
    national, _ = load(raw_file(SOURCE))
    log = CleaningLog(source="vsrr_provisional", file="x")
    older = vsrr.load(raw_file("vsrr_provisional"), log, "vsrr_provisional")
    older = older[older["location_id"] == "US"]
    key = ["year", "month", "indicator"]
    both = older.merge(national, on=key, suffixes=("_2018", "_later"))
    assert len(both) == 390 and both["indicator"].nunique() == 10
    assert (both["value_2018"] == both["value_later"]).sum() == 232
    dec2017 = both.query("year == 2017 and month == 12 and indicator == 'any_opioid'")
    old_raw = next(r for r in rows(raw_file("vsrr_provisional"))
                   if (r["State"], r["Year"], r["Month"], r["Indicator"])
                   == ("US", "2017", "December", "Opioids (T40.0-T40.4,T40.6)"))
    new_raw = next(r for r in rows(raw_file(SOURCE))
                   if (r["Year"], r["Month"], r["Indicator"])
                   == ("2017", "December", "Opioids (T40.0-T40.4,T40.6)"))
    assert dec2017["value_2018"].item() == number(old_raw["Data Value"]) == 47_944
    assert dec2017["value_later"].item() == number(new_raw["Data Value"]) == 47_885
    stacked = pd.concat([older, national], ignore_index=True)
    assert not stacked.duplicated(["location_id", *key, "source"]).any()


@pytest.mark.realdata
def test_real_national_table_builds(raw_file, tmp_path):
    path = raw_file(SOURCE)
    out = build.build_table("us_provisional_national", out_dir=tmp_path,
                            raw_dir=path.parent, progress=None)
    assert len(pd.read_parquet(out)) == 1_488
    log = pd.read_csv(tmp_path / "us_provisional_national.cleaning_log.csv")
    assert len(log) == 440 and set(log["action"]) == {"flagged"}
