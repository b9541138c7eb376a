"""Time loading each saved fit (``load_fit`` and its first use of the posterior, which
recomputes the Deterministics a compact file dropped) under a commit's code (the baseline)
and the working tree's, in the same run, and compare the recomputed posteriors.

    python analysis/load_times.py [BASE_COMMIT] [REPEATS]

BASE_COMMIT defaults to 52391cb (the last commit before the Deterministics were
recomputed through PyTensor's cheapest rewrites). Each load is its own process, baseline
and working tree alternating, on this project's models/*.nc (``make models``). Issue 12
asks for every saved fit to load in at most 5 s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from attribute_timing import worktree_at

from burden import config

FITS = ("deaths", "production", "markets", "certified", "composition")

#: run in a child process: import, then time the load and the first use of the posterior;
#: prints the seconds and a checksum of every posterior variable
_LOADER = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
import numpy as np
from burden.fits import load_fit, spec
spec(sys.argv[1]).estimator  # the model's module imported before the clock starts
start = time.perf_counter()
post = load_fit(sys.argv[1]).posterior
print(time.perf_counter() - start)
print(json.dumps({v: float(np.asarray(post[v], dtype=float).sum()) for v in post.data_vars}))
"""


def _load(code: Path, fit: str) -> tuple[float, dict[str, float]]:
    env = {**os.environ, "PYTHONPATH": str(code), "BURDEN_ROOT": str(config.project_root())}
    out = subprocess.run([sys.executable, "-c", _LOADER, fit], env=env, check=True,
                         capture_output=True, text=True, cwd=code).stdout.splitlines()
    return float(out[-2]), json.loads(out[-1])


def main(base: str = "52391cb", repeats: int = 2) -> None:
    missing = [f for f in FITS if not (config.models_dir() / f"{f}.nc").exists()]
    if missing:
        raise SystemExit(f"saved fits missing: {missing} (run `make models`)")
    print(f"load and first use of each saved fit, {base} against the working tree; "
          f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.2f}")
    print("| fit | baseline (s) | working tree (s) | largest relative difference of the "
          "posterior's sums |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp, worktree_at(base, Path(tmp)) as old:
        for fit in FITS:
            times: dict[str, list[float]] = {"old": [], "new": []}
            for _ in range(repeats):
                t_old, s_old = _load(old, fit)
                t_new, s_new = _load(config.project_root(), fit)
                times["old"].append(t_old)
                times["new"].append(t_new)
            diff = max(abs(s_old[v] - s_new[v]) / max(abs(s_old[v]), 1e-300) for v in s_old)
            print(f"| {fit} | {' / '.join(f'{t:.2f}' for t in times['old'])} | "
                  f"{' / '.join(f'{t:.2f}' for t in times['new'])} | {diff:.1e} |",
                  flush=True)


if __name__ == "__main__":
    main(*(sys.argv[1:2] or ["52391cb"]), *(int(a) for a in sys.argv[2:3]))
