"""Project paths, in one place.

Every path the package reads or writes is derived here, so scripts, the Makefile and
tests agree. Environment variables override the defaults:

- ``BURDEN_ROOT``: the project folder (default: the checkout this package lives in, or
  the current directory for an installed package).
- ``BURDEN_DATA_MIRROR``: a folder holding the raw files; when set, they are copied from
  there (and hash-checked) instead of downloaded.
- ``NUMBA_OPT``: Numba's LLVM optimisation level. The command line (``burden``, so every
  make step and the SBC workers it starts) and the test suite use ``NUMBA_OPT_DEFAULT``
  when it is not set (``use_numba_opt_default``).
"""

from __future__ import annotations

import os
from pathlib import Path

#: LLVM optimisation level of the Numba code PyTensor and nutpie compile (the models' log
#: densities) in the processes the package starts: 1, not Numba's 3. With fastmath off
#: (``models.base.NUMBA_FASTMATH``) LLVM may not reorder floating-point arithmetic at any
#: level, and the draws of all five fits were the same at 3 and 1 (checksums;
#: ``tests/test_reproducibility.py`` for the production model). A cold compile took
#: 10-19% less time (the five fits 385 -> 329 s) and sampling was no slower:
#: ``python analysis/numba_opt.py``, 2026-12-01 19:22-19:41 UTC (docs/performance.md,
#: "Numba's optimisation level"). A notebook keeps Numba's own default, with the same
#: draws; set ``NUMBA_OPT=1`` before starting it for the shorter compile.
NUMBA_OPT_DEFAULT = "1"


def use_numba_opt_default() -> None:
    """Set ``NUMBA_OPT`` to ``NUMBA_OPT_DEFAULT`` unless the environment sets it; for the
    start of a process, before Numba is imported: Numba reads the level when imported (its
    compiler re-reads the environment later, but its LLVM target keeps the first level)."""
    os.environ.setdefault("NUMBA_OPT", NUMBA_OPT_DEFAULT)


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

