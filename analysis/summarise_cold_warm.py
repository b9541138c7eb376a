"""`burden summarise` of each fit with an empty and then a warm compile cache, for two
versions of the code, and whether their result tables differ.

    python analysis/summarise_cold_warm.py OLD_CODE OLD_ROOT NEW_ROOT [FIT ...]

OLD_CODE is a checkout of the code to compare with (e.g. `git worktree add ../old HEAD`);
the new code is this checkout. OLD_ROOT and NEW_ROOT are project folders
(``BURDEN_ROOT``) holding the same fits in ``models/`` and the tables in
``data/processed`` (copies or links). For each fit, the old and the new code run in turn,
each first with an empty PyTensor ``base_compiledir`` (cold), then with the cache it
filled (warm); wall, user and system seconds come from ``/usr/bin/time``. Then every CSV
the two summaries wrote is compared (``burden.storage_benchmark.compare_tables``). Run it
on an otherwise idle machine: it prints the load average before each run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from burden.storage_benchmark import compare_tables

FITS = ["production", "certified", "markets", "composition", "deaths"]
HERE = Path(__file__).resolve().parents[1]


def timed_summary(code: Path, root: Path, fit: str, cache: Path) -> tuple[float, float, float]:
    times = Path(tempfile.mkstemp()[1])
    # run from ``code``: ``python -m`` puts the working folder first on the path
    env = {**os.environ, "PYTHONPATH": str(code), "BURDEN_ROOT": str(root),
           "PYTENSOR_FLAGS": f"base_compiledir={cache}"}
    done = subprocess.run(["/usr/bin/time", "-f", "%e %U %S", "-o", str(times),
                           sys.executable, "-m", "burden.cli", "summarise", fit],
                          check=False, env=env, cwd=code, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"summarise {fit} ({code}) failed:\n{done.stderr[-2000:]}")
    wall, user, system = (float(x) for x in times.read_text().split()[:3])
    times.unlink()
    return wall, user, system


def main(argv: list[str]) -> None:
    if len(argv) < 3:
        raise SystemExit(__doc__)
    old_code, old_root, new_root = (Path(a).resolve() for a in argv[:3])
    fits = argv[3:] or FITS
    print("| fit | code | cache | wall s | user s | system s | load before |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        for fit in fits:
            for label, code, root in (("old", old_code, old_root), ("new", HERE, new_root)):
                cache = Path(scratch) / f"{label}_{fit}"
                shutil.rmtree(cache, ignore_errors=True)
                cache.mkdir()
                for phase in ("cold", "warm"):
                    load = os.getloadavg()[0]
                    wall, user, system = timed_summary(code, root, fit, cache)
                    print(f"| {fit} | {label} | {phase} | {wall:.1f} | {user:.1f} | "
                          f"{system:.1f} | {load:.2f} |", flush=True)
    print("\n| fit | numbers | max relative difference (where) | differ at 3 s.f. | problems |")
    print("|---|---|---|---|---|")
    for fit in fits:
        c = compare_tables(old_root / "models" / fit, new_root / "models" / fit)
        print(f"| {fit} | {c['numbers']:,} | {c['max_rel_diff']:.2g} ({c['worst']}) | "
              f"{c['published_differences']} | {'; '.join(c['problems']) or 'none'} |")


if __name__ == "__main__":
    main(sys.argv[1:])
