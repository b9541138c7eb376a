"""Reading raw text tables strictly: decoding, CSV rows with their line numbers.

Every error is a ``DataFormatError`` naming the file, the 1-based line (as a text editor
shows it), the column and what was expected; a file that does not exist is a
``MissingRawFileError`` saying how to get it (``read_raw``, which ``jsonfile`` reads through
too).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

from burden.data.cleaning import CleaningLog
from burden.errors import DataFormatError, MissingRawFileError

Row = tuple[int, list[str]]  # (1-based line number, cells)

UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
UTF8_BOM = b"\xef\xbb\xbf"


def read_raw(path: str | Path) -> bytes:
    """The bytes of a loader's input file; if it does not exist, a ``MissingRawFileError``
    naming the path, the registered source of that file name and how to get the file."""
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        source, how = _how_to_get(path.name)
        raise MissingRawFileError(path, f"{path}: no such file; {how}",
                                  source=source) from None


def _how_to_get(filename: str) -> tuple[str | None, str]:
    """(source id or None, how to get the file) for a file name."""
    from burden import config
    from burden.registry.published import REFERENCE_SOURCES
    from burden.registry.sources import SOURCES

    raw_dir = config.raw_dir()
    for s in SOURCES.values():
        if s.filename == filename:
            return s.id, (f"it is the raw file of source {s.id!r} ({s.title}). Get it with "
                          f"`burden fetch {s.id}` (hash-checked, into {raw_dir}; from the "
                          "folder BURDEN_DATA_MIRROR names, if set), or run `burden data`, "
                          "which fetches the raw files and builds the tables")
    for r in REFERENCE_SOURCES.values():
        if r.filename == filename:
            return r.id, (f"it is the curated table {r.id!r} ({r.title}) shipped with the "
                          f"package as burden/registry/reference/{r.filename}: restore it "
                          "from the repository or reinstall the package")
    return None, (f"{filename!r} is not the file name of a registered source (`burden "
                  f"fetch` gets those of burden/registry/sources.py into {raw_dir})")


def decode(path: Path, *, expected: str, encoding: str = "UTF-8", delimiter: str = ",",
           named_columns: bool = True) -> str:
    """The file's text in ``encoding``; refuse UTF-16, NUL bytes and undecodable bytes.

    A UTF-8 byte-order mark means the file was re-saved as UTF-8: it is decoded as such,
    whatever ``encoding`` says. Errors locate the bad byte: its line, and its column by
    header name (``named_columns``) or spreadsheet letter (files whose first line is not
    the header). ``expected`` says what the file should be, e.g. "UTF-8 CSV".
    """
    data = read_raw(path)
    if data[:2] in UTF16_BOMS or b"\x00" in data:
        at = 0 if data[:2] in UTF16_BOMS else data.find(b"\x00")
        raise DataFormatError(path, f"NUL bytes or a UTF-16 byte-order mark: not {encoding} "
                              "text (UTF-16?)", line=_line_at(data, at),
                              column=column_at(data, at, delimiter, named_columns),
                              expected=expected)
    if data.startswith(UTF8_BOM):
        data, encoding = data[len(UTF8_BOM):], "UTF-8"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise DataFormatError(path, f"byte {data[exc.start:exc.start + 1]!r} is not valid "
                              f"{encoding}", line=_line_at(data, exc.start),
                              column=column_at(data, exc.start, delimiter, named_columns),
                              expected=expected) from None


def csv_rows(text: str, path: Path, delimiter: str = ",") -> list[Row]:
    """Every row of delimited ``text`` with its line number (the last, if a quoted cell spans)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[Row] = []
    try:
        for cells in reader:
            rows.append((reader.line_num, cells))
    except csv.Error as exc:
        raise DataFormatError(path, f"unreadable {_kind(delimiter)}: {exc}",
                              line=reader.line_num,
                              expected=f"{_separated(delimiter)} cells") from None
    return rows


def split_header(rows: list[Row], path: Path, required: list[str]) -> tuple[int, list[str]]:
    """(line, stripped names) of the first row; "the file is empty" if there is none."""
    if not rows:
        raise DataFormatError(path, "the file is empty", line=1,
                              expected=f"a header with {required}")
    line, cells = rows[0]
    return line, [c.strip() for c in cells]


def data_rows(rows: list[Row], header: list[str], path: Path, *,
              log: CleaningLog | None, delimiter: str = ",") -> Iterator[tuple[int, dict]]:
    """(line, {column: stripped cell}) of each row below the header.

    With a ``log``, blank lines are logged (``dropped``) and skipped; without one they are
    refused like any row with the wrong number of cells (a cut-short row names the first
    column it lacks).
    """
    for line, cells in rows:
        if log is not None and is_blank(cells):
            log.record("dropped", "blank line", line=line)
            continue
        if len(cells) != len(header):
            raise DataFormatError(path, f"{len(cells)} cells for {len(header)} columns: the "
                                  "row is cut short (truncated file?) or has extra cells",
                                  line=line,
                                  column=header[len(cells)] if len(cells) < len(header) else None,
                                  expected=f"{len(header)} {_separated(delimiter)} cells")
        yield line, dict(zip(header, (c.strip() for c in cells), strict=True))


def is_blank(cells: list[str]) -> bool:
    """True for a row with no text in any cell."""
    return not any(c.strip() for c in cells)


def column_letter(col: int) -> str:
    """Spreadsheet column letter of a 0-based index (0 -> A, 26 -> AA)."""
    name = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        name = chr(65 + rem) + name
    return name


def column_at(data: bytes, offset: int, delimiter: str = ",", named: bool = True) -> str:
    """The column holding byte ``offset``: its header name (first line) or its letter.

    Best effort on undecodable bytes: cells are counted in a latin-1 reading of the line,
    which keeps every delimiter and quote where it is.
    """
    start = data.rfind(b"\n", 0, offset) + 1
    prefix = data[start:offset].decode("latin-1").replace("\x00", "")
    index = max(len(next(csv.reader([prefix], delimiter=delimiter), [])) - 1, 0)
    if named:
        first = data.split(b"\n", 1)[0]
        first = first[2:] if first[:2] in UTF16_BOMS else first
        text = first.decode("latin-1").replace("\x00", "").removeprefix("\u00ef\u00bb\u00bf")
        header = next(csv.reader([text], delimiter=delimiter), [])
        if index < len(header) and header[index].strip():
            return header[index].strip()
    return column_letter(index)


def _line_at(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _kind(delimiter: str) -> str:
    return "CSV" if delimiter == "," else "tab-delimited text"


def _separated(delimiter: str) -> str:
    return "comma-separated" if delimiter == "," else "tab-separated"
