"""Shared fixtures: verified raw files through the mirror, and the fixtures folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from burden.data import fetch as fetch_module
from burden.registry.sources import SOURCES

FIXTURES = Path(__file__).parent / "fixtures"
_DEFAULT_MIRROR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "raw"


def _mirror() -> Path | None:
    value = os.environ.get("BURDEN_DATA_MIRROR")
    if value:
        return Path(value).expanduser().resolve()
    return _DEFAULT_MIRROR if _DEFAULT_MIRROR.is_dir() else None


def _missing(reason: str):
    # Under CI a missing mirror is a failure, not a skip: real-data tests must run there.
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"real data unavailable under CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def raw_dir(tmp_path_factory) -> Path:
    """A session folder holding verified copies of the raw files."""
    return tmp_path_factory.mktemp("raw")


@pytest.fixture(scope="session")
def raw_file(raw_dir):
    """raw_file(source_id) -> Path of the hash-verified raw file (copied from the mirror)."""

    def get(source_id: str) -> Path:
        mirror = _mirror()
        if mirror is None or not (mirror / SOURCES[source_id].filename).exists():
            _missing(f"no mirror with {SOURCES[source_id].filename} (set BURDEN_DATA_MIRROR)")
        return fetch_module.fetch(source_id, raw_dir=raw_dir, mirror=mirror)

    return get


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES
