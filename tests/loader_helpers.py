"""Helpers shared by the loader tests: read a fixture, edit it line by line, make the bad
copies of the bad-input matrix, and check that an error names the file, line and column."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from burden.errors import DataFormatError, MissingRawFileError
from burden.registry.published import REFERENCE_SOURCES
from burden.registry.sources import SOURCES


def csv_dicts(path: Path) -> list[dict]:
    """The rows of a UTF-8 CSV file as dicts (header row as keys)."""
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def line_of(path: Path, starts: str, encoding: str = "utf-8") -> int:
    """1-based line number of the first line starting with ``starts``."""
    lines = path.read_text(encoding=encoding).splitlines()
    return next(i for i, text in enumerate(lines, 1) if text.startswith(starts))


def edited(tmp_path: Path, fixture: Path, edit, encoding: str = "utf-8") -> Path:
    """A copy of ``fixture`` in ``tmp_path`` with ``edit(list of lines) -> list of lines``
    applied, written in ``encoding``."""
    lines = fixture.read_text(encoding="utf-8").splitlines(keepends=True)
    path = tmp_path / fixture.name
    path.write_bytes("".join(edit(lines)).encode(encoding))
    return path


def replace_on(line: int, old: str, new: str):
    """An edit replacing the first ``old`` with ``new`` on 1-based ``line`` (which must
    contain it)."""
    def edit(lines):
        assert old in lines[line - 1], lines[line - 1]
        lines[line - 1] = lines[line - 1].replace(old, new, 1)
        return lines
    return edit


def assert_names(err, path: Path, line: int | None, column: str | None) -> None:
    """The DataFormatError (or MissingRawFileError, without line and column) in ``err``
    names ``path``, ``line`` and ``column`` (when given), as attributes and in its message."""
    exc, message = err.value, str(err.value)
    assert Path(exc.file).name == path.name and path.name in message
    assert (getattr(exc, "line", None), getattr(exc, "column", None)) == (line, column), message
    if line is not None:
        assert f"line {line}" in message
    if column is not None:
        assert f"column {column!r}" in message


# ---- the bad-input matrix every loader's tests cover -----------------------------------

#: case -> the error a loader raises for it
MATRIX_ERRORS = {"missing": MissingRawFileError, "empty": DataFormatError,
                 "header_only": DataFormatError, "empty_array": DataFormatError,
                 "extra_column": DataFormatError, "extra_field": DataFormatError,
                 "semicolons": DataFormatError, "utf16_no_bom": DataFormatError,
                 "latin1_byte": DataFormatError}


def bad_input(tmp_path: Path, fixture: Path, case: str, source_id: str, *,
              encoding: str = "utf-8", delimiter: str = ",", header_lines: int = 1) -> Path:
    """A copy of ``fixture`` in ``tmp_path`` made bad in one way (``case``):

    - ``missing``: no file, at the registered file name of ``source_id`` (so the error can
      say how to get it);
    - ``empty``: 0 bytes;
    - ``header_only``: the first ``header_lines`` lines (title rows and the header);
    - ``empty_array`` (JSON): ``[]``;
    - ``extra_column``: a column "Extra" (cells "x") after the last, from the header down;
    - ``extra_field`` (JSON): a field "Extra" first in the first record, on its line;
    - ``semicolons``: the same cells separated by semicolons;
    - ``utf16_no_bom``: the text in UTF-16 (little-endian) without a byte-order mark;
    - ``latin1_byte``: a latin-1 "é" (byte 0xE9) starting the first line below the header.
    """
    path = tmp_path / fixture.name
    if case == "missing":
        source = SOURCES.get(source_id) or REFERENCE_SOURCES[source_id]
        return tmp_path / source.filename
    text = fixture.read_bytes().decode(encoding)
    lines = text.splitlines(keepends=True)
    if case == "empty":
        data = b""
    elif case == "header_only":
        data = "".join(lines[:header_lines]).encode(encoding)
    elif case == "empty_array":
        data = b"[]\n"
    elif case == "extra_column":
        for i in range(header_lines - 1, len(lines)):
            body = lines[i].rstrip("\r\n")
            cell = "Extra" if i == header_lines - 1 else "x"
            lines[i] = body + delimiter + cell + lines[i][len(body):]
        data = "".join(lines).encode(encoding)
    elif case == "extra_field":
        data = text.replace("{", '{"Extra": "x", ', 1).encode(encoding)
    elif case == "semicolons":
        rows = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        out = io.StringIO()
        csv.writer(out, delimiter=";", lineterminator="\n").writerows(rows)
        data = out.getvalue().encode(encoding)
    elif case == "utf16_no_bom":
        data = text.encode("utf-16-le")
    elif case == "latin1_byte":
        lines[header_lines] = "\u00e9" + lines[header_lines]
        data = "".join(lines).encode("latin-1")
    else:
        raise ValueError(f"unknown bad-input case {case!r}")
    path.write_bytes(data)
    return path


def assert_bad_input(err, path: Path, line: int | None, column: str | None,
                     problem: str) -> None:
    """The error in ``err`` for a case of the matrix names ``path``, ``line`` and
    ``column`` and says ``problem``; for a missing file, also "no such file" and how to get
    it (``burden fetch SOURCE``, or restoring a reference table)."""
    message = str(err.value)
    assert problem in message, message
    assert_names(err, path, line, column)
    if isinstance(err.value, MissingRawFileError):
        source = err.value.source
        how = "restore it" if source in REFERENCE_SOURCES else f"`burden fetch {source}`"
        assert message.startswith(f"{path}: no such file; ") and how in message, message
