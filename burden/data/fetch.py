"""Get the raw files: copy from a mirror folder or download, and always check the sha256.

``BURDEN_DATA_MIRROR=<folder>`` makes every file come from that folder (air-gapped
machines, CI). Otherwise pooch downloads the pinned URL. A file whose hash differs from the
registry is an error, never a warning, and is not left in ``data/raw``.

A source with an ``extract`` (``registry.sources.RowFilter``) is a part of the published
file: the whole file is downloaded from its url, cut by the filter, and the cut file is
hash-checked (the hash pins the extract, not the download). A mirror copy is already the
extract and is checked as is.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from burden import config
from burden.registry.sources import SOURCES, RowFilter, Source


class FetchError(RuntimeError):
    pass


class HashMismatchError(FetchError):
    pass


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _verify(path: Path, source: Source, origin: str) -> None:
    actual = sha256_of(path)
    if actual != source.sha256:
        where = f"get the exact file from {source.url}"
        if source.extract is not None:
            where = (f"the registry pins the extract of {source.url} (header and the rows "
                     f"whose first field is {source.extract.first_field!r})")
        raise HashMismatchError(
            f"{origin}: sha256 of {source.filename} is {actual}, but the registry pins "
            f"{source.sha256} ({source.title}). The file is not the published release; "
            f"{where}"
        )


def extract_rows(full: Path, dest: Path, row_filter: RowFilter) -> int:
    """Write to ``dest`` the lines of ``full`` that ``row_filter`` keeps, byte for byte and
    in order; return the number of kept lines below the header."""
    wanted = row_filter.first_field.encode("utf-8")
    delimiter = row_filter.delimiter.encode("utf-8")
    kept = 0
    with open(full, "rb") as src, open(dest, "wb") as out:
        for number, line in enumerate(src, start=1):
            if number <= row_filter.header_lines:
                out.write(line)
                continue
            first = line.split(delimiter, 1)[0].rstrip(b"\r\n")
            if first.startswith(b'"') and first.endswith(b'"') and len(first) >= 2:
                first = first[1:-1]
            if first == wanted:
                out.write(line)
                kept += 1
    return kept


def _extract_verified(full: Path, dest: Path, source: Source) -> None:
    """Cut ``full`` by the source's ``extract`` into ``dest``; refuse a hash mismatch."""
    tmp = dest.with_name(dest.name + ".part")
    try:
        extract_rows(full, tmp, source.extract)
        _verify(tmp, source, f"{source.url} (after extracting the {source.extract.first_field!r}"
                " rows)")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, dest)


def _copy_verified(src: Path, dest: Path, source: Source) -> None:
    tmp = dest.with_name(dest.name + ".part")
    shutil.copyfile(src, tmp)
    try:
        _verify(tmp, source, str(src))
    except HashMismatchError:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, dest)


def _retrieve(url: str, known_hash: str | None, dest: Path) -> None:
    """Download ``url`` to ``dest`` (pooch checks ``known_hash`` when given)."""
    import pooch

    pooch.retrieve(url=url, known_hash=known_hash, fname=dest.name, path=dest.parent,
                   progressbar=False)


def _download(source: Source, dest: Path) -> None:
    if source.extract is None:
        _retrieve(source.url, f"sha256:{source.sha256}", dest)
        return
    # the published file is larger than the pinned extract: its own hash is not pinned,
    # the extract's is (checked in _extract_verified, before anything lands at dest)
    full = dest.with_name(dest.name + ".full.part")
    try:
        _retrieve(source.url, None, full)
        _extract_verified(full, dest, source)
    finally:
        full.unlink(missing_ok=True)


def fetch(source_id: str, *, raw_dir: Path | None = None, mirror: Path | None = None) -> Path:
    """Return the path of the verified raw file, getting it first if needed."""
    source = SOURCES[source_id]
    raw_dir = raw_dir or config.raw_dir()
    mirror = mirror if mirror is not None else config.data_mirror()
    raw_dir.mkdir(parents=True, exist_ok=True)
    dest = raw_dir / source.filename
    if dest.exists():
        if sha256_of(dest) == source.sha256:
            return dest
        if mirror is None:
            # a stale or edited copy: data/raw is immutable, so refuse rather than overwrite
            _verify(dest, source, str(dest))
    if mirror is not None:
        src = mirror / source.filename
        if not src.exists():
            raise FetchError(missing_files_message([source], raw_dir, mirror))
        _copy_verified(src, dest, source)
        return dest
    try:
        _download(source, dest)
    except HashMismatchError:
        raise
    except Exception as exc:
        if isinstance(exc, ValueError) and "hash" in str(exc).lower():
            raise HashMismatchError(f"{source.url}: {exc}") from exc
        raise FetchError(
            f"could not download {source.filename} ({type(exc).__name__}: {exc}).\n"
            + missing_files_message([source], raw_dir, mirror)
        ) from exc
    return dest


def fetch_all(
    source_ids: list[str] | None = None, *, progress=print, raw_dir: Path | None = None
) -> dict[str, Path]:
    """Fetch every registered source (or the ones named); report all failures together."""
    ids = source_ids or list(SOURCES)
    paths, failed, reasons = {}, [], {}
    for i, sid in enumerate(ids, 1):
        try:
            paths[sid] = fetch(sid, raw_dir=raw_dir)
            if progress:
                progress(f"[{i}/{len(ids)}] {SOURCES[sid].filename}: ok")
        except HashMismatchError:
            raise
        except FetchError as exc:
            failed.append(SOURCES[sid])
            # each download's own cause, not only "could not be obtained" (a file missing
            # from the mirror needs none: the message names the mirror)
            first = str(exc).splitlines()[0]
            if first.startswith("could not download"):
                reasons[sid] = first
    if failed:
        raise FetchError(missing_files_message(failed, raw_dir or config.raw_dir(),
                                               config.data_mirror(), reasons))
    return paths


def missing_files_message(sources: list[Source], raw_dir: Path, mirror: Path | None,
                          reasons: dict[str, str] | None = None) -> str:
    """What to do about raw files that could not be had; ``reasons``: source id -> why
    (shown under its file)."""
    lines = [
        f"{len(sources)} raw file(s) could not be obtained"
        + (f" from the mirror {mirror}" if mirror else " (no network, and BURDEN_DATA_MIRROR "
           "is not set)") + ".",
        f"Put these exact files in {raw_dir} (or in a folder named by BURDEN_DATA_MIRROR):",
    ]
    for s in sources:
        lines.append(f"  {s.filename}\n    sha256 {s.sha256}\n    from   {s.url}")
        if reasons and reasons.get(s.id):
            lines.append(f"    why    {reasons[s.id]}")
    return "\n".join(lines)
