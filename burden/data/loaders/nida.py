"""NIDA "Overdose Death Rates" tables (NCHS figures from CDC WONDER) -> ``us_deaths_by_drug``.

Two files share one spreadsheet layout: ``nida_deaths`` (number of deaths by drug and sex)
and ``nida_rates`` (age-adjusted rates per 100,000 by drug, sex and demographic group).

Layout, as published (Windows-1252 CSV saved from Excel):

- title rows, then a header row holding the years (found by content, not line number),
  then a "fold change" column, which is derived from two year columns and is dropped
  (one ``dropped`` log entry per such column, not per row);
- one row per drug, labels with footnote digits glued on ("Heroin4") and stray leading or
  trailing spaces ("Female "); counts with thousands separators ("16,849");
- under each drug, its "Female" and "Male" rows (the drug row itself is sex ``both``); in
  the rates file also demographic group rows ("White (Non-Hispanic)"), some with their own
  Female/Male rows. A sex row belongs to the group above it only when it is indented deeper
  than that group row; otherwise it belongs to the drug (group ``all``);
- a blank row ends the table; the footnotes below it are logged once as one ``dropped``
  entry with their line range (and so are the title rows above the header).

Blank cells (rates the publisher did not print, e.g. small groups in early years) are
dropped, one ``dropped`` entry per cell, since ``value`` is not nullable.

Drugs overlap: one death can involve several drugs, so "Any Opioid" includes the "Heroin"
deaths and "Heroin AND Synthetic Opioids ..." is inside both. All rows are kept, each under
its own drug id (``registry.causes`` ids; combinations as ``a_and_b`` / ``a_without_b``).
Never add drug rows together: that double counts.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from burden.data.cleaning import CleaningLog, DataFormatError, check_unique, parse_count
from burden.data.textfile import column_letter, csv_rows, decode, is_blank
from burden.registry.causes import CAUSES

#: Measure of each NIDA source (``registry.sources`` ids).
MEASURES = {"nida_deaths": "deaths", "nida_rates": "rate_age_adj_per_100k"}

#: Drug labels as printed (footnote digits removed, case-insensitive) -> cause id.
DRUG_LABELS = {
    "Total Overdose Deaths": "all_overdose",
    "Any Opioid": "any_opioid",
    "Prescription Opioids": "rx_opioids",
    "Synthetic Opioids other than Methadone (primarily fentanyl)": "synthetic_opioids",
    "Synthetic Opioids other than Methadone": "synthetic_opioids",
    "Heroin": "heroin",
    "Cocaine": "cocaine",
    "Psychostimulants With Abuse Potential (primarily methamphetamine)": "psychostimulants",
    "Psychostimulants With Abuse Potential": "psychostimulants",
    "Benzodiazepines": "benzodiazepines",
    "Antidepressants": "antidepressants",
}
#: Words joining two drug labels in combination rows -> id infix.
COMBINATIONS = {"AND": "and", "WITHOUT": "without"}
SEX_LABELS = {"Female": "female", "Male": "male"}
#: Demographic group rows of the rates file, kept as printed.
GROUP_LABELS = {
    g: g
    for g in [
        "White (Non-Hispanic)",
        "Black (Non-Hispanic)",
        "Asian or Pacific Islander (Non-Hispanic)",
        "Hispanic",
        "American Indian or Alaska Native (Non-Hispanic)",
    ]
}
assert set(DRUG_LABELS.values()) <= set(CAUSES), "DRUG_LABELS must map to registry causes"

_YEAR = re.compile(r"(19|20)\d\d")
_FOOTNOTE_DIGITS = re.compile(r"\d+$")
_COMBINATION = re.compile(r"\s+(AND|WITHOUT)\s+")  # upper case, as printed
COLUMNS = ["year", "drug", "group", "sex", "measure", "value", "definition", "source"]
#: ``registry.estimands`` id of every row: NCHS counts deaths whose certificate names the drug.
DEFINITION = "certified_overdose"


def load(path: Path, log: CleaningLog, source_id: str) -> pd.DataFrame:
    """Read one NIDA table into ``us_deaths_by_drug`` rows (see the module docstring)."""
    if source_id not in MEASURES:
        raise ValueError(f"nida loader: unknown source {source_id!r}; known: {list(MEASURES)}")
    path = Path(path)
    text = decode(path, encoding="cp1252", named_columns=False,
                  expected="Windows-1252 (cp1252) text, as NIDA publishes it")
    if not text.strip():
        raise DataFormatError(path, "the file is empty", line=1,
                              expected="the NIDA table (Windows-1252 CSV)")
    rows = csv_rows(text, path)
    header_at = _find_header(rows, path)
    header_line, header = rows[header_at]
    label_col, years, fold_cols = _header_columns(header, header_line, path)
    _log_block(log, rows[:header_at], "title rows above the header: not data")
    for col in fold_cols:
        log.record("dropped", "fold-change column: a ratio of two year columns, not a "
                   "measurement", line=header_line, column=header[col].strip(),
                   original=header[col].strip())
    label_column = f"{column_letter(label_col)} (row label)"
    measure = MEASURES[source_id]
    records, end = _table(rows, header_at, label_col, years, fold_cols, path, log)
    if end is None:
        raise DataFormatError(path, "file ends inside the table: it looks truncated",
                              line=rows[-1][0], column=label_column, expected="a blank row "
                              "and the footnotes after the last drug row")
    _check_footer(rows[end:], years, path)
    _log_block(log, rows[end:], "footnotes below the table: not data")
    frame = pd.DataFrame.from_records(
        records, columns=[c for c in COLUMNS if c != "definition"] + ["_line", "_label"])
    frame["measure"], frame["source"] = measure, source_id
    frame["definition"] = DEFINITION
    if frame.empty:
        raise DataFormatError(path, "no data rows under the year header", line=header_line,
                              expected="drug rows with a value per year")
    check_unique(frame, ["year", "drug", "group", "sex"], file=path, column=label_column,
                 expected="one row per drug, group and sex")
    return frame[COLUMNS].astype({"year": int, "value": float}).reset_index(drop=True)


def _table(rows, header_at: int, label_col: int, years: dict[int, int], fold_cols: list[int],
           path: Path, log: CleaningLog) -> tuple[list[dict], int | None]:
    """Records of the rows below the header, and the index of the blank row ending them."""
    header = rows[header_at][1]
    width = max([label_col + 1, *years, *fold_cols]) + 1
    label_column = f"{column_letter(label_col)} (row label)"
    records: list[dict] = []
    drug = group = None
    group_indent = -1
    end = None
    for i, (line, cells) in enumerate(rows[header_at + 1:], start=header_at + 1):
        if is_blank(cells):
            end = i
            break
        if len(cells) < width:
            missing = header[len(cells)].strip() or column_letter(len(cells))
            raise DataFormatError(path, f"row has {len(cells)} cells, the header {width}: "
                                  "the file looks truncated", line=line, column=missing,
                                  expected="a complete row for every header column")
        _check_unlabelled_cells(cells, header, label_col, line, path)
        raw_label = cells[label_col]
        kind, value = classify(raw_label, path=path, line=line, column=label_column)
        indent = len(raw_label) - len(raw_label.lstrip(" "))
        if kind == "drug":
            drug, group, group_indent, sex = value, "all", -1, "both"
        else:
            if drug is None:
                raise DataFormatError(path, f"{raw_label.strip()!r} row before any drug row",
                                      line=line, column=label_column,
                                      expected="a drug row first")
            if kind == "group":
                group, group_indent, sex = value, indent, "both"
            else:  # a sex row: of the group above if indented deeper, else of the drug
                sex = value
                if indent <= group_indent:
                    group, group_indent = "all", -1
        for col, year in years.items():
            record = f"{raw_label.strip()}, {drug}, {group}, {sex}, {year}"
            number = parse_count(cells[col], file=path, line=line, column=header[col].strip(),
                                 allow_blank=True)
            if pd.isna(number):
                log.record("dropped", "blank cell: value not published", line=line,
                           column=header[col].strip(), original="", record=record)
                continue
            records.append({"year": year, "drug": drug, "group": group, "sex": sex,
                            "value": number, "_line": line, "_label": raw_label.strip()})
    return records, end


def classify(raw_label: str, *, path: Path, line: int, column: str) -> tuple[str, str]:
    """A row label -> ("drug", drug id) | ("group", group) | ("sex", sex); error if unknown."""
    label = _FOOTNOTE_DIGITS.sub("", " ".join(raw_label.split())).strip()
    key = label.casefold()
    for table, kind in ((SEX_LABELS, "sex"), (GROUP_LABELS, "group"), (DRUG_LABELS, "drug")):
        for known, value in table.items():
            if known.casefold() == key:
                return kind, value
    parts = _COMBINATION.split(label)
    if len(parts) == 3:
        first, word, second = parts
        ids = [_drug_id(p) for p in (first, second)]
        if None not in ids:
            return "drug", f"{ids[0]}_{COMBINATIONS[word]}_{ids[1]}"
    known = [*DRUG_LABELS, "<drug> AND|WITHOUT <drug>", *GROUP_LABELS, *SEX_LABELS]
    raise DataFormatError(path, f"unknown row label {raw_label.strip()!r}", line=line,
                          column=column, expected=f"one of {known}")


def _drug_id(label: str) -> str | None:
    key = _FOOTNOTE_DIGITS.sub("", label).strip().casefold()
    return next((v for k, v in DRUG_LABELS.items() if k.casefold() == key), None)






def _find_header(rows: list[tuple[int, list[str]]], path: Path) -> int:
    for i, (_, cells) in enumerate(rows):
        if sum(bool(_YEAR.fullmatch(c.strip())) for c in cells) >= 2:
            return i
    raise DataFormatError(path, "no header row with year columns found",
                          line=rows[-1][0] if rows else 1,
                          expected="a row of years such as 1999,2000,... above the table")


def _header_columns(header: list[str], line: int, path: Path):
    """(label column, {column: year}, fold-change columns) of the header row."""
    years, fold = {}, []
    for col, text in enumerate(header):
        text = text.strip()
        if _YEAR.fullmatch(text):
            if int(text) in years.values():
                raise DataFormatError(path, f"year {text} appears twice in the header",
                                      line=line, column=text, expected="each year once")
            years[col] = int(text)
        elif "fold change" in text.casefold():
            fold.append(col)
        elif text:
            raise DataFormatError(path, f"unexpected header {text!r}", line=line,
                                  column=column_letter(col),
                                  expected="year columns (e.g. 1999) and a fold-change column")
    label_col = min(years) - 1
    if label_col < 0:
        raise DataFormatError(path, "no column for the row labels left of the years",
                              line=line, column="A", expected="drug labels left of the years")
    return label_col, years, fold


def _check_unlabelled_cells(cells, header, label_col, line, path) -> None:
    # Cells left of the labels or under no header would otherwise vanish unseen.
    for col, text in enumerate(cells):
        if text.strip() and col != label_col and (col >= len(header) or not header[col].strip()):
            raise DataFormatError(path, f"value {text!r} in a column without a header",
                                  line=line, column=column_letter(col),
                                  expected="values only under year columns")


def _check_footer(rows, years: dict[int, int], path: Path) -> None:
    for line, cells in rows:
        filled = [header_col for header_col in years
                  if header_col < len(cells) and cells[header_col].strip()]
        if filled:
            raise DataFormatError(path, "values below the blank row that ends the table",
                                  line=line, column=str(years[filled[0]]),
                                  expected="only footnotes after the blank row")



def _log_block(log: CleaningLog, rows, reason: str) -> None:
    """One log entry for a block of non-data lines (titles, footnotes)."""
    texts = [(line, " ".join(c.strip() for c in cells if c.strip()))
             for line, cells in rows if not is_blank(cells)]
    if texts:
        log.record("dropped", f"{reason} (lines {texts[0][0]}-{texts[-1][0]})",
                   line=texts[0][0], original=" | ".join(t for _, t in texts),
                   record=f"lines {texts[0][0]}-{texts[-1][0]}")
