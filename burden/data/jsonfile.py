"""Reading raw JSON record files strictly: decoding, records with their line numbers, fields.

The JSON counterpart of ``textfile.py`` for files that are one array of flat objects
(``[{"Country/Territory": "Kenya", "Year": "2019", ...}, ...]``), as the UNODC data portal
exports are. Every error is a ``DataFormatError`` naming the file, the line (1-based, as a
text editor shows it: the line of the offending field, or the line where the record
starts), the field as ``column`` and, in the message, the record as ``record N`` (1-based
position in the array; record 1 is the first object).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from burden.data.cleaning import check_year, parse_count
from burden.data.textfile import read_raw
from burden.errors import DataFormatError

UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
UTF8_BOM = b"\xef\xbb\xbf"
_FIELD = re.compile(r'"((?:[^"\\]|\\.)*)"\s*:')
_WS = re.compile(r"\s*")


@dataclass(frozen=True)
class Record:
    """One object of the array: its 1-based ``number``, ``line`` and text span."""

    number: int
    line: int
    start: int  # offset of "{" in the text
    end: int  # offset after "}"
    fields: dict
    text: str  # the whole file's text (shared, not copied)
    path: Path

    def line_of(self, field: str) -> int:
        """Line of ``"field":`` inside this record (the record's first line if absent)."""
        at = self.text.find(json.dumps(field), self.start, self.end)
        return self.line if at < 0 else self.line + self.text.count("\n", self.start, at)

    def error(self, problem: str, field: str | None, expected: str | None = None
              ) -> DataFormatError:
        """A DataFormatError naming this record, the field's line and the field."""
        line = self.line if field is None else self.line_of(field)
        return DataFormatError(self.path, f"record {self.number}: {problem}", line=line,
                               column=field, expected=expected)

    def words(self, *fields: str) -> str:
        """``record N (a, b, c)``: the record in words for the cleaning log."""
        return f"record {self.number} (" + ", ".join(
            str(self.fields.get(f, "")).strip() for f in fields) + ")"


def decode(path: Path, *, expected: str = "UTF-8 JSON") -> str:
    """The file's text as UTF-8; refuse UTF-16, NUL bytes and undecodable bytes.

    A UTF-8 byte-order mark is skipped. Errors name the line of the bad byte and, as the
    column, the JSON field it sits in (the last ``"name":`` before it on that record); a
    file that does not exist is a ``MissingRawFileError`` (``textfile.read_raw``).
    """
    data = read_raw(path)
    if data[:2] in UTF16_BOMS or b"\x00" in data:
        at = 0 if data[:2] in UTF16_BOMS else data.find(b"\x00")
        raise DataFormatError(path, "NUL bytes or a UTF-16 byte-order mark: not UTF-8 text "
                              "(UTF-16?)", line=data.count(b"\n", 0, at) + 1,
                              column=_field_before(data[:at].decode("latin-1")),
                              expected=expected)
    data = data.removeprefix(UTF8_BOM)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataFormatError(path, f"byte {data[exc.start:exc.start + 1]!r} is not valid "
                              "UTF-8", line=data.count(b"\n", 0, exc.start) + 1,
                              column=_field_before(data[:exc.start].decode("latin-1")),
                              expected=expected) from None


def records(text: str, path: Path) -> list[Record]:
    """Every object of the top-level array, with its number and starting line.

    A file cut short is an error saying so: inside a record ("the file ends inside record
    N") or between records (no closing ``]``). Anything but objects in the array, or text
    after it, is an error too.
    """
    path = Path(path)
    decoder = json.JSONDecoder()
    pos = _skip(text, 0)
    if pos >= len(text):
        raise DataFormatError(path, "the file is empty", line=1, expected="a JSON array")
    if text[pos] != "[":
        raise DataFormatError(path, f"starts with {text[pos]!r}, not '['", line=_line(text, pos),
                              expected="a JSON array of records")
    out: list[Record] = []
    counted, newlines = 0, 0  # running line count: text.count from 0 each time is quadratic
    pos = _skip(text, pos + 1)
    if pos < len(text) and text[pos] == "]":
        return _after_array(text, pos + 1, path, out)
    while True:
        number = len(out) + 1
        if pos >= len(text):
            raise _truncated(text, path, out)
        try:
            obj, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            if _skip(text, exc.pos) >= len(text) or "}" not in text[exc.pos:]:
                raise DataFormatError(path, f"the file ends inside record {number} "
                                      "(truncated file?)", line=_line(text, len(text)),
                                      column=_field_before(text[pos:exc.pos]),
                                      expected="a complete JSON array") from None
            raise DataFormatError(path, f"record {number}: invalid JSON: {exc.msg}",
                                  line=exc.lineno, column=_field_before(text[pos:exc.pos]),
                                  expected="a JSON object of fields") from None
        if not isinstance(obj, dict):
            raise DataFormatError(path, f"record {number} is a {type(obj).__name__}, not an "
                                  "object", line=_line(text, pos),
                                  expected="an array of JSON objects")
        newlines += text.count("\n", counted, pos)
        counted = pos
        out.append(Record(number, newlines + 1, pos, end, obj, text, path))
        pos = _skip(text, end)
        if pos >= len(text):
            raise _truncated(text, path, out)
        if text[pos] == "]":
            return _after_array(text, pos + 1, path, out)
        if text[pos] != ",":
            raise DataFormatError(path, f"after record {number}: {text[pos]!r} where ',' or "
                                  "']' should be", line=_line(text, pos),
                                  expected="records separated by commas")
        pos = _skip(text, pos + 1)


def require_fields(rec: Record, required: list[str]) -> None:
    """Fail naming the first missing (renamed) field, or the first unexpected one."""
    missing = [f for f in required if f not in rec.fields]
    if missing:
        raise rec.error(f"missing or renamed field(s) {missing}; found {list(rec.fields)}",
                        missing[0], expected=f"the fields {required}")
    extra = [f for f in rec.fields if f not in required]
    if extra:
        raise rec.error(f"unexpected field(s) {extra}", extra[0],
                        expected=f"only the fields {required}")


def text_field(rec: Record, field: str, *, allow_blank: bool = False) -> str:
    """A string field, stripped; an empty one only with ``allow_blank``."""
    value = rec.fields[field]
    if not isinstance(value, str):
        raise rec.error(f"{field} is {value!r}, not a string", field, expected="a string")
    if not value.strip() and not allow_blank:
        raise rec.error(f"empty {field}", field, expected="a non-empty string")
    return value.strip()


def number_field(rec: Record, field: str, *, allow_blank: bool = False,
                 maximum: float | None = None) -> float:
    """A non-negative number given as a JSON number or as a string ("0.73").

    An empty string -> NaN with ``allow_blank`` (else an error); anything else not a
    finite non-negative number (or above ``maximum``) is an error naming record and field.
    """
    value = rec.fields[field]
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(
            value) and 0 <= value <= (math.inf if maximum is None else maximum):
        return float(value)  # the common case, without locating the field
    line = rec.line_of(field)
    try:
        if isinstance(value, bool) or value is None or isinstance(value, (list, dict)):
            raise DataFormatError(rec.path, f"not a number: {value!r}", line=line,
                                  column=field, expected="a non-negative number")
        if isinstance(value, (int, float)):
            number = float(value)
            if not math.isfinite(number) or number < 0:
                raise DataFormatError(rec.path, f"{'negative' if number < 0 else 'not a finite'}"
                                      f" value {value!r}", line=line, column=field,
                                      expected="a non-negative number")
        else:
            number = parse_count(value, file=rec.path, line=line, column=field,
                                 allow_blank=allow_blank)
    except DataFormatError as exc:
        raise rec.error(exc.problem, field, exc.expected) from None
    if maximum is not None and number > maximum:
        raise rec.error(f"{field} {value!r} is above {maximum:g}", field,
                        expected=f"a number from 0 to {maximum:g}")
    return number


def year_field(rec: Record, field: str, years: tuple[int, int]) -> int:
    """A four-digit year given as a JSON integer or a string, from ``years[0]`` to
    ``years[1]`` (the table's range, ``schemas.year_range``)."""
    value = rec.fields[field]
    text = str(value).strip() if isinstance(value, (int, str)) and not isinstance(
        value, bool) else ""
    if not re.fullmatch(r"\d{4}", text):
        raise rec.error(f"not a year: {value!r}", field, expected="a four-digit year")
    if years[0] <= int(text) <= years[1]:
        return int(text)  # the common case, without locating the field
    try:
        return check_year(int(text), text, file=rec.path, line=rec.line_of(field),
                          column=field, years=years)
    except DataFormatError as exc:
        raise rec.error(exc.problem, field, exc.expected) from None


def _after_array(text: str, pos: int, path: Path, out: list[Record]) -> list[Record]:
    pos = _skip(text, pos)
    if pos < len(text):
        raise DataFormatError(path, f"text after the closing ']': {text[pos:pos + 20]!r}",
                              line=_line(text, pos), expected="nothing after the array")
    return out


def _truncated(text: str, path: Path, out: list[Record]) -> DataFormatError:
    after = f"after record {len(out)}" if out else "after the opening '['"
    return DataFormatError(path, f"the file ends {after} without the closing ']' (truncated "
                           "file?)", line=_line(text, len(text)),
                           expected="a complete JSON array")


def _field_before(text: str) -> str | None:
    """The last ``"name":`` in ``text`` (the field a position sits in), if any."""
    names = _FIELD.findall(text[-5000:])
    return names[-1] if names else None


def _skip(text: str, pos: int) -> int:
    return _WS.match(text, pos).end()


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1
