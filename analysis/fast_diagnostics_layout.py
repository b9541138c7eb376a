"""Time and compare ``fast_diagnostics._summarise`` of a commit (default 75eb0f8, the last
one before the row layout) with the working tree's, on the saved deaths fit's posterior.

    python analysis/fast_diagnostics_layout.py [OLD_COMMIT] [N_QUANTITIES]

Prints, per chunk of 500 quantities, both times and the largest relative difference of
R-hat, bulk and tail ESS. Needs models/deaths.nc (``make models``).
"""

from __future__ import annotations

import subprocess
import sys
import time
import types

import numpy as np

from burden import config
from burden.fits import load_fit
from burden.models import fast_diagnostics as new


def _old(commit: str) -> types.ModuleType:
    src = subprocess.run(["git", "show", f"{commit}:burden/models/fast_diagnostics.py"],
                         check=True, capture_output=True, text=True,
                         cwd=config.project_root()).stdout
    module = types.ModuleType("old_fast_diagnostics")
    # our own module as of an earlier commit, from git
    exec(compile(src, f"{commit}:fast_diagnostics.py", "exec"), module.__dict__)  # noqa: S102
    return module


def main(commit: str = "75eb0f8", n: int = 2000) -> None:
    old = _old(commit)
    post = load_fit("deaths").posterior
    arrays = [post[v].transpose("chain", "draw", ...).values.astype(float) for v in post]
    x = np.concatenate([a.reshape(a.shape[0], a.shape[1], -1) for a in arrays], axis=2)[..., :n]
    print(f"{x.shape[2]} quantities of the deaths fit, {x.shape[0]} chains x {x.shape[1]} draws")
    print("| chunk | old s | new s | max rel. diff R-hat | bulk ESS | tail ESS |")
    print("|---|---|---|---|---|---|")
    totals = [0.0, 0.0]
    for i in range(0, x.shape[2], 500):
        chunk = x[..., i:i + 500]
        start = time.perf_counter()
        a = old._summarise(chunk)
        t_old = time.perf_counter() - start
        start = time.perf_counter()
        b = new._summarise(chunk)
        t_new = time.perf_counter() - start
        totals[0] += t_old
        totals[1] += t_new
        for k in a:
            if not np.array_equal(np.isnan(a[k]), np.isnan(b[k])):
                raise SystemExit(f"chunk {i}: {k} is NaN in one version only")
        diff = [float(np.nanmax(np.abs(a[k] - b[k]) / np.abs(a[k]))) for k in
                ("r_hat", "ess_bulk", "ess_tail")]
        print(f"| {i}–{i + chunk.shape[2] - 1} | {t_old:.2f} | {t_new:.2f} | "
              + " | ".join(f"{d:.1e}" for d in diff) + " |")
    print(f"| total | {totals[0]:.2f} | {totals[1]:.2f} | | | |")


if __name__ == "__main__":
    main(*(sys.argv[1:2] or ["75eb0f8"]), *(int(a) for a in sys.argv[2:3]))
