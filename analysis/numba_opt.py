"""Numba's LLVM optimisation level (``NUMBA_OPT``) against a cold compile: each model fitted
in its own process with empty PyTensor and Numba compile caches, at each level, the levels
alternating, and a table printed of compile and sampling time, convergence and a checksum
of the free variables' draws (the same checksum at every level: the same draws).

    python analysis/numba_opt.py [MODELS] [LEVELS]

MODELS: comma-separated fits (default all five, markets' upstream production fit read from
``models/production.nc``); LEVELS: comma-separated NUMBA_OPT values (default ``3,1``:
Numba's default first, as the baseline). The processed tables come from this project
(``make data``). Nothing is saved.
"""

from __future__ import annotations

from burden import config

config.use_process_defaults()  # the command line's settings, inherited by the child processes

import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime

from burden.fits import FITS

#: run in a child process: fit with the default settings, print one JSON line
_FIT = """
import hashlib, json, sys, time, warnings
warnings.simplefilter("ignore")
import numpy as np
import numba
from burden.fits import load_fit, read_tables, spec
s = spec(sys.argv[1])
kw = {s.upstream: load_fit(s.upstream)} if s.upstream else {}
est = s.estimator(None, None, **kw)
tables = read_tables(s.estimator.data_tables)
start = time.perf_counter()
est.fit(tables, progressbar=False)
wall = time.perf_counter() - start
post = est.idata["posterior"].ds
h = hashlib.sha256()
for rv in est.model.free_RVs:
    h.update(np.ascontiguousarray(post[rv.name].values).tobytes())
conv = est.convergence_report()
stats = est.idata["sample_stats"].ds
print(json.dumps({"opt": int(numba.config.OPT), "fit_s": wall,
                  "compile_s": est.timings["compile_s"], "sample_s": est.timings["sample_s"],
                  "steps": float(stats["n_steps"].mean()), "r_hat_max": conv["r_hat_max"],
                  "ess_bulk_min": conv["ess_bulk_min"], "divergences": conv["divergences"],
                  "converged": conv["converged"], "draws_sha256": h.hexdigest()[:16]}))
"""


def fit_cold(model: str, level: str) -> dict:
    """Fit ``model`` in a fresh process at NUMBA_OPT=``level`` with empty compile caches."""
    with tempfile.TemporaryDirectory(prefix="numba_opt_") as tmp:
        env = {**os.environ, "NUMBA_OPT": level, "NUMBA_CACHE_DIR": f"{tmp}/numba",
               "PYTENSOR_FLAGS": f"base_compiledir={tmp}/pytensor",
               "BURDEN_ROOT": str(config.project_root())}
        out = subprocess.run([sys.executable, "-c", _FIT, model], env=env, check=True,
                             capture_output=True, text=True).stdout.splitlines()
    return json.loads(out[-1])


def main(models: list[str], levels: list[str]) -> None:
    print(f"# NUMBA_OPT against a cold compile, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
          f"load average {os.getloadavg()[0]:.2f} before, {os.cpu_count()} cores\n")
    print("| model | NUMBA_OPT | compile (s) | sampling (s) | fit (s) | leapfrog steps a draw | "
          "max R-hat | min bulk ESS | divergences | draws (sha256) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for model in models:
        for level in levels:
            r = fit_cold(model, level)
            print(f"| {model} | {r['opt']} | {r['compile_s']:.1f} | {r['sample_s']:.1f} | "
                  f"{r['fit_s']:.1f} | {r['steps']:.1f} | {r['r_hat_max']:.4f} | "
                  f"{r['ess_bulk_min']:.0f} | {r['divergences']} | {r['draws_sha256']} |",
                  flush=True)
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    models = sys.argv[1].split(",") if len(sys.argv) > 1 else list(FITS)
    unknown = [m for m in models if m not in FITS]
    if unknown:
        sys.exit(f"unknown fit(s) {unknown}; known: {', '.join(FITS)}")
    main(models, sys.argv[2].split(",") if len(sys.argv) > 2 else ["3", "1"])
