"""US loaders: NIDA tables, CDC VSRR provisional counts, CDC WONDER county export.

Fixtures (tests/fixtures/) are real lines copied byte for byte from the pinned raw files
(registry.sources): ``nida_deaths_sample.csv`` and ``nida_rates_sample.csv`` (Windows-1252,
CRLF, title rows, footnotes), ``vsrr_sample.csv``, ``wonder_sample.txt`` (with its footer).
Variants (blank cells, bad bytes, duplicates, ...) are derived from them in ``tmp_path``.
Expected values are read from the same files with a plain ``csv`` reader, never typed in.
"""

from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path

import pandas as pd
import pytest
from loader_helpers import MATRIX_ERRORS, assert_bad_input, bad_input

from burden.data.cleaning import CleaningLog, DataFormatError
from burden.data.loaders import nida, vsrr, wonder
from burden.data.schemas import TABLES
from burden.registry.causes import CAUSES

FIXTURES = Path(__file__).parent / "fixtures"
NIDA_DEATHS = FIXTURES / "nida_deaths_sample.csv"
NIDA_RATES = FIXTURES / "nida_rates_sample.csv"
VSRR = FIXTURES / "vsrr_sample.csv"
WONDER = FIXTURES / "wonder_sample.txt"


def run(loader, path: Path, source_id: str) -> tuple[pd.DataFrame, CleaningLog]:
    log = CleaningLog(source=source_id, file=path.name)
    return loader.load(path, log, source_id), log


def variant(tmp_path: Path, fixture: Path, edit, *, encoding: str = "cp1252") -> Path:
    """A copy of ``fixture`` with its lines (text, endings kept) passed through ``edit``."""
    lines = fixture.read_bytes().decode(encoding).splitlines(keepends=True)
    out = tmp_path / fixture.name
    out.write_bytes("".join(edit(lines)).encode(encoding))
    return out


def replace_line(number: int, old: str, new: str):
    def edit(lines):
        assert old in lines[number - 1], f"fixture line {number} changed: {lines[number - 1]!r}"
        lines[number - 1] = lines[number - 1].replace(old, new, 1)
        return lines
    return edit


def assert_names(exc: pytest.ExceptionInfo, path: Path, line: int, column: str) -> None:
    message = str(exc.value)
    assert path.name in message
    assert f"line {line}" in message, message
    assert f"column {column!r}" in message, message


# ---- plain-csv oracles -----------------------------------------------------------------

def nida_grid(path: Path) -> tuple[dict[str, int], list[tuple[int, list[str]]]]:
    """({year: column}, [(line, cells)]) of a NIDA file read with the csv module only."""
    rows = list(csv.reader(io.StringIO(path.read_bytes().decode("cp1252"), newline="")))
    header = next(r for r in rows if "1999" in [c.strip() for c in r])
    years = {c.strip(): i for i, c in enumerate(header) if re.fullmatch(r"\d{4}", c.strip())}
    return years, list(enumerate(rows, start=1))


def nida_cell(path: Path, line: int, year: int) -> float:
    years, rows = nida_grid(path)
    return float(rows[line - 1][1][years[str(year)]].replace(",", ""))


def line_of(path: Path, startswith: str, encoding: str = "cp1252") -> int:
    lines = path.read_bytes().decode(encoding).splitlines()
    return next(i for i, text in enumerate(lines, 1) if text.startswith(startswith))


def value(frame: pd.DataFrame, **keys) -> float:
    mask = pd.Series(True, index=frame.index)
    for column, wanted in keys.items():
        mask &= frame[column] == wanted
    assert mask.sum() == 1, f"{mask.sum()} rows for {keys}"
    return float(frame.loc[mask, "value"].iloc[0])


# ---- checks every US loader makes ------------------------------------------------------

#: loader name -> (module, fixture, source id, fixture encoding)
LOADERS = {
    "nida": (nida, NIDA_DEATHS, "nida_deaths", "cp1252"),
    "vsrr": (vsrr, VSRR, "vsrr_provisional", "utf-8"),
    "wonder": (wonder, WONDER, "wonder_county", "utf-8"),
}


@pytest.mark.parametrize("name, column", [("nida", "A"), ("vsrr", "State"),
                                          ("wonder", "Notes")])
def test_utf16_is_refused(tmp_path, name, column):
    loader, fixture, source_id, encoding = LOADERS[name]
    path = tmp_path / fixture.name
    path.write_bytes(fixture.read_bytes().decode(encoding).encode("utf-16"))
    with pytest.raises(DataFormatError, match="UTF-16") as exc:
        run(loader, path, source_id)
    assert_names(exc, path, 1, column)


@pytest.mark.parametrize("name, old, new, column", [
    ("vsrr", "Data Value", "Value", "Data Value"),
    ("wonder", "\tDeaths\t", "\tDeath Count\t", "Deaths"),
])
def test_renamed_column(tmp_path, name, old, new, column):
    loader, fixture, source_id, encoding = LOADERS[name]
    path = variant(tmp_path, fixture, replace_line(1, old, new), encoding=encoding)
    with pytest.raises(DataFormatError, match="missing or renamed") as exc:
        run(loader, path, source_id)
    assert_names(exc, path, 1, column)


@pytest.mark.parametrize("name, old, new, column", [
    ("vsrr", "State Name", "Footnote", "Footnote"),
    # the rate's standard error renamed as the rate: the last column of a name was read
    ("wonder", "\tCrude Rate Standard Error\t", "\tCrude Rate\t", "Crude Rate"),
])
def test_repeated_column_name_is_refused(tmp_path, name, old, new, column):
    loader, fixture, source_id, encoding = LOADERS[name]
    path = variant(tmp_path, fixture, replace_line(1, old, new), encoding=encoding)
    with pytest.raises(DataFormatError, match=f"repeated column name {column!r}") as exc:
        run(loader, path, source_id)
    assert_names(exc, path, 1, column)


@pytest.mark.parametrize("name, starts, old, new, problem, column", [
    ("nida", ",Heroin4,", '"1,960"', '"1,9x0"', "not a number", "1999"),
    ("nida", ",Heroin4,", '"1,960"', '"-1,960"', "negative", "1999"),
    ("vsrr", 'US,US,2017,December,"Opioids', ",47944,", ",47x44,", "not a number",
     "Data Value"),
    ("vsrr", 'US,US,2017,December,"Opioids', ",47944,", ",-47944,", "negative", "Data Value"),
    ("wonder", '\t"Baldwin', "\t80\t", "\t8x0\t", "not a number", "Deaths"),
    ("wonder", '\t"Baldwin', "\t80\t", "\t-80\t", "negative", "Deaths"),
])
def test_bad_count(tmp_path, name, starts, old, new, problem, column):
    loader, fixture, source_id, encoding = LOADERS[name]
    line = line_of(fixture, starts, encoding)
    path = variant(tmp_path, fixture, replace_line(line, old, new), encoding=encoding)
    with pytest.raises(DataFormatError, match=problem) as exc:
        run(loader, path, source_id)
    assert_names(exc, path, line, column)


@pytest.mark.parametrize("name, case, line, column, problem", [
    ("nida", "missing", None, None, "the raw file of source 'nida_deaths'"),
    ("nida", "empty", 1, None, "the file is empty"),
    ("nida", "header_only", "header", "B (row label)", "file ends inside the table"),
    ("nida", "extra_column", "header", "Z", "unexpected header 'Extra'"),
    ("nida", "semicolons", "last", None, "no header row with year columns found"),
    ("nida", "utf16_no_bom", 1, "B", "not cp1252 text (UTF-16?)"),
    ("vsrr", "missing", None, None, "the raw file of source 'vsrr_provisional'"),
    ("vsrr", "empty", 1, None, "the file is empty"),
    ("vsrr", "header_only", 2, None, "no data rows below the header"),
    ("vsrr", "semicolons", 1, "State", "missing or renamed column(s)"),
    ("vsrr", "utf16_no_bom", 1, "State", "not UTF-8 text (UTF-16?)"),
    ("vsrr", "latin1_byte", 2, "State", "byte b'\\xe9' is not valid UTF-8"),
    ("wonder", "missing", None, None, "the raw file of source 'wonder_county'"),
    ("wonder", "empty", 1, None, "the file is empty"),
    ("wonder", "header_only", 1, "Notes", 'no "---" line ending the table'),
    ("wonder", "semicolons", 1, "Notes", "missing or renamed column(s)"),
    ("wonder", "utf16_no_bom", 1, "Notes", "not UTF-8 text (UTF-16?)"),
    ("wonder", "latin1_byte", 2, "Notes", "byte b'\\xe9' is not valid UTF-8"),
])
def test_bad_input_matrix(tmp_path, name, case, line, column, problem):
    """A missing, empty or header-only file (NIDA: its title rows and year header), an
    extra column, another delimiter or encoding: an error naming the file (line, column)
    and the problem. Not applicable: an extra column in vsrr and wonder (columns found by
    name; vsrr's releases hold columns it does not read, wonder logs each unread column as
    dropped); a latin-1 byte in NIDA's cp1252 (which decodes every latin-1 letter: the
    bytes cp1252 lacks are test_nida_invalid_cp1252_byte_is_refused)."""
    loader, fixture, source_id, encoding = LOADERS[name]
    header = line_of(NIDA_DEATHS, ",,1999") if name == "nida" else 1
    delimiter = "\t" if name == "wonder" else ","
    path = bad_input(tmp_path, fixture, case, source_id, encoding=encoding,
                     delimiter=delimiter, header_lines=header)
    if line == "header":
        line = header
    elif line == "last":  # NIDA: the header is searched for down to the last line
        line = len(path.read_bytes().splitlines())
    with pytest.raises(MATRIX_ERRORS[case]) as err:
        run(loader, path, source_id)
    assert_bad_input(err, path, line, column, problem)


# ---- NIDA ------------------------------------------------------------------------------

def test_nida_deaths_fixture_reads_every_drug_sex_and_year():
    frame, _ = run(nida, NIDA_DEATHS, "nida_deaths")
    TABLES["us_deaths_by_drug"].schema.validate(frame)
    years, _ = nida_grid(NIDA_DEATHS)
    assert sorted(frame["year"].unique()) == sorted(int(y) for y in years)
    assert set(frame["measure"]) == {"deaths"} and set(frame["group"]) == {"all"}
    assert set(frame["drug"]) == {"all_overdose", "any_opioid", "synthetic_opioids", "heroin",
                                  "heroin_and_synthetic_opioids", "benzodiazepines"}
    per_drug = frame.groupby("drug")[["sex", "year"]].apply(lambda d: len(d.drop_duplicates()))
    assert (per_drug == 3 * len(years)).all()


def test_nida_thousands_separators_and_glued_footnote_digits():
    frame, _ = run(nida, NIDA_DEATHS, "nida_deaths")
    heroin_line = line_of(NIDA_DEATHS, ",Heroin4,")
    expected = nida_cell(NIDA_DEATHS, heroin_line, 1999)  # a "1,960"-style cell
    assert expected >= 1000
    assert value(frame, drug="heroin", sex="both", year=1999) == expected
    fentanyl_line = line_of(NIDA_DEATHS, ", Synthetic Opioids other than Methadone")
    assert value(frame, drug="synthetic_opioids", sex="both", year=2019) == nida_cell(
        NIDA_DEATHS, fentanyl_line, 2019)


def test_nida_sex_rows_belong_to_the_drug_row_above():
    frame, _ = run(nida, NIDA_DEATHS, "nida_deaths")
    wide = frame.pivot_table(index=["drug", "year"], columns="sex", values="value")
    # NCHS prints both sexes = female + male; a sex row under the wrong drug breaks it
    assert (wide["female"] + wide["male"] == wide["both"]).all()
    # "Female " (trailing space, no indent) under "Benzodiazepines7"
    benzo = line_of(NIDA_DEATHS, ", Benzodiazepines7")
    assert NIDA_DEATHS.read_bytes().splitlines()[benzo].startswith(b",Female ,")
    assert value(frame, drug="benzodiazepines", sex="female", year=2005) == nida_cell(
        NIDA_DEATHS, benzo + 1, 2005)


def test_nida_fold_change_title_and_footnotes_logged_once():
    _, log = run(nida, NIDA_DEATHS, "nida_deaths")
    entries = log.to_frame()
    fold = entries[entries["column"].fillna("").str.contains("Fold Change")]
    assert len(fold) == 1 and fold["action"].iloc[0] == "dropped"
    notes = entries[entries["reason"].str.startswith("footnotes")]
    first = line_of(NIDA_DEATHS, ',"*Includes')
    last = line_of(NIDA_DEATHS, ",8Antidepressants")
    assert len(notes) == 1 and notes["line"].iloc[0] == first
    assert f"lines {first}-{last}" in notes["reason"].iloc[0]
    assert (entries["reason"].str.startswith("title")).sum() == 1
    assert len(entries) == 3  # nothing else dropped from the deaths table


@pytest.mark.parametrize("label, expected", [
    ("Heroin AND Synthetic Opioids other than Methadone", "heroin_and_synthetic_opioids"),
    ("Heroin WITHOUT Synthetic Opioids other than Methadone",
     "heroin_without_synthetic_opioids"),
    ("Prescription Opioids AND Synthetic Opioids other than Methadone",
     "rx_opioids_and_synthetic_opioids"),
    (" Cocaine WITHOUT Any Opioid", "cocaine_without_any_opioid"),
    ("  Total Overdose Deaths", "all_overdose"),
    (" Any Opioid1", "any_opioid"),
    (" Prescription Opioids2", "rx_opioids"),
    ("Psychostimulants With Abuse Potential (primarily methamphetamine)6", "psychostimulants"),
])
def test_nida_label_mapping(label, expected):
    kind, drug = nida.classify(label, path=Path("x.csv"), line=1, column="B")
    assert (kind, drug) == ("drug", expected)
    assert all(part in CAUSES for part in re.split("_and_|_without_", drug))


def test_nida_unknown_label_names_line_column_and_known_labels(tmp_path):
    heroin = line_of(NIDA_DEATHS, ",Heroin4,")
    path = variant(tmp_path, NIDA_DEATHS, replace_line(heroin, "Heroin4", "Heroine4"))
    with pytest.raises(DataFormatError) as exc:
        run(nida, path, "nida_deaths")
    assert_names(exc, path, heroin, "B (row label)")
    assert "'Heroin'" in str(exc.value)  # the expected labels are listed


def test_nida_header_found_by_content_not_position(tmp_path):
    path = variant(tmp_path, NIDA_DEATHS, lambda lines: [",,Extra title,,\r\n"] * 3 + lines)
    moved, _ = run(nida, path, "nida_deaths")
    original, _ = run(nida, NIDA_DEATHS, "nida_deaths")
    pd.testing.assert_frame_equal(moved, original)


def test_nida_without_year_header_fails_clearly(tmp_path):
    header = line_of(NIDA_DEATHS, ",,1999,")
    path = variant(tmp_path, NIDA_DEATHS, lambda lines: [
        re.sub(r"(19|20)\d\d", "Year", line) if i == header - 1 else line
        for i, line in enumerate(lines)])
    with pytest.raises(DataFormatError, match="no header row with year columns"):
        run(nida, path, "nida_deaths")


def test_nida_rates_groups_and_their_sex_rows():
    frame, _ = run(nida, NIDA_RATES, "nida_rates")
    TABLES["us_deaths_by_drug"].schema.validate(frame)
    assert set(frame["measure"]) == {"rate_age_adj_per_100k"}
    assert set(frame["group"]) == {"all", *nida.GROUP_LABELS}
    total_female = line_of(NIDA_RATES, ",  Female", "cp1252")  # indented 2: the drug's
    white_female = line_of(NIDA_RATES, ",      Female", "cp1252")  # indented 6: the group's
    assert value(frame, drug="all_overdose", group="all", sex="female", year=2017) == \
        nida_cell(NIDA_RATES, total_female, 2017)
    assert value(frame, drug="all_overdose", group="White (Non-Hispanic)", sex="female",
                 year=2017) == nida_cell(NIDA_RATES, white_female, 2017)
    # group rows without sex rows (Any Opioid) are both sexes only
    groups = frame[(frame["drug"] == "any_opioid") & (frame["group"] != "all")]
    assert set(groups["sex"]) == {"both"}


def test_nida_sex_row_after_groups_is_the_drugs_when_not_indented_deeper(tmp_path):
    # Move Any Opioid's "  Female"/"  Male" (indent 2) below its groups (indent 2 too):
    # they must still be the drug's sexes, not the last group's.
    female = line_of(NIDA_RATES, ",  Female,1.4,", "cp1252")
    last_group = line_of(NIDA_RATES, ",Prescription Opioids2", "cp1252") - 1
    path = variant(tmp_path, NIDA_RATES, lambda ls: (
        ls[:female - 1] + ls[female + 1:last_group] + ls[female - 1:female + 1]
        + ls[last_group:]))
    keys = ["year", "drug", "group", "sex"]
    moved = run(nida, path, "nida_rates")[0].sort_values(keys, ignore_index=True)
    original = run(nida, NIDA_RATES, "nida_rates")[0].sort_values(keys, ignore_index=True)
    pd.testing.assert_frame_equal(moved, original)


def test_nida_rates_blank_cells_dropped_one_entry_each():
    frame, log = run(nida, NIDA_RATES, "nida_rates")
    years, rows = nida_grid(NIDA_RATES)
    blanks = [(line, year) for line, cells in rows if len(cells) > 2 and cells[1].strip()
              and not re.match(r"\d", cells[1].strip())
              for year, col in years.items() if not cells[col].strip()]
    entries = log.to_frame()
    dropped = entries[entries["reason"].str.startswith("blank cell")]
    assert blanks and sorted(zip(dropped["line"], dropped["column"])) == sorted(blanks)
    asian_line = line_of(NIDA_RATES, ",  Asian", "cp1252")
    asian_blanks = [b for b in blanks if b[0] == asian_line]
    asian = frame[(frame["group"] == "Asian or Pacific Islander (Non-Hispanic)")
                  & (frame["drug"] == "any_opioid")]
    assert len(asian) == len(years) - len(asian_blanks)


def test_nida_unknown_source_id_is_refused():
    with pytest.raises(ValueError, match="unknown source"):
        run(nida, NIDA_DEATHS, "nida_other")


def _heroin_line() -> int:
    return line_of(NIDA_DEATHS, ",Heroin4,")


def test_nida_truncated_row(tmp_path):
    line = _heroin_line()
    path = variant(tmp_path, NIDA_DEATHS,
                   lambda lines: lines[:line - 1] + [lines[line - 1][:60]])
    with pytest.raises(DataFormatError, match="truncated") as exc:
        run(nida, path, "nida_deaths")
    assert_names(exc, path, line, "2006")  # the first year column the row lacks


def test_nida_truncated_between_rows(tmp_path):
    line = _heroin_line()
    path = variant(tmp_path, NIDA_DEATHS, lambda lines: lines[:line])
    with pytest.raises(DataFormatError, match="truncated") as exc:
        run(nida, path, "nida_deaths")
    assert_names(exc, path, line, "B (row label)")


def test_nida_invalid_cp1252_byte_is_refused(tmp_path):
    line = _heroin_line()
    lines = NIDA_DEATHS.read_bytes().split(b"\n")
    lines[line - 1] = lines[line - 1].replace(b"Heroin4", b"Hero\x81in4")  # undefined in cp1252
    path = tmp_path / "nida.csv"
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(DataFormatError, match="not valid cp1252") as exc:
        run(nida, path, "nida_deaths")
    assert_names(exc, path, line, "B")


def test_nida_renamed_year_column(tmp_path):
    header = line_of(NIDA_DEATHS, ",,1999,")
    path = variant(tmp_path, NIDA_DEATHS, replace_line(header, ",2017,", ",CY 2017,"))
    with pytest.raises(DataFormatError, match="unexpected header 'CY 2017'") as exc:
        run(nida, path, "nida_deaths")
    assert_names(exc, path, header, "U")


def test_nida_duplicated_sex_row(tmp_path):
    line = _heroin_line()
    path = variant(tmp_path, NIDA_DEATHS,
                   lambda lines: lines[:line + 1] + [lines[line]] + lines[line + 1:])
    with pytest.raises(DataFormatError) as exc:
        run(nida, path, "nida_deaths")
    assert_names(exc, path, line + 2, "B (row label)")
    assert f"[{line + 1}, {line + 2}]" in str(exc.value)


def test_nida_values_after_the_table_are_not_dropped_silently(tmp_path):
    line = _heroin_line()
    texts = NIDA_DEATHS.read_bytes().decode("cp1252").splitlines()
    blank = next(i for i, text in enumerate(texts, 1) if i > line and not text.strip(","))
    path = variant(tmp_path, NIDA_DEATHS,
                   lambda lines: lines[:blank] + [lines[line - 1]] + lines[blank:])
    with pytest.raises(DataFormatError, match="below the blank row") as exc:
        run(nida, path, "nida_deaths")
    assert_names(exc, path, blank + 1, "1999")


# ---- VSRR ------------------------------------------------------------------------------

def vsrr_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_vsrr_fixture_values_and_locations():
    frame, log = run(vsrr, VSRR, "vsrr_provisional")
    TABLES["us_provisional"].schema.validate(frame)
    rows = vsrr_rows(VSRR)
    assert len(frame) == len(rows)
    # logged: each blank Predicted Value and each "Underreported" footnote, nothing else
    expected = sorted([(i, "Predicted Value") for i, r in enumerate(rows, 2)
                       if not r["Predicted Value"]]
                      + [(i, "Footnote") for i, r in enumerate(rows, 2)
                         if r["Footnote"].startswith("Underreported")])
    assert sorted((e["line"], e["column"]) for e in log.entries) == expected
    assert {e["action"] for e in log.entries} == {"flagged"}
    assert frame["underreported"].tolist() == [r["Footnote"].startswith("Underreported")
                                               for r in rows]
    assert set(frame["definition"]) == {"certified_overdose"}
    levels = dict(zip(frame["location_id"], frame["location_level"]))
    assert levels == {"US": "country", "US-YC": "city", "US-NY": "state", "US-AK": "state"}
    for row, (_, out) in zip(rows, frame.iterrows()):
        assert out["indicator"] == vsrr.INDICATOR_LABELS[row["Indicator"]]
        assert out["month"] == vsrr.MONTHS[row["Month"]] and out["year"] == int(row["Year"])
        assert out["value"] == float(row["Data Value"])
        if row["Predicted Value"]:
            assert out["predicted_value"] == float(row["Predicted Value"])
        else:
            assert math.isnan(out["predicted_value"])
        assert out["percent_pending"] == float(row["Percent Pending Investigation"])
        footnote = out["footnote"] if pd.notna(out["footnote"]) else ""
        assert footnote == row["Footnote"]


def test_vsrr_new_york_city_kept_beside_new_york_state():
    frame, _ = run(vsrr, VSRR, "vsrr_provisional")
    opioids = frame[(frame["indicator"] == "any_opioid") & (frame["year"] == 2017)]
    by_place = dict(zip(opioids["location_id"], opioids["value"]))
    assert {"US-NY", "US-YC", "US"} <= set(by_place)
    assert by_place["US-YC"] <= by_place["US-NY"] <= by_place["US"]  # NYC is inside NY


def test_vsrr_blank_data_value_kept_as_nan_and_flagged(tmp_path):
    line = line_of(VSRR, "US,US,2017,December,Heroin", "utf-8")
    path = variant(tmp_path, VSRR, replace_line(line, ",15616,", ",,"), encoding="utf-8")
    frame, log = run(vsrr, path, "vsrr_provisional")
    heroin = frame[(frame["location_id"] == "US") & (frame["indicator"] == "heroin")
                   & (frame["year"] == 2017) & (frame["month"] == 12)]
    assert math.isnan(heroin["value"].iloc[0]) and heroin["predicted_value"].iloc[0] > 0
    assert [(e["action"], e["line"], e["column"]) for e in log.entries
            if e["column"] == "Data Value"] == [("flagged", line, "Data Value")]


# every DataFormatError message ends "(expected ...)": match the problem and the bad label
@pytest.mark.parametrize("column, old, new, problem", [
    ("Indicator", "Heroin (T40.1)", "Heroin", "unknown Indicator 'Heroin'"),
    ("Month", "December", "Dec", "unknown Month 'Dec'"),
    ("State", "US,US,", "XX,XX,", "unknown jurisdiction 'XX'"),
])
def test_vsrr_unknown_labels(tmp_path, column, old, new, problem):
    line = line_of(VSRR, "US,US,2017,December,Heroin", "utf-8")
    path = variant(tmp_path, VSRR, replace_line(line, old, new), encoding="utf-8")
    with pytest.raises(DataFormatError, match=problem) as exc:
        run(vsrr, path, "vsrr_provisional")
    assert_names(exc, path, line, column)


def test_vsrr_truncated(tmp_path):
    lines = VSRR.read_text().splitlines(keepends=True)
    path = variant(tmp_path, VSRR, lambda ls: ls[:-1] + [ls[-1][:40]], encoding="utf-8")
    with pytest.raises(DataFormatError, match="truncated") as exc:
        run(vsrr, path, "vsrr_provisional")
    assert_names(exc, path, len(lines), "Data Value")  # the cut falls in "Indicator"


def test_vsrr_percent_above_100(tmp_path):
    line = line_of(VSRR, "US,US,2017,December,Percent", "utf-8")
    path = variant(tmp_path, VSRR, replace_line(line, ",87.5952014243122,", ",875.9,"),
                   encoding="utf-8")
    with pytest.raises(DataFormatError, match="percent above 100") as exc:
        run(vsrr, path, "vsrr_provisional")
    assert_names(exc, path, line, "Data Value")


def test_vsrr_duplicated_key_names_both_lines(tmp_path):
    line = line_of(VSRR, "US,US,2017,December,Heroin", "utf-8")
    n = len(VSRR.read_text().splitlines())
    path = variant(tmp_path, VSRR, lambda ls: ls + [ls[line - 1]], encoding="utf-8")
    with pytest.raises(DataFormatError, match=f"lines {line} and {n + 1}") as exc:
        run(vsrr, path, "vsrr_provisional")
    assert_names(exc, path, n + 1, vsrr.KEY_COLUMNS)


# ---- WONDER ----------------------------------------------------------------------------

def wonder_table(path: Path) -> list[dict[str, str]]:
    """Rows above the first "---" line, read with the csv module only."""
    with path.open(newline="") as f:
        rows = []
        for row in csv.DictReader(f, delimiter="\t"):
            if row["Notes"] == "---":
                break
            rows.append(row)
    return rows


def test_wonder_fixture_rows_markers_and_years():
    frame, _ = run(wonder, WONDER, "wonder_county")
    TABLES["us_county_deaths"].schema.validate(frame)
    table = wonder_table(WONDER)
    counties = [r for r in table if r["County"]]
    assert len(frame) == len(counties)
    by_code = frame.set_index("location_id")
    for row in counties:
        out = by_code.loc[f"US-FIPS:{row['County Code']}"]
        assert f"{out['county']}, {out['state']}" == row["County"]
        assert out["suppressed"] == (row["Deaths"] == "Suppressed")
        assert out["unreliable"] == ("Unreliable" in (row["Crude Rate"],
                                                      row["Age Adjusted Rate"]))
        if row["Deaths"].isdigit():
            assert out["deaths"] == int(row["Deaths"])
        else:
            assert math.isnan(out["deaths"])
        if row["Population"].isdigit():
            assert out["population"] == int(row["Population"])
    assert frame.index.size and frame["location_id"].str.fullmatch(r"US-FIPS:\d{5}").all()
    assert "US-FIPS:01001" in set(frame["location_id"])  # leading zero kept
    footer = next(r["Notes"] for r in csv.DictReader(WONDER.open(newline=""), delimiter="\t")
                  if r["Notes"].startswith("Year/Month:"))
    years = [int(y) for y in re.findall(r"\d{4}", footer)]
    assert set(frame["year_start"]) == {min(years)} and set(frame["year_end"]) == {max(years)}


def test_wonder_cleaning_log():
    _, log = run(wonder, WONDER, "wonder_county")
    entries = log.to_frame()
    table = wonder_table(WONDER)
    total_line = 1 + next(i for i, r in enumerate(table, 1) if r["Notes"] == "Total")
    total = entries[entries["record"] == "Total"]
    assert list(total["line"]) == [total_line] and list(total["action"]) == ["dropped"]
    flagged = entries[entries["action"] == "flagged"]
    expected = sum(r["Deaths"] == "Suppressed" for r in table) + sum(
        "Unreliable" in r.values() for r in table) + sum("Missing" in r.values() for r in table)
    assert len(flagged) == expected
    unreliable = flagged[flagged["original"] == "Unreliable"]
    assert set(unreliable["column"]) == {"Crude Rate, Age Adjusted Rate"}


def test_wonder_dropped_columns_each_with_a_true_reason():
    """The age-adjusted rate's standard error and limits need deaths and population by age:
    they are not "derivable from deaths and population" as the crude rate's are."""
    _, log = run(wonder, WONDER, "wonder_county")
    entries = log.to_frame().query("action == 'dropped' and line == 1")
    header = next(csv.reader(WONDER.open(newline=""), delimiter="\t"))
    assert sorted(entries["column"]) == sorted(set(header) - set(wonder.REQUIRED))
    reasons = entries.set_index("column")["reason"]
    assert len(reasons) == 7
    for column, reason in reasons.items():
        if column.startswith("Age Adjusted Rate"):
            assert "not derivable" in reason and "by age" in reason, (column, reason)
        elif column.startswith("Crude Rate"):
            assert "derivable from deaths and population" in reason, (column, reason)
        else:
            assert column == "% of Total Deaths" and "Total row" in reason, reason


def test_wonder_note_rows(tmp_path):
    total_line = line_of(WONDER, '"Total"', "utf-8")
    note_row = '"A note"' + "\t" * 13 + "\r\n"
    baldwin = line_of(WONDER, '\t"Baldwin', "utf-8")
    path = variant(tmp_path, WONDER, lambda ls: [
        ('"(2)"' + line) if i == baldwin else line for i, line in enumerate(ls, 1)
    ][:total_line - 1] + [note_row] + ls[total_line - 1:], encoding="utf-8")
    frame, log = run(wonder, path, "wonder_county")
    assert len(frame) == len([r for r in wonder_table(WONDER) if r["County"]])
    entries = log.to_frame()
    note = entries[entries["reason"] == "note row, not a county"]
    assert list(note["line"]) == [total_line] and list(note["original"]) == ["A note"]
    on_county = entries[entries["reason"].str.startswith("note on a county row")]
    assert list(on_county["line"]) == [baldwin]


def test_wonder_stops_at_footer_and_needs_query_years(tmp_path):
    line = line_of(WONDER, '"Year/Month:', "utf-8")
    path = variant(tmp_path, WONDER, lambda ls: ls[:line - 1] + ls[line:], encoding="utf-8")
    with pytest.raises(DataFormatError, match="Year/Month:") as exc:
        run(wonder, path, "wonder_county")
    assert_names(exc, path, line_of(WONDER, '"---"', "utf-8"), "Notes")


def test_wonder_non_consecutive_query_years(tmp_path):
    line = line_of(WONDER, '"Year/Month:', "utf-8")
    path = variant(tmp_path, WONDER, replace_line(line, "2008; ", ""), encoding="utf-8")
    with pytest.raises(DataFormatError, match="not consecutive") as exc:
        run(wonder, path, "wonder_county")
    assert_names(exc, path, line, "Notes")


def test_wonder_counties_above_total_fail(tmp_path):
    line = line_of(WONDER, '"Total"', "utf-8")
    path = variant(tmp_path, WONDER, replace_line(line, "\t143104\t", "\t1\t"),
                   encoding="utf-8")
    with pytest.raises(DataFormatError, match="more than the Total") as exc:
        run(wonder, path, "wonder_county")
    assert_names(exc, path, line, "Deaths")


def test_wonder_truncated_row(tmp_path):
    line = line_of(WONDER, '\t"Baldwin', "utf-8")
    path = variant(tmp_path, WONDER, lambda ls: ls[:line - 1] + [ls[line - 1][:40]],
                   encoding="utf-8")
    with pytest.raises(DataFormatError, match="truncated") as exc:
        run(wonder, path, "wonder_county")
    assert_names(exc, path, line, "Crude Rate")


def test_wonder_truncated_before_footer(tmp_path):
    footer = line_of(WONDER, '"---"', "utf-8")
    path = variant(tmp_path, WONDER, lambda ls: ls[:footer - 1], encoding="utf-8")
    with pytest.raises(DataFormatError, match="truncated") as exc:
        run(wonder, path, "wonder_county")
    assert_names(exc, path, footer - 1, "Notes")


def test_wonder_duplicated_county(tmp_path):
    line = line_of(WONDER, '\t"Baldwin', "utf-8")
    path = variant(tmp_path, WONDER, lambda ls: ls[:line] + [ls[line - 1]] + ls[line:],
                   encoding="utf-8")
    with pytest.raises(DataFormatError, match=f"lines {line} and {line + 1}") as exc:
        run(wonder, path, "wonder_county")
    assert_names(exc, path, line + 1, "County Code")


# ---- real data: totals printed in the files themselves ---------------------------------

@pytest.mark.realdata
def test_real_nida_deaths_sexes_add_up_for_every_drug(raw_file):
    path = raw_file("nida_deaths")
    frame, _ = run(nida, path, "nida_deaths")
    TABLES["us_deaths_by_drug"].schema.validate(frame)
    assert set(frame["definition"]) == {"certified_overdose"}
    years, rows = nida_grid(path)
    any_opioid = next(line for line, cells in rows if cells[1].strip() == "Any Opioid1")
    for offset, sex in enumerate(["both", "female", "male"]):
        assert value(frame, drug="any_opioid", sex=sex, year=2017) == nida_cell(
            path, any_opioid + offset, 2017)
    wide = frame.pivot_table(index=["drug", "year"], columns="sex", values="value")
    assert len(wide) == frame["drug"].nunique() * len(years)
    assert (wide["female"] + wide["male"] == wide["both"]).all()
    # every labelled non-sex row of the table is a drug of its own
    labels = [cells[1].strip() for _, cells in rows if len(cells) > 2 and cells[1].strip()
              and cells[2].strip()
              and not re.fullmatch(r"\d{4}", cells[2].strip())
              and cells[1].strip() not in ("Female", "Male")]
    assert frame["drug"].nunique() == len(labels)


@pytest.mark.realdata
def test_real_nida_rates_both_sexes_lie_between_female_and_male(raw_file):
    path = raw_file("nida_rates")
    frame, log = run(nida, path, "nida_rates")
    TABLES["us_deaths_by_drug"].schema.validate(frame)
    wide = frame.pivot_table(index=["drug", "group", "year"], columns="sex",
                             values="value").dropna()
    assert len(wide) > 0
    low = wide[["female", "male"]].min(axis=1)
    high = wide[["female", "male"]].max(axis=1)
    # an age-adjusted rate for both sexes averages the two; a misattached row breaks it
    assert ((wide["both"] >= low) & (wide["both"] <= high)).all()
    years, rows = nida_grid(path)
    blank_cells = sum(1 for _, cells in rows if len(cells) > 2 and cells[1].strip()
                      and not cells[1].strip()[0].isdigit()
                      for col in years.values() if not cells[col].strip())
    assert sum(e["reason"].startswith("blank cell") for e in log.entries) == blank_cells


@pytest.mark.realdata
def test_real_vsrr_matches_plain_csv(raw_file):
    path = raw_file("vsrr_provisional")
    frame, log = run(vsrr, path, "vsrr_provisional")
    TABLES["us_provisional"].schema.validate(frame)
    rows = vsrr_rows(path)
    assert len(frame) == len(rows)
    us = next(r for r in rows if (r["State"], r["Year"], r["Month"], r["Indicator"]) ==
              ("US", "2017", "December", "Opioids (T40.0-T40.4,T40.6)"))
    got = frame[(frame["location_id"] == "US") & (frame["year"] == 2017)
                & (frame["month"] == 12) & (frame["indicator"] == "any_opioid")]
    assert got["value"].tolist() == [float(us["Data Value"])]
    published = pd.to_numeric(pd.Series([r["Data Value"] for r in rows]), errors="coerce")
    pd.testing.assert_series_equal(frame["value"], published, check_names=False)
    assert sum(e["column"] == "Data Value" for e in log.entries) == published.isna().sum()
    blank_predicted = sum(not r["Predicted Value"] for r in rows)
    assert sum(e["column"] == "Predicted Value" for e in log.entries) == blank_predicted
    underreported = [r["Footnote"].startswith("Underreported due to incomplete data")
                     for r in rows]
    assert frame["underreported"].tolist() == underreported
    assert sum(e["column"] == "Footnote" for e in log.entries) == sum(underreported)


@pytest.mark.realdata
def test_real_wonder_counties_within_total(raw_file):
    path = raw_file("wonder_county")
    frame, _ = run(wonder, path, "wonder_county")
    TABLES["us_county_deaths"].schema.validate(frame)
    table = wonder_table(path)
    total = float(next(r["Deaths"] for r in table if r["Notes"] == "Total"))
    assert 0 < frame["deaths"].sum() <= total
    assert len(frame) == sum(1 for r in table if r["County"])
    assert frame["suppressed"].sum() == sum(r["Deaths"] == "Suppressed" for r in table)
    assert frame["deaths"].isna().sum() == sum(not r["Deaths"].isdigit()
                                               for r in table if r["County"])


@pytest.mark.realdata
def test_real_wonder_dropped_columns_derivable_as_logged(raw_file):
    """The reasons in ``wonder.DROPPED_COLUMNS``, checked on every county with a count: the
    crude rate's standard error is 100,000 sqrt(D) / P and its limits exact (gamma) limits
    below 100 deaths, rate +/- 1.96 SE from 100 on; "% of Total Deaths" is 100 D / Total
    (all to the file's 0.1 rounding). The age-adjusted rate's standard error is not the
    crude formula applied to the adjusted rate (it needs deaths by age): many differ."""
    from scipy import stats

    table = wonder_table(raw_file("wonder_county"))
    total = float(next(r["Deaths"] for r in table if r["Notes"] == "Total"))
    counted = [r for r in table if r["County"] and r["Deaths"].isdigit()
               and r["Population"].isdigit()]
    assert len(counted) == 1_557
    adjusted_off = 0
    for r in counted:
        deaths, population = float(r["Deaths"]), float(r["Population"])
        rate = 1e5 * deaths / population
        se = rate / math.sqrt(deaths) if deaths else 0.0
        if deaths < 100:
            low = 1e5 * stats.chi2.ppf(0.025, 2 * deaths) / 2 / population if deaths else 0
            high = 1e5 * stats.chi2.ppf(0.975, 2 * (deaths + 1)) / 2 / population
        else:
            low, high = rate - 1.96 * se, rate + 1.96 * se
        for column, derived in [("Crude Rate Standard Error", se),
                                ("Crude Rate Lower 95% Confidence Interval", low),
                                ("Crude Rate Upper 95% Confidence Interval", high),
                                ("% of Total Deaths", 100 * deaths / total)]:
            printed = float(r[column].rstrip("%"))
            assert abs(printed - derived) <= 0.05 + 1e-9, (r["County"], column, printed, derived)
        if r["Age Adjusted Rate"] not in ("Unreliable", "Suppressed", "Missing"):
            crude_formula = float(r["Age Adjusted Rate"]) / math.sqrt(deaths)
            adjusted_off += abs(float(r["Age Adjusted Rate Standard Error"])
                                - crude_formula) > 0.05 + 1e-9
    assert adjusted_off > 100
