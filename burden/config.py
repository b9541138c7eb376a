"""Project paths, in one place.

Every path the package reads or writes is derived here, so scripts, the Makefile and
tests agree. Environment variables override the defaults:

- ``BURDEN_ROOT``: the project folder (default: the checkout this package lives in, or
  the current directory for an installed package).
- ``BURDEN_DATA_MIRROR``: a folder holding the raw files; when set, they are copied from
  there (and hash-checked) instead of downloaded.
"""

from __future__ import annotations

import os
from pathlib import Path


def _default_root() -> Path:
    here = Path(__file__).resolve().parent.parent
    if (here / "pyproject.toml").exists():
        return here
    return Path.cwd()


def project_root() -> Path:
    return Path(os.environ.get("BURDEN_ROOT", _default_root())).resolve()


def raw_dir() -> Path:
    return project_root() / "data" / "raw"


def processed_dir() -> Path:
    return project_root() / "data" / "processed"


def models_dir() -> Path:
    """Fitted models (netCDF), derived and git-ignored."""
    return project_root() / "models"


def reports_dir() -> Path:
    """Built figures, tables and the HTML report (git-ignored)."""
    return project_root() / "reports" / "output"


def data_mirror() -> Path | None:
    value = os.environ.get("BURDEN_DATA_MIRROR")
    return Path(value).expanduser().resolve() if value else None

