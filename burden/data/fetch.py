"""Get the raw files: copy from a mirror folder or download, and always check the sha256.

``BURDEN_DATA_MIRROR=<folder>`` makes every file come from that folder (air-gapped
machines, CI). Otherwise pooch downloads the pinned URL. A file whose hash differs from the
registry is an error, never a warning, and is not left in ``data/raw``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from burden import config
from burden.registry.sources import SOURCES, Source


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
        raise HashMismatchError(
            f"{origin}: sha256 of {source.filename} is {actual}, but the registry pins "
            f"{source.sha256} ({source.title}). The file is not the published release; "
            f"get the exact file from {source.url}"
        )


def _copy_verified(src: Path, dest: Path, source: Source) -> None:
    tmp = dest.with_name(dest.name + ".part")
    shutil.copyfile(src, tmp)
    try:
        _verify(tmp, source, str(src))
    except HashMismatchError:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, dest)


def _download(source: Source, dest: Path) -> None:
    import pooch

    pooch.retrieve(
        url=source.url,
        known_hash=f"sha256:{source.sha256}",
        fname=dest.name,
        path=dest.parent,
        progressbar=False,
    )


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
    paths, failed = {}, []
    for i, sid in enumerate(ids, 1):
        try:
            paths[sid] = fetch(sid, raw_dir=raw_dir)
            if progress:
                progress(f"[{i}/{len(ids)}] {SOURCES[sid].filename}: ok")
        except HashMismatchError:
            raise
        except FetchError:
            failed.append(SOURCES[sid])
    if failed:
        raise FetchError(missing_files_message(failed, raw_dir or config.raw_dir(),
                                               config.data_mirror()))
    return paths


def missing_files_message(sources: list[Source], raw_dir: Path, mirror: Path | None) -> str:
    lines = [
        f"{len(sources)} raw file(s) could not be obtained"
        + (f" from the mirror {mirror}" if mirror else " (no network, and BURDEN_DATA_MIRROR "
           "is not set)") + ".",
        f"Put these exact files in {raw_dir} (or in a folder named by BURDEN_DATA_MIRROR):",
    ]
    for s in sources:
        lines.append(f"  {s.filename}\n    sha256 {s.sha256}\n    from   {s.url}")
    return "\n".join(lines)
