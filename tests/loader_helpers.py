"""Helpers shared by the loader tests: read a fixture, edit it line by line, and check that
an error names the file, line and column."""

from __future__ import annotations

import csv
from pathlib import Path


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
    """The DataFormatError in ``err`` names ``path``, ``line`` and ``column`` (when given),
    as attributes and in its message."""
    exc, message = err.value, str(err.value)
    assert Path(exc.file).name == path.name and path.name in message
    assert (exc.line, exc.column) == (line, column), message
    if line is not None:
        assert f"line {line}" in message
    if column is not None:
        assert f"column {column!r}" in message
