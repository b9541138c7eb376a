"""Time ``burden attribute`` of a commit (the baseline) against the working tree's, on this
project's saved fits, in the same run, and compare the two ``attribution.nc`` files.

    python analysis/attribute_timing.py [BASE_COMMIT] [REPEATS]

BASE_COMMIT defaults to a4c53a8 (the last commit before the attribution's market sums in
numpy). Each run is its own process, baseline and working tree alternating; the table
gives each run's wall time and peak memory (the largest resident set of the process), the
machine's load before it, and the largest difference between the files' variables. Needs
models/deaths.nc, markets.nc and composition.nc (``make models``); the baseline's code
comes from a temporary ``git worktree`` and both write into temporary folders, so
models/attribution.nc is not touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import xarray as xr

from burden import config

FITS = ("deaths", "markets", "composition", "production")

#: run in a child process: ``burden attribute`` under the given code, then the peak
#: resident set of its own children (kilobytes on Linux)
_RUNNER = """
import resource, subprocess, sys
subprocess.run([sys.executable, "-m", "burden.cli", "attribute"], check=True,
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def _root_with_fits(models: Path) -> Path:
    """A temporary project root whose models/ links to this project's saved fits."""
    root = Path(tempfile.mkdtemp(prefix="attribute_timing_"))
    (root / "models").mkdir()
    for name in FITS:
        (root / "models" / f"{name}.nc").symlink_to(models / f"{name}.nc")
    return root


def _run(code: Path, root: Path) -> tuple[float, float, float]:
    """(wall seconds, peak memory in GB, load before) of one ``burden attribute``."""
    env = {**os.environ, "PYTHONPATH": str(code), "BURDEN_ROOT": str(root)}
    load = os.getloadavg()[0]
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", _RUNNER], env=env, check=True,
                         capture_output=True, text=True, cwd=code)
    return time.perf_counter() - start, int(out.stdout.split()[-1]) / 1e6, load


def _largest_difference(a: Path, b: Path) -> float:
    """The largest absolute difference between the variables of two attribution files
    (raises if their groups, variables or shapes differ)."""
    ta, tb = xr.open_datatree(a), xr.open_datatree(b)
    worst = 0.0
    for node in ta.subtree:
        if not node.has_data:
            continue
        da, db = node.to_dataset(inherit=False), tb[node.path].to_dataset(inherit=False)
        if sorted(da.data_vars) != sorted(db.data_vars):
            raise SystemExit(f"{node.path}: variables differ")
        for name in da.data_vars:
            x, y = da[name].values, db[name].transpose(*da[name].dims).values
            if x.shape != y.shape:
                raise SystemExit(f"{node.path}/{name}: shapes {x.shape} and {y.shape}")
            worst = max(worst, float(np.nanmax(np.abs(x - y))))
    return worst


@contextmanager
def worktree_at(commit: str, parent: Path) -> Iterator[Path]:
    """A temporary ``git worktree`` of ``commit`` under ``parent`` (removed on exit)."""
    project = config.project_root()
    tree = parent / "tree"
    subprocess.run(["git", "worktree", "add", "--detach", str(tree), commit], check=True,
                   cwd=project, capture_output=True)
    try:
        yield tree
    finally:
        # best effort: a worktree left behind is listed by `git worktree list`
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)],
                       check=False, cwd=project, capture_output=True)


def main(base: str = "a4c53a8", repeats: int = 2) -> None:
    project = config.project_root()
    models = config.models_dir()
    missing = [n for n in FITS if not (models / f"{n}.nc").exists()]
    if missing:
        raise SystemExit(f"saved fits missing in {models}: {missing} (run `make models`)")
    roots = {"baseline": _root_with_fits(models), "working tree": _root_with_fits(models)}
    try:
        with tempfile.TemporaryDirectory() as tmp, worktree_at(base, Path(tmp)) as old:
            code = {"baseline": old, "working tree": project}
            print(f"burden attribute, {base} against the working tree; "
                  f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs")
            print("| run | code | wall (s) | peak memory (GB) | load before |")
            print("|---|---|---|---|---|")
            for i in range(repeats):
                for name in ("baseline", "working tree"):
                    wall, peak, load = _run(code[name], roots[name])
                    print(f"| {i + 1} | {name} | {wall:.1f} | {peak:.2f} | {load:.2f} |",
                          flush=True)
        diff = _largest_difference(roots["baseline"] / "models" / "attribution.nc",
                                   roots["working tree"] / "models" / "attribution.nc")
        print(f"\nlargest absolute difference between the two files: {diff:.3g}")
    finally:
        for root in roots.values():
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main(*(sys.argv[1:2] or ["a4c53a8"]), *(int(a) for a in sys.argv[2:3]))
