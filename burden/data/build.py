"""Raw files -> processed tables: load, validate against the schema, write atomically.

For each table in ``schemas.TABLES`` the frames of all its sources are concatenated,
validated, and written as ``<table>.parquet`` beside ``<table>.cleaning_log.csv`` (every row
a loader dropped, changed or flagged, and why). A table is written whole or not at all.
"""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pandera.errors

from burden import config
from burden.data import fetch
from burden.data.cleaning import CleaningLog, DataFormatError
from burden.data.schemas import TABLES
from burden.registry.sources import SOURCES
from burden.table_checks import schema_failures


@dataclass(frozen=True)
class Input:
    source_id: str
    table: str
    loader: str
    path: Callable[[], Path]  # resolves (and fetches) the file when called


def _reference_inputs() -> list[Input]:
    from burden.registry import published

    return [
        Input(s.id, s.table, s.loader, (lambda p=s.path: p))
        for s in published.REFERENCE_SOURCES.values()
    ]


def inputs(raw_dir: Path | None = None) -> list[Input]:
    """Every input file of every table: registry sources, then packaged reference tables."""
    out = [
        Input(s.id, s.table, s.loader, (lambda sid=s.id: fetch.fetch(sid, raw_dir=raw_dir)))
        for s in SOURCES.values()
    ]
    return out + _reference_inputs()


class SchemaError(ValueError):
    pass


def validate(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Check ``frame`` against the table's schema; name the failing columns and rows."""
    try:
        return TABLES[table].schema.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        raise SchemaError(f"processed table {table!r} does not match its schema "
                          f"({schema_failures(exc)})") from None


def _atomic_write(*files: tuple[Path, Callable[[Path], None]]) -> None:
    """Write each (path, writer) to a temporary file beside it, and only when every one is
    written move them into place: a failed write leaves the old files together (a table
    never beside another build's cleaning log)."""
    tmps = [path.with_name(f".{path.name}.tmp") for path, _ in files]
    try:
        for tmp, (_, write) in zip(tmps, files):
            write(tmp)
        for tmp, (path, _) in zip(tmps, files):
            os.replace(tmp, path)
    finally:
        for tmp in tmps:
            tmp.unlink(missing_ok=True)


def build_table(
    table: str, *, out_dir: Path | None = None, raw_dir: Path | None = None,
    progress: Callable[[str], None] | None = print,
) -> Path:
    """Build one processed table from all its inputs; return the parquet path."""
    out_dir = out_dir or config.processed_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    frames, logs = [], []
    for inp in [i for i in inputs(raw_dir) if i.table == table]:
        start = time.perf_counter()
        path = inp.path()
        log = CleaningLog(source=inp.source_id, file=path.name)
        loader = importlib.import_module(f"burden.data.loaders.{inp.loader}")
        frame = loader.load(path, log, inp.source_id)
        frames.append(frame)
        logs.append(log.to_frame())
        if progress:
            progress(f"  {inp.source_id}: {len(frame):,} rows, {len(log.entries):,} logged "
                     f"({time.perf_counter() - start:.1f}s)")
    if not frames:
        raise ValueError(f"no inputs registered for table {table!r}")
    frame = validate(table, pd.concat(frames, ignore_index=True))
    log_frame = pd.concat(logs, ignore_index=True)
    target = out_dir / TABLES[table].filename
    _atomic_write((target.with_name(f"{table}.cleaning_log.csv"),
                   lambda p: log_frame.to_csv(p, index=False)),
                  (target, lambda p: frame.to_parquet(p, index=False)))
    return target


def build_all(
    tables: list[str] | None = None, *, out_dir: Path | None = None,
    raw_dir: Path | None = None, progress: Callable[[str], None] | None = print,
) -> dict[str, Path]:
    """Build the named tables (default: all), reporting progress table by table."""
    names = tables or list(TABLES)
    unknown = [t for t in names if t not in TABLES]
    if unknown:
        raise ValueError(f"unknown table(s) {unknown}; known: {list(TABLES)}")
    out = {}
    for i, name in enumerate(names, 1):
        if progress:
            progress(f"[{i}/{len(names)}] {name}")
        out[name] = build_table(name, out_dir=out_dir, raw_dir=raw_dir, progress=progress)
    return out


def load_processed(table: str, processed_dir: Path | None = None) -> pd.DataFrame:
    """Read a processed table; say how to build it when it is missing."""
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; known: {list(TABLES)}")
    path = (processed_dir or config.processed_dir()) / TABLES[table].filename
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run `burden data` (or `make data`)")
    return pd.read_parquet(path)


__all__ = ["DataFormatError", "build_all", "build_table", "load_processed", "validate"]
