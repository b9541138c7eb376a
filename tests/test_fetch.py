"""The data registry and fetching: hashes pinned, mirror copies verified, clear errors."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from conftest import _mirror, _missing

from burden.data import fetch
from burden.registry.sources import SOURCES

SHARED_README = Path(__file__).resolve().parents[2] / "shared" / "data" / "README.md"


def _shared_readme() -> Path:
    """shared/data/README.md: beside the mirror (BURDEN_DATA_MIRROR is .../data/raw) when one
    is set, else beside the clone."""
    mirror = _mirror()
    return mirror.parent / "README.md" if mirror is not None else SHARED_README


def test_every_source_is_pinned():
    assert SOURCES  # the loop below checks something only if the registry has sources
    for s in SOURCES.values():
        assert re.fullmatch(r"[0-9a-f]{64}", s.sha256), s.id
        assert s.url.startswith("https://") and s.licence and s.citation, s.id


@pytest.mark.realdata
def test_registry_matches_shared_readme():
    readme = _shared_readme()
    if not readme.exists():
        # under CI the shared folder is always there: its absence is a failure, not a skip
        _missing(f"{readme} not beside the project")
    text = readme.read_text()
    assert SOURCES
    for s in SOURCES.values():
        rows = [line for line in text.splitlines() if line.startswith(f"| {s.filename} ")]
        assert len(rows) == 1, f"{s.filename}: {len(rows)} rows in {readme}"
        assert s.sha256 in rows[0] and s.url in rows[0], s.id


def _mirror_with(tmp_path: Path, source_id: str, content: bytes) -> Path:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / SOURCES[source_id].filename).write_bytes(content)
    return mirror


def test_mirror_copy_with_wrong_hash_is_refused_and_not_left(tmp_path):
    mirror = _mirror_with(tmp_path, "nida_deaths", b"not the real file\n")
    raw = tmp_path / "raw"
    with pytest.raises(fetch.HashMismatchError) as err:
        fetch.fetch("nida_deaths", raw_dir=raw, mirror=mirror)
    assert SOURCES["nida_deaths"].sha256 in str(err.value)
    assert list(raw.iterdir()) == []  # no partial or bad copy left behind


def test_missing_mirror_file_lists_what_to_put_where(tmp_path):
    mirror = tmp_path / "empty"
    mirror.mkdir()
    with pytest.raises(fetch.FetchError) as err:
        fetch.fetch("worldbank_population", raw_dir=tmp_path / "raw", mirror=mirror)
    msg = str(err.value)
    src = SOURCES["worldbank_population"]
    assert src.filename in msg and src.sha256 in msg and str(tmp_path / "raw") in msg


def test_offline_download_failure_names_files_and_hashes(tmp_path, monkeypatch):
    def no_network(source, dest):
        raise ConnectionError("network unreachable")

    monkeypatch.delenv("BURDEN_DATA_MIRROR", raising=False)
    monkeypatch.setattr(fetch, "_download", no_network)
    with pytest.raises(fetch.FetchError) as err:
        fetch.fetch_all(["nida_deaths", "vsrr_provisional"], raw_dir=tmp_path, progress=None)
    msg = str(err.value)
    for sid in ("nida_deaths", "vsrr_provisional"):
        assert SOURCES[sid].filename in msg and SOURCES[sid].sha256 in msg
    # each file's own cause is kept, not only "could not be obtained"
    assert msg.count("why    could not download") == 2
    assert msg.count("ConnectionError: network unreachable") == 2


def test_edited_raw_file_is_refused_without_mirror(tmp_path, monkeypatch):
    monkeypatch.delenv("BURDEN_DATA_MIRROR", raising=False)
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / SOURCES["nida_deaths"].filename).write_text("edited by hand\n")
    with pytest.raises(fetch.HashMismatchError):
        fetch.fetch("nida_deaths", raw_dir=raw, mirror=None)


@pytest.mark.realdata
def test_real_files_verify(raw_file):
    for sid in SOURCES:
        path = raw_file(sid)
        assert fetch.sha256_of(path) == SOURCES[sid].sha256


# ---- sources that are an extract of the published file (registry.sources.RowFilter) ----

FULL_FILE = (b"State,Year,Month,Indicator,Data Value\n"
             b"AK,2015,January,Heroin (T40.1),12\n"
             b"US,2015,January,Heroin (T40.1),\"10,788\"\n"
             b"USX,2015,January,Heroin (T40.1),1\n"
             b"\"US\",2015,February,Heroin (T40.1),\"10,900\"\r\n"
             b"YC,2015,January,Heroin (T40.1),5\n"
             b"US,2015,March,Heroin (T40.1),\"11,000\"")  # no final line break
EXTRACT = (b"State,Year,Month,Indicator,Data Value\n"
           b"US,2015,January,Heroin (T40.1),\"10,788\"\n"
           b"\"US\",2015,February,Heroin (T40.1),\"10,900\"\r\n"
           b"US,2015,March,Heroin (T40.1),\"11,000\"")


def _extract_source(monkeypatch, sha256: str) -> str:
    from burden.registry.sources import RowFilter, Source

    source = Source(id="synthetic_extract", filename="synthetic_us.csv", title="synthetic",
                    publisher="test", publisher_page="https://example.org",
                    url="https://example.org/full.csv", sha256=sha256, licence="none",
                    citation="none", loader="vsrr", table="us_provisional_national",
                    extract=RowFilter(first_field="US"))
    monkeypatch.setitem(SOURCES, source.id, source)
    return source.id


def test_extract_rows_keeps_header_and_first_field_matches_byte_for_byte(tmp_path):
    from burden.registry.sources import RowFilter

    full, out = tmp_path / "full.csv", tmp_path / "out.csv"
    full.write_bytes(FULL_FILE)
    assert fetch.extract_rows(full, out, RowFilter(first_field="US")) == 3
    assert out.read_bytes() == EXTRACT  # "USX" and "YC" left out, line endings kept


def test_download_is_extracted_then_hash_checked(tmp_path, monkeypatch):
    monkeypatch.delenv("BURDEN_DATA_MIRROR", raising=False)
    sid = _extract_source(monkeypatch, hashlib.sha256(EXTRACT).hexdigest())
    calls = []

    def fake_retrieve(url, known_hash, dest):  # no network: the "published" full file
        calls.append((url, known_hash))
        dest.write_bytes(FULL_FILE)

    monkeypatch.setattr(fetch, "_retrieve", fake_retrieve)
    path = fetch.fetch(sid, raw_dir=tmp_path, mirror=None)
    assert path.read_bytes() == EXTRACT
    assert calls == [("https://example.org/full.csv", None)]  # the full file's hash: unpinned
    assert sorted(p.name for p in tmp_path.iterdir()) == ["synthetic_us.csv"]


def test_download_whose_extract_has_the_wrong_hash_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("BURDEN_DATA_MIRROR", raising=False)
    sid = _extract_source(monkeypatch, "0" * 64)
    monkeypatch.setattr(fetch, "_retrieve",
                        lambda url, known_hash, dest: dest.write_bytes(FULL_FILE))
    with pytest.raises(fetch.HashMismatchError) as err:
        fetch.fetch(sid, raw_dir=tmp_path, mirror=None)
    message = str(err.value)
    assert hashlib.sha256(EXTRACT).hexdigest() in message and "0" * 64 in message
    assert "first field is 'US'" in message
    assert list(tmp_path.iterdir()) == []  # neither the full file nor a bad extract left


def test_mirror_copy_is_the_extract_and_is_checked_as_is(tmp_path, monkeypatch):
    sid = _extract_source(monkeypatch, hashlib.sha256(EXTRACT).hexdigest())
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "synthetic_us.csv").write_bytes(EXTRACT)
    path = fetch.fetch(sid, raw_dir=tmp_path / "raw", mirror=mirror)
    assert path.read_bytes() == EXTRACT
    (mirror / "synthetic_us.csv").write_bytes(FULL_FILE)  # the full file is not the extract
    with pytest.raises(fetch.HashMismatchError):
        fetch.fetch(sid, raw_dir=tmp_path / "raw2", mirror=mirror)
