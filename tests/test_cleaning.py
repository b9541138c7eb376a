"""The helpers every loader shares: strict decoding, CSV rows, cell, header and key checks."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pandas as pd
import pytest

from burden.data.cleaning import (
    CleaningLog,
    DataFormatError,
    FirstLines,
    check_unique,
    parse_count,
    parse_year,
    require_columns,
)
from burden.data.schemas import TABLES, year_range
from burden.data.textfile import (
    column_letter,
    csv_rows,
    data_rows,
    decode,
    read_raw,
    split_header,
)
from burden.errors import MissingRawFileError


def assert_names(err: pytest.ExceptionInfo, file: str, line: int | None,
                 column: str | None) -> None:
    exc = err.value
    assert (Path(exc.file).name, exc.line, exc.column) == (file, line, column), str(exc)
    assert file in str(exc) and exc.expected and f"(expected {exc.expected})" in str(exc)
    if line is not None:
        assert f"line {line}" in str(exc)
    if column is not None:
        assert f"column {column!r}" in str(exc)


# ---- parse_count -----------------------------------------------------------------------

@pytest.mark.parametrize("text, kwargs, expected", [
    ("16,849", {}, 16849.0),
    ("1,234,567.5", {}, 1234567.5),
    ("-16,849", {"allow_negative": True}, -16849.0),
    ("1\u00a0234", {}, 1234.0),
    ("1 234 567", {}, 1234567.0),
    (" 12 ", {}, 12.0),
    ("", {"allow_blank": True}, math.nan),
    ("Suppressed", {"markers": {"Suppressed"}}, math.nan),
    ("-3", {"allow_negative": True}, -3.0),
])
def test_parse_count_reads_published_numbers(text, kwargs, expected):
    value = parse_count(text, file="f.csv", line=7, column="Deaths", **kwargs)
    assert value == expected or (math.isnan(expected) and math.isnan(value))


@pytest.mark.parametrize("text, kwargs, problem", [
    ("", {}, "empty cell"),
    ("-3", {}, "negative"),
    ("abc", {}, "not a number"),
    ("inf", {}, "not a finite number"),
    ("0", {"positive": True}, "not positive"),
    ("Unreliable", {"markers": {"Suppressed"}}, "not a number"),
])
def test_parse_count_errors_name_file_line_column(text, kwargs, problem):
    with pytest.raises(DataFormatError, match=problem) as err:
        parse_count(text, file="f.csv", line=7, column="Deaths", **kwargs)
    assert_names(err, "f.csv", 7, "Deaths")


@pytest.mark.parametrize("text", ["0,73", "1,5", "16,84", "0.5,", ",5", "1,,234", "1234,567",
                                  "16,849,5", "1,234.5,", "1, 234", "1 5", "12 34",
                                  "1,234 567", "1\u00a05"])
def test_parse_count_refuses_commas_that_are_not_thousands_separators(text):
    """A decimal comma or a stray comma is an error, not read by deleting the comma
    ("0,73" was 73.0, "1,5" 15.0, "16,84" 1684.0, "0.5," 0.5)."""
    with pytest.raises(DataFormatError, match="comma or space must separate groups of three") as err:
        parse_count(text, file="f.csv", line=7, column="Deaths", markers={"Suppressed"})
    assert_names(err, "f.csv", 7, "Deaths")
    assert repr(text) in str(err.value) and "16,849" in err.value.expected


def test_parse_count_error_lists_allowed_markers():
    with pytest.raises(DataFormatError) as err:
        parse_count("n/a", file="f.csv", line=3, column="Deaths", markers={"Suppressed"})
    assert "'Suppressed'" in err.value.expected


def test_parse_year():
    assert parse_year("2017", file="f.csv", line=2, column="Year", years=(1990, 2020)) == 2017
    with pytest.raises(DataFormatError, match="not a year") as err:
        parse_year("17", file="f.csv", line=2, column="Year", years=(1990, 2020))
    assert_names(err, "f.csv", 2, "Year")


def test_parse_year_refuses_a_year_out_of_the_range_given():
    years = (1990, 2020)  # any range: loaders pass their table's (schemas.year_range)
    assert [parse_year(t, file="f.csv", line=2, column="Year", years=years)
            for t in ("1990", "2020")] == [1990, 2020]  # both ends included
    for text in ("1989", "2021", "1017"):
        with pytest.raises(DataFormatError, match=f"year {text} out of range") as err:
            parse_year(text, file="f.csv", line=2, column="Year", years=years)
        assert_names(err, "f.csv", 2, "Year")
        assert err.value.expected == "a year from 1990 to 2020"


def test_year_range_is_the_schema_check():
    """The loaders' bounds are the schema's: a year just outside fails the table's own
    check, the bounds themselves pass it."""
    for name, table in TABLES.items():
        if "year" not in table.schema.columns:
            continue
        first, last = year_range(name)
        column = table.schema.columns["year"]
        for year, ok in [(first - 1, False), (first, True), (last, True), (last + 1, False)]:
            passed = all(check(pd.Series([year])).check_passed for check in column.checks)
            assert passed == ok, (name, year)


# ---- headers and keys ------------------------------------------------------------------

def test_require_columns_names_the_missing_column():
    require_columns(["b", "a", "x"], ["a", "b"], file="f.csv")  # order and extras are fine
    with pytest.raises(DataFormatError, match="missing or renamed") as err:
        require_columns(["a", "c"], ["a", "b"], file="f.csv", line=4)
    assert_names(err, "f.csv", 4, "b")


@pytest.mark.parametrize("header, problem, column", [
    (["a", "b", "x"], "unexpected column", "x"),
    (["a", "b", "b"], "repeated column name 'b'", "b"),
])
def test_require_columns_only(header, problem, column):
    with pytest.raises(DataFormatError, match=problem) as err:
        require_columns(header, ["a", "b"], file="f.csv", only=True)
    assert_names(err, "f.csv", 1, column)


@pytest.mark.parametrize("header, column", [
    (["a", "b", "b"], "b"),  # a required column twice: which one is read?
    (["a", "x", "b", "x"], "x"),  # a column not read: a rename may have made the repeat
    (["x", "", "a", "", "b"], ""),  # two unnamed columns (one of them would be lost unseen)
])
def test_require_columns_refuses_repeated_names_without_only(header, column):
    with pytest.raises(DataFormatError, match=f"repeated column name {column!r}") as err:
        require_columns(header, ["a", "b"], file="f.csv", line=3)
    assert_names(err, "f.csv", 3, column)


def test_first_lines_names_both_lines():
    seen = FirstLines("f.csv", column="Code", expected="one row per code")
    seen.add("USA", 2, "code USA")
    seen.add("MEX", 3, "code MEX")
    with pytest.raises(DataFormatError, match="lines 2 and 9") as err:
        seen.add("USA", 9, "code USA")
    assert_names(err, "f.csv", 9, "Code")


def test_check_unique_names_the_repeated_lines():
    frame = pd.DataFrame({"k": ["a", "b", "a"], "_line": [4, 5, 8]})
    check_unique(frame.iloc[:2], ["k"], file="f.csv", column="B", expected="one row per k")
    with pytest.raises(DataFormatError, match=r"lines \[4, 8\]") as err:
        check_unique(frame, ["k"], file="f.csv", column="B", expected="one row per k")
    assert_names(err, "f.csv", 8, "B")


# ---- decoding --------------------------------------------------------------------------

def write(tmp_path: Path, data: bytes, name: str = "f.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_decode_locates_a_bad_byte_by_line_and_header_name(tmp_path):
    path = write(tmp_path, b"State,Name,Value\nNY,ok,1\nNY,Caf\xe9,2\n")
    with pytest.raises(DataFormatError, match=r"byte b'\\xe9' is not valid UTF-8") as err:
        decode(path, expected="UTF-8 CSV")
    assert_names(err, "f.csv", 3, "Name")


def test_decode_locates_a_bad_byte_in_a_quoted_cell_and_a_tab_file(tmp_path):
    path = write(tmp_path, b'"a"\t"b"\t"c"\n"x, y"\t"1"\t"\xff"\n', "f.txt")
    with pytest.raises(DataFormatError) as err:
        decode(path, expected="UTF-8 text", delimiter="\t")
    assert_names(err, "f.txt", 2, "c")


def test_decode_by_column_letter_when_the_first_line_is_not_a_header(tmp_path):
    path = write(tmp_path, b"Title\n,Heroin,1\n,Hero\x81in,2\n")  # 0x81: undefined in cp1252
    with pytest.raises(DataFormatError, match="not valid cp1252") as err:
        decode(path, expected="cp1252 CSV", encoding="cp1252", named_columns=False)
    assert_names(err, "f.csv", 3, "B")


def test_decode_refuses_utf16(tmp_path):
    path = write(tmp_path, "State,Value\nNY,1\n".encode("utf-16"))
    with pytest.raises(DataFormatError, match="UTF-16") as err:
        decode(path, expected="UTF-8 CSV")
    assert_names(err, "f.csv", 1, "State")


def test_decode_reads_a_utf8_bom_whatever_the_encoding(tmp_path):
    path = write(tmp_path, "\ufeffName\nCaf\u00e9\n".encode())
    assert decode(path, expected="cp1252 CSV", encoding="cp1252") == "Name\nCaf\u00e9\n"


@pytest.mark.parametrize("name, source, how", [
    ("phac_substance_related_harms_2016_2025.csv", "phac_harms",
     "`burden fetch phac_harms`"),
    ("opium_production_published.csv", "reference_opium_production",
     "burden/registry/reference/opium_production_published.csv: restore it"),
    ("phac_harms_sample.csv", None, "not the file name of a registered source"),
])
def test_read_raw_of_a_missing_file_says_how_to_get_it(tmp_path, name, source, how):
    path = tmp_path / name
    with pytest.raises(FileNotFoundError) as err:  # callers catching this still do
        read_raw(path)
    exc = err.value
    assert isinstance(exc, MissingRawFileError)
    assert (exc.file, exc.filename, exc.source) == (str(path), str(path), source)
    assert str(exc).startswith(f"{path}: no such file; ") and how in str(exc)
    if source is not None:
        assert repr(source) in str(exc)


def test_column_letter():
    assert [column_letter(i) for i in (0, 1, 25, 26, 27)] == ["A", "B", "Z", "AA", "AB"]


# ---- rows ------------------------------------------------------------------------------

def test_csv_rows_keep_line_numbers():
    rows = csv_rows("a,b\n\n1,2\n3,4\n", Path("f.csv"))
    assert rows == [(1, ["a", "b"]), (2, []), (3, ["1", "2"]), (4, ["3", "4"])]


def test_csv_rows_unreadable_names_the_line():
    too_long = "x" * (csv.field_size_limit() + 1)  # one thing the csv module refuses
    with pytest.raises(DataFormatError, match="unreadable CSV") as err:
        csv_rows(f"a,b\n1,2\n3,{too_long}\n", Path("f.csv"))
    assert_names(err, "f.csv", 3, None)


def test_split_header_of_an_empty_file():
    with pytest.raises(DataFormatError, match="the file is empty") as err:
        split_header([], Path("f.csv"), ["a"])
    assert_names(err, "f.csv", 1, None)


def test_data_rows_log_blank_lines_and_refuse_short_rows():
    rows = csv_rows("a,b,c\n,,\n1,2,3\n4,5\n", Path("f.csv"))
    log = CleaningLog(source="s", file="f.csv")
    read = data_rows(rows[1:], rows[0][1], Path("f.csv"), log=log)
    assert next(read) == (3, {"a": "1", "b": "2", "c": "3"})
    with pytest.raises(DataFormatError, match="truncated") as err:
        next(read)
    assert_names(err, "f.csv", 4, "c")
    assert log.to_frame()[["line", "action", "reason"]].values.tolist() == [
        [2, "dropped", "blank line"]]


def test_data_rows_without_a_log_refuse_blank_lines():
    rows = csv_rows("a,b\n\n", Path("f.csv"))
    with pytest.raises(DataFormatError) as err:
        list(data_rows(rows[1:], rows[0][1], Path("f.csv"), log=None))
    assert_names(err, "f.csv", 2, "a")
