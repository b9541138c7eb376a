"""nutpie's compile time of each model with and without its C callbacks cached
(``burden.models.nutpie_cache``), each compilation in a fresh process, and the draws of a
short run compared.

    python analysis/nutpie_cfunc_cache.py [--cold] [FIT ...]

For each fit (default: all five), three processes in turn share one PyTensor compile
folder (the one in use, ``PYTENSOR_FLAGS``): nutpie's own ``compile_pymc_model``
("uncached"), then with ``cached_callbacks()`` twice: the first compiles and saves the
callbacks (or loads them when an earlier run saved them), the second loads them. Each then
samples 2 chains x (200 + 200) draws with seed 1; the draws must be equal. Run it after a
warm run (PyTensor's own functions cached) to time the warm case. With ``--cold``, each
process gets a new, empty compile folder and only the first two variants run: what
caching costs a cold compilation. Needs the processed tables (and for markets the
production fit).
"""

from __future__ import annotations

from burden import config

config.use_process_defaults()  # the command line's settings, inherited by the child processes

import json
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

FITS = ("deaths", "composition", "markets", "production", "certified")

CHILD = """
import json, sys, time, warnings
import numpy as np, nutpie, pytensor
from burden.fits import load_fit, read_tables, spec
from burden.models import nutpie_cache
from burden.models.base import NUMBA_FASTMATH
name, cached = sys.argv[1], sys.argv[2] == "cached"
s = spec(name)
est = s.estimator(None, None, **({s.upstream: load_fit(s.upstream)} if s.upstream else {}))
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    model = est.build_model(est.prepare_data(read_tables(s.estimator.data_tables)))
options = {**est.compile_options(model), "var_names": [rv.name for rv in model.free_RVs]}
start = time.perf_counter()
with pytensor.config.change_flags(numba__fastmath=NUMBA_FASTMATH):
    if cached:
        with nutpie_cache.cached_callbacks():
            compiled = nutpie.compile_pymc_model(model, backend="numba", **options)
    else:
        compiled = nutpie.compile_pymc_model(model, backend="numba", **options)
seconds = time.perf_counter() - start
hits = nutpie_cache.cache_hits(compiled) if cached else 0
trace = nutpie.sample(compiled, draws=200, tune=200, chains=2, cores=2, seed=1,
                      progress_bar=False)
total = float(sum(np.nansum(trace.posterior[v].values) for v in trace.posterior.data_vars))
print(json.dumps({"compile_s": seconds, "hits": hits, "draws_sum": total}))
"""


def _run(name: str, variant: str, cold: bool = False) -> dict:
    env = os.environ.copy()
    folder = Path(tempfile.mkdtemp(prefix="cfunc-cold-")) if cold else None
    if folder is not None:
        env["PYTENSOR_FLAGS"] = f"base_compiledir={folder}"
        env["NUMBA_CACHE_DIR"] = str(folder / "numba_own")
    try:
        done = subprocess.run([sys.executable, "-c", CHILD, name, variant], check=True,
                              capture_output=True, text=True, env=env)
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main_cold(fits: list[str]) -> None:
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load {os.getloadavg()[0]:.2f}, "
          f"{os.cpu_count()} cores; each process with an empty compile folder")
    print("| model | uncached compile s | cached compile s (compiled and saved) | same draws |")
    print("|---|---|---|---|")
    for name in fits:
        runs = [_run(name, "uncached", cold=True), _run(name, "cached", cold=True)]
        same = runs[0]["draws_sum"] == runs[1]["draws_sum"]
        print(f"| {name} | {runs[0]['compile_s']:.1f} | {runs[1]['compile_s']:.1f} | "
              f"{'yes' if same else 'NO'} |", flush=True)
    print(f"end {datetime.now(UTC):%H:%M} UTC, load {os.getloadavg()[0]:.2f}")


def main(fits: list[str]) -> None:
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load {os.getloadavg()[0]:.2f}, "
          f"{os.cpu_count()} cores")
    print("| model | uncached compile s | cached, 1st process s (hits) | "
          "cached, 2nd process s (hits) | same draws |")
    print("|---|---|---|---|---|")
    totals = [0.0, 0.0, 0.0]
    for name in fits:
        runs = [_run(name, "uncached"), _run(name, "cached"), _run(name, "cached")]
        same = len({r["draws_sum"] for r in runs}) == 1
        for i, r in enumerate(runs):
            totals[i] += r["compile_s"]
        print(f"| {name} | {runs[0]['compile_s']:.1f} | {runs[1]['compile_s']:.1f} "
              f"({runs[1]['hits']}) | {runs[2]['compile_s']:.1f} ({runs[2]['hits']}) | "
              f"{'yes' if same else 'NO'} |", flush=True)
    print(f"| total | {totals[0]:.1f} | {totals[1]:.1f} | {totals[2]:.1f} | |")
    print(f"end {datetime.now(UTC):%H:%M} UTC, load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--cold"]:
        main_cold(args[1:] or list(FITS))
    else:
        main(args or list(FITS))
