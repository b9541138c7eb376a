"""Posterior predictive draws of the saved fits two ways, timed: the package's draws for
blocks of draws at once (``burden.models.posterior_predictive``) and PyMC's per-draw loop
(``pm.sample_posterior_predictive`` with the same no-compile mode the package used
before); and how far apart their means are (z of the difference per observation).

    python analysis/predictive_draws.py [FIT ...]   # default: every fit

Each fit's predictive draws use the summaries' thinning (``summarise.checks_thin``). The
two ways are run in turn, twice, after one untimed run of each. Used for
docs/performance.md, "Shorter warm-ups; predictive draws for blocks of draws".
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np
import pymc as pm
import xarray as xr

from burden.fits import FITS, load_fit
from burden.models.batched import compiler_off, no_compile_mode
from burden.models.posterior_predictive import posterior_predictive
from burden.summarise import checks_thin


def pymc_draws(model, posterior, constant, seed):
    groups = {"posterior": posterior}
    if constant is not None:
        groups["constant_data"] = constant
    with warnings.catch_warnings(), compiler_off(), model:
        warnings.simplefilter("ignore")
        pp = pm.sample_posterior_predictive(
            xr.DataTree.from_dict(groups), random_seed=seed, progressbar=False,
            compile_kwargs={"mode": no_compile_mode()})
    return pp["posterior_predictive"].to_dataset()


def main(names: list[str]) -> None:
    print("| fit | blocks (s) | PyMC per draw (s) | max abs z of the means | observations |")
    print("|---|---|---|---|---|")
    for name in names:
        est = load_fit(name)
        idata = est.idata
        posterior = idata["posterior"].to_dataset().isel(
            draw=slice(None, None, checks_thin(est)))
        constant = (idata["constant_data"].to_dataset()
                    if "constant_data" in idata.children else None)
        model = est.built_model()
        args = (model, posterior, constant)
        ways = {"blocks": lambda a=args: posterior_predictive(a[0], a[1], 1, a[2]),
                "pymc": lambda a=args: pymc_draws(*a, 1)}
        out = {k: f() for k, f in ways.items()}  # untimed: graphs built once
        times = {k: [] for k in ways}
        for _ in range(2):
            for k, f in ways.items():
                start = time.perf_counter()
                f()
                times[k].append(time.perf_counter() - start)
        z, n = 0.0, 0
        for var in out["pymc"].data_vars:
            a = out["blocks"][var].values.reshape(-1, *out["blocks"][var].shape[2:])
            b = out["pymc"][var].values.reshape(-1, *out["pymc"][var].shape[2:])
            se = np.sqrt((a.var(0) + b.var(0)) / a.shape[0])
            diff = np.abs(a.mean(0) - b.mean(0))
            ok = se > 0
            z = max(z, float(np.max(diff[ok] / se[ok], initial=0.0)))
            n += int(np.prod(a.shape[1:]))
        print(f"| {name} | {min(times['blocks']):.2f} | {min(times['pymc']):.2f} | "
              f"{z:.2f} | {n:,} |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or list(FITS))
