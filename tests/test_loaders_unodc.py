"""UNODC JSON exports -> ``drug_use_prevalence`` and ``drug_seizures``.

Fixtures are real records cut byte for byte from the pinned raw files (their own indentation
and line endings: CRLF and 4 spaces for prevalence, LF and 1 space for seizures):
``unodc_prevalence_sample.json`` (US opioids and opiates, empty Male/Female, a name with a
trailing space, Taiwan, a part of the UK, Türkiye) and ``unodc_seizures_sample.json`` (US
heroin and fentanyl with keys repeated 3 times, Canada codeine, Kenya, Afghanistan opium).
Bad inputs are edits of them; expected values are read with the ``json`` module.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from loader_helpers import MATRIX_ERRORS, assert_bad_input, bad_input

from burden.data import build, jsonfile
from burden.data.cleaning import CleaningLog, DataFormatError
from burden.data.loaders import unodc
from burden.data.schemas import year_range
from burden.registry.opioid_classes import OPIOID_CLASS, OPIOID_CLASSES

FIXTURES = Path(__file__).parent / "fixtures"
PREVALENCE = FIXTURES / "unodc_prevalence_sample.json"
SEIZURES = FIXTURES / "unodc_seizures_sample.json"
IDS = {PREVALENCE: "unodc_prevalence", SEIZURES: "unodc_seizures"}


def _load(path: Path, source_id: str) -> tuple[pd.DataFrame, CleaningLog]:
    log = CleaningLog(source=source_id, file=path.name)
    return unodc.load(path, log, source_id), log


def _text(fixture: Path) -> str:
    return fixture.read_bytes().decode("utf-8")


def _write(tmp_path: Path, fixture: Path, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / fixture.name
    path.write_bytes(text.encode(encoding))
    return path


def _record_line(fixture: Path, number: int, field: str) -> int:
    """Line of ``field`` in record ``number`` (1-based), found with plain text search."""
    text = _text(fixture)
    starts = [i for i, ch in enumerate(text) if ch == "{"]
    at = text.index(json.dumps(field), starts[number - 1])
    return text.count("\n", 0, at) + 1


def _record_start(fixture: Path, number: int) -> int:
    """Line of the ``{`` opening record ``number``."""
    text = _text(fixture)
    starts = [i for i, ch in enumerate(text) if ch == "{"]
    return text.count("\n", 0, starts[number - 1]) + 1


def _number_of(fixture: Path, **fields) -> int:
    records = json.loads(_text(fixture))
    return next(i for i, r in enumerate(records, 1)
                if all(str(r[k]).strip() == str(v) for k, v in fields.items()))


def _edit_record(fixture: Path, number: int, field: str, old: str, new: str) -> str:
    """The fixture's text with ``old`` -> ``new`` on the line of ``field`` in a record."""
    lines = _text(fixture).split("\n")
    line = _record_line(fixture, number, field)
    assert old in lines[line - 1], lines[line - 1]
    lines[line - 1] = lines[line - 1].replace(old, new, 1)
    return "\n".join(lines)


def _assert_names(err, path: Path, record: int, line: int, field: str | None) -> None:
    exc = err.value
    message = str(exc)
    assert Path(exc.file).name == path.name and path.name in message
    assert f"record {record}" in message, message
    assert exc.line == line and f"line {line}" in message, message
    assert exc.column == field, message
    if field:
        assert repr(field) in message


US_OPIOIDS_2022 = {"Country/Territory": "United States of America", "Drug": "Opioids",
                   "Year": "2022"}
US_HEROIN_2022 = {"msCode": "USA", "Drug": "Heroin", "Year": 2022}


# ---------------------------------------------------------------- JSON helper


def test_records_have_numbers_and_lines():
    text = _text(SEIZURES)
    recs = jsonfile.records(text, SEIZURES)
    assert len(recs) == len(json.loads(text))
    assert [r.number for r in recs] == list(range(1, len(recs) + 1))
    assert recs[0].line == 2 and recs[1].line == 2 + 11  # 9 fields + braces per record
    assert recs[1].line_of("Kilograms") == recs[1].line + 9


# ---------------------------------------------------------------- prevalence


def test_prevalence_rows_by_sex_and_schema():
    frame, _ = _load(PREVALENCE, "unodc_prevalence")
    build.validate("drug_use_prevalence", frame)
    raw = json.loads(_text(PREVALENCE))
    us = next(r for r in raw if r["Country/Territory"].strip() == "United States of America"
              and r["Drug"] == "Opioids" and r["Year"] == "2022")
    got = frame.query("iso3 == 'USA' and drug == 'Opioids' and year == 2022").set_index(
        "sex")["prevalence_pct"]
    assert got.to_dict() == {"both": float(us["All"]), "male": float(us["Male"]),
                             "female": float(us["Female"])}
    assert {"TWN", "TUR", "PAK", "USA"} <= set(frame["iso3"])
    assert set(frame["age"]) == {"general"}
    # opioids and opiates side by side for one country-year
    both = frame.query("sex == 'both'").pivot_table(index=["iso3", "year"], columns="drug",
                                                    values="prevalence_pct")
    assert both.loc[("USA", 2018), "Opioids"] > both.loc[("USA", 2018), "Opiates"]


def test_prevalence_empty_cells_dropped_and_logged_one_entry_each():
    frame, log = _load(PREVALENCE, "unodc_prevalence")
    raw = json.loads(_text(PREVALENCE))
    uk = [r for r in raw if r["Country/Territory"] in unodc.UK_PARTS]
    empty = sum(1 for r in raw if r not in uk for f in ("All", "Male", "Female") if r[f] == "")
    entries = log.to_frame()
    blank = entries[entries["reason"].str.contains("empty")]
    assert len(blank) == empty > 0 and set(blank["action"]) == {"dropped"}
    assert len(frame) == 3 * (len(raw) - len(uk)) - empty
    turkey = frame.query("iso3 == 'TUR'")  # All empty, Male given
    assert turkey["sex"].tolist() == ["male"]


def test_prevalence_uk_parts_dropped_and_names_stripped_logged():
    frame, log = _load(PREVALENCE, "unodc_prevalence")
    entries = log.to_frame()
    uk = entries[entries["original"].isin(unodc.UK_PARTS)]
    assert len(uk) == 1 and uk["action"].item() == "dropped"
    assert "GBR" not in set(frame["iso3"])
    raw = json.loads(_text(PREVALENCE))
    spaced = [r for r in raw if r["Country/Territory"] != r["Country/Territory"].strip()]
    changed = entries.query("action == 'changed'")
    assert len(changed) == len(spaced) > 0
    assert set(frame.query("iso3 == 'USA'")["country"]) == {"United States of America"}


def test_utf16_is_refused(tmp_path):
    for fixture, source_id in IDS.items():
        path = _write(tmp_path, fixture, _text(fixture), encoding="utf-16")
        with pytest.raises(DataFormatError, match="UTF-16") as err:
            _load(path, source_id)
        assert err.value.line == 1 and path.name in str(err.value)


def test_invalid_byte_names_line_and_field(tmp_path):
    number = _number_of(PREVALENCE, **US_OPIOIDS_2022)
    line = _record_line(PREVALENCE, number, "Drug")
    data = PREVALENCE.read_bytes().split(b"\n")
    data[line - 1] = data[line - 1].replace(b"Opioids", b"Opi\xffoids")
    path = tmp_path / PREVALENCE.name
    path.write_bytes(b"\n".join(data))
    with pytest.raises(DataFormatError, match="not valid UTF-8") as err:
        _load(path, "unodc_prevalence")
    assert (err.value.line, err.value.column) == (line, "Drug")


@pytest.mark.parametrize("fixture", [PREVALENCE, SEIZURES])
def test_truncated_mid_record(tmp_path, fixture):
    text = _text(fixture)
    cut = text.index('"Drug"', len(text) // 2)
    path = _write(tmp_path, fixture, text[:cut + 12])
    with pytest.raises(DataFormatError, match="ends inside record") as err:
        _load(path, IDS[fixture])
    number = text.count("{", 0, cut)
    assert f"record {number}" in str(err.value)
    assert err.value.column == "Drug" and err.value.line == text.count("\n", 0, cut) + 1


@pytest.mark.parametrize("fixture", [PREVALENCE, SEIZURES])
def test_truncated_between_records(tmp_path, fixture):
    text = _text(fixture)
    cut = text.rindex("}", 0, text.rindex("{")) + 1  # after the second-last record
    path = _write(tmp_path, fixture, text[:cut] + ",")
    with pytest.raises(DataFormatError, match="without the closing") as err:
        _load(path, IDS[fixture])
    assert f"after record {text.count('{', 0, cut)}" in str(err.value)


@pytest.mark.parametrize("fixture, field, old, new", [
    (PREVALENCE, "Female", '"Female"', '"Women"'),
    (SEIZURES, "Kilograms", '"Kilograms"', '"Kg"'),
])
def test_renamed_field(tmp_path, fixture, field, old, new):
    number = 2
    path = _write(tmp_path, fixture, _edit_record(fixture, number, field, old, new))
    with pytest.raises(DataFormatError, match="missing or renamed") as err:
        _load(path, IDS[fixture])
    _assert_names(err, path, number, _record_start(fixture, number), field)


def test_missing_field(tmp_path):
    number = 2
    line = _record_line(SEIZURES, number, "msCode")
    lines = _text(SEIZURES).split("\n")
    path = _write(tmp_path, SEIZURES, "\n".join(lines[:line - 1] + lines[line:]))
    with pytest.raises(DataFormatError, match="missing or renamed") as err:
        _load(path, "unodc_seizures")
    _assert_names(err, path, number, _record_start(SEIZURES, number), "msCode")


@pytest.mark.parametrize("old, new, problem", [
    ('"3.639267219"', '"3.6x"', "not a number"),
    ('"3.639267219"', '"-3.6"', "negative"),
    ('"3.639267219"', '"103.6"', "above 100"),
    ('"3.639267219"', '"3,639267219"', "comma or space must separate"),  # a decimal comma
])
def test_prevalence_bad_value(tmp_path, old, new, problem):
    number = _number_of(PREVALENCE, **US_OPIOIDS_2022)
    path = _write(tmp_path, PREVALENCE, _edit_record(PREVALENCE, number, "All", old, new))
    with pytest.raises(DataFormatError, match=problem) as err:
        _load(path, "unodc_prevalence")
    _assert_names(err, path, number, _record_line(PREVALENCE, number, "All"), "All")


@pytest.mark.parametrize("field, old, new", [
    ("Country/Territory", '"United States of America', '"Atlantis'),
    ("Drug", '"Opioids"', '"Opioidz"'),
    ("Age", '"general"', '"youth"'),
    ("Year", '"2022"', '"22"'),
])
def test_prevalence_unknown_label(tmp_path, field, old, new):
    number = _number_of(PREVALENCE, **US_OPIOIDS_2022)
    path = _write(tmp_path, PREVALENCE, _edit_record(PREVALENCE, number, field, old, new))
    with pytest.raises(DataFormatError) as err:
        _load(path, "unodc_prevalence")
    _assert_names(err, path, number, _record_line(PREVALENCE, number, field), field)


def test_prevalence_duplicated_key_names_both_records(tmp_path):
    text = _text(PREVALENCE)
    recs = jsonfile.records(text, PREVALENCE)
    first = next(r for r in recs if r.fields["Drug"] == "Opioids")
    copy = text[first.start:first.end]
    path = _write(tmp_path, PREVALENCE, text.rstrip()[:-1].rstrip() + ",\r\n    " + copy
                  + "\r\n]")
    with pytest.raises(DataFormatError, match=f"record {first.number} \\(line "
                       f"{first.line}\\)") as err:
        _load(path, "unodc_prevalence")
    assert f"record {len(recs) + 1}:" in str(err.value)
    assert err.value.column == "Country/Territory"


# ---------------------------------------------------------------- seizures


def test_seizures_repeated_keys_summed_and_logged():
    frame, log = _load(SEIZURES, "unodc_seizures")
    build.validate("drug_seizures", frame)
    raw = json.loads(_text(SEIZURES))
    heroin_2021 = [r["Kilograms"] for r in raw if r["msCode"] == "USA"
                   and r["Drug"] == "Heroin" and r["Year"] == 2021]
    assert len(heroin_2021) == 3
    row = frame.query("iso3 == 'USA' and drug == 'Heroin' and year == 2021")
    assert row["kilograms"].item() == pytest.approx(sum(heroin_2021))
    assert row["n_records"].item() == 3
    merges = log.to_frame().query("action == 'changed'")
    keys = {(r["msCode"], r["Drug"], r["Year"]) for r in raw}
    repeated = [k for k in keys if sum((r["msCode"], r["Drug"], r["Year"]) == k
                                       for r in raw) > 1]
    assert len(merges) == len(repeated)
    assert len(frame) == len(keys) and frame["n_records"].sum() == len(raw)
    entry = merges[merges["record"] == "USA, Heroin, 2021"]
    numbers = [i for i, r in enumerate(raw, 1) if (r["msCode"], r["Drug"], r["Year"])
               == ("USA", "Heroin", 2021)]
    assert f"records {', '.join(map(str, numbers))}" in entry["reason"].item()
    # Canada codeine 2018: 16 + 2 + 2 kg, a repeated non-zero value is flagged in the reason
    codeine = merges[merges["record"] == "CAN, Codeine, 2018"]["reason"].item()
    assert "possibly one report listed twice" in codeine


def test_seizures_opioid_classes():
    frame, _ = _load(SEIZURES, "unodc_seizures")
    classes = frame.drop_duplicates("drug").set_index("drug")["opioid_class"].to_dict()
    assert classes["Heroin"] == "illicit_opiate" and classes["Opium"] == "illicit_opiate"
    assert classes["Fentanyl"] == "illicit_synthetic"
    assert classes["Carfentanil"] == "illicit_synthetic"
    assert classes["Codeine"] == "pharmaceutical"
    assert OPIOID_CLASS["Tramadol"] == "pharmaceutical" and OPIOID_CLASS["Naloxone"] is None
    assert classes["Cannabis herb (marijuana)"] == ""
    assert {c for c in OPIOID_CLASS.values() if c} == set(OPIOID_CLASSES)


@pytest.mark.parametrize("old, new, problem", [
    ("4140", '"41x0"', "not a number"),
    ("4140", "-4140", "negative"),
    ("4140", "null", "not a number"),
])
def test_seizures_bad_kilograms(tmp_path, old, new, problem):
    number = _number_of(SEIZURES, **US_HEROIN_2022)
    path = _write(tmp_path, SEIZURES, _edit_record(SEIZURES, number, "Kilograms", old, new))
    with pytest.raises(DataFormatError, match=problem) as err:
        _load(path, "unodc_seizures")
    _assert_names(err, path, number, _record_line(SEIZURES, number, "Kilograms"),
                  "Kilograms")


@pytest.mark.parametrize("field, old, new", [
    ("Country/Territory", '"United States of America"', '"Atlantis"'),
    ("msCode", '"USA"', '"CAN"'),  # code of another country
    ("Drug", '"Heroin"', '"Heroine"'),  # an opioid-group drug without a class
    ("Year", "2022", '"twenty"'),
])
def test_seizures_unknown_label(tmp_path, field, old, new):
    number = _number_of(SEIZURES, **US_HEROIN_2022)
    path = _write(tmp_path, SEIZURES, _edit_record(SEIZURES, number, field, old, new))
    with pytest.raises(DataFormatError) as err:
        _load(path, "unodc_seizures")
    _assert_names(err, path, number, _record_line(SEIZURES, number, field), field)


@pytest.mark.parametrize("fixture, key, old, new, table", [
    (PREVALENCE, US_OPIOIDS_2022, '"2022"', '"1916"', "drug_use_prevalence"),
    (SEIZURES, US_HEROIN_2022, "2022", "1916", "drug_seizures"),
])
def test_year_out_of_range_names_record_line_and_field(tmp_path, fixture, key, old, new,
                                                       table):
    number = _number_of(fixture, **key)
    path = _write(tmp_path, fixture, _edit_record(fixture, number, "Year", old, new))
    with pytest.raises(DataFormatError, match="year 1916 out of range") as err:
        _load(path, IDS[fixture])
    _assert_names(err, path, number, _record_line(fixture, number, "Year"), "Year")
    first, last = year_range(table)
    assert err.value.expected == f"a year from {first} to {last}"


@pytest.mark.parametrize("fixture", [PREVALENCE, SEIZURES])
@pytest.mark.parametrize("case, line, field, problem", [
    ("missing", None, None, "the raw file of source 'unodc_"),
    ("empty", 1, None, "the file is empty"),
    ("empty_array", 1, None, "the array holds no records"),
    ("extra_field", 2, "Extra", "record 1: unexpected field(s) ['Extra']"),
    ("utf16_no_bom", 1, None, "not UTF-8 text (UTF-16?)"),
    ("latin1_byte", 2, None, "byte b'\\xe9' is not valid UTF-8"),
])
def test_bad_input_matrix(tmp_path, fixture, case, line, field, problem):
    """A missing or empty file, an empty array, an extra field, another encoding: an error
    naming the file (line, field) and the problem. No wrong-delimiter case: JSON has none."""
    path = bad_input(tmp_path, fixture, case, IDS[fixture])
    with pytest.raises(MATRIX_ERRORS[case]) as err:
        _load(path, IDS[fixture])
    assert_bad_input(err, path, line, field, problem)


def test_not_an_array_and_unknown_source(tmp_path):
    path = _write(tmp_path, SEIZURES, '{"Region": "Africa"}')
    with pytest.raises(DataFormatError, match="not '\\['"):
        _load(path, "unodc_seizures")
    with pytest.raises(ValueError, match="unknown source"):
        _load(SEIZURES, "unodc_prices")


# ---------------------------------------------------------------- real data


@pytest.mark.realdata
def test_real_prevalence_opioids_and_opiates(raw_file, tmp_path):
    path = raw_file("unodc_prevalence")
    out = build.build_table("drug_use_prevalence", out_dir=tmp_path, raw_dir=path.parent,
                            progress=None)
    table = pd.read_parquet(out)
    raw = json.loads(path.read_text(encoding="utf-8"))
    log = pd.read_csv(tmp_path / "drug_use_prevalence.cleaning_log.csv")
    kept = [r for r in raw if r["Country/Territory"] not in unodc.UK_PARTS]
    cells = sum(1 for r in kept for f in ("All", "Male", "Female") if r[f] != "")
    assert len(table) == cells
    empty = sum(1 for r in kept for f in ("All", "Male", "Female") if r[f] == "")
    assert (log["action"] == "dropped").sum() == empty + (len(raw) - len(kept))
    both = table.query("sex == 'both'").pivot_table(index=["iso3", "year"], columns="drug",
                                                    values="prevalence_pct")
    pairs = both.dropna(subset=["Opioids", "Opiates"])
    assert len(pairs) == 82 and pairs.index.get_level_values("iso3").nunique() == 51
    # opiates are a subset of opioids, yet UNODC prints a higher opiate figure for 3 pairs
    above = pairs[pairs["Opiates"] > pairs["Opioids"]].index.tolist()
    assert above == [("CZE", 2016), ("ESP", 2015), ("ESP", 2017)], above


@pytest.mark.realdata
def test_real_seizures(raw_file, tmp_path):
    path = raw_file("unodc_seizures")
    out = build.build_table("drug_seizures", out_dir=tmp_path, raw_dir=path.parent,
                            progress=None)
    table = pd.read_parquet(out)
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert table["n_records"].sum() == len(raw)
    assert table["kilograms"].sum() == pytest.approx(sum(r["Kilograms"] for r in raw))
    log = pd.read_csv(tmp_path / "drug_seizures.cleaning_log.csv")
    assert len(log) == (table["n_records"] > 1).sum() == 1730
    heroin = table.query("iso3 == 'USA' and drug == 'Heroin' and year == 2021")
    assert heroin["n_records"].item() == 3
    opioid = table[table["drug_group"] == "Opioids and Opiates"]
    # the opioid drugs are those of the raw file (json module), and every one is classified
    raw_opioids = {r["Drug"] for r in raw if r["Drug group"] == "Opioids and Opiates"}
    assert {"Heroin", "Fentanyl", "Opium"} <= raw_opioids
    assert set(opioid["drug"]) == raw_opioids
    assert raw_opioids <= set(OPIOID_CLASS), sorted(raw_opioids - set(OPIOID_CLASS))
