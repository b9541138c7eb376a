"""Time the prior draws a fit keeps, drawn one at a time by PyMC (on PyTensor's Python
linker, what ``burden.models.batched.prior_draws`` did before) and all at once
(``vectorised_prior_values``), on the model of the processed tables, and check that the
values agree. A model whose variables cannot be drawn at once says so.

    python analysis/prior_draws_at_once.py [--repeats 3] [composition markets]

Needs the processed tables of the models named (``make data``); markets also needs
``models/production.nc``. Prints a Markdown table: run, draw by draw (s), at once (s), the
largest absolute difference between the two sets of draws.
"""

from __future__ import annotations

from burden import config

config.use_process_defaults()  # as the command line does, before numpy or Numba load

import argparse
import os
import time
import warnings
from datetime import UTC, datetime

import numpy as np
import pymc as pm

from burden import fits
from burden.models.batched import (
    compiler_off,
    no_compile_mode,
    prior_draws,
    vectorised_prior_values,
)

#: the variables each fit keeps prior draws of (the ``fit`` methods of their estimators)
KEPT = {"composition": ["theta"], "markets": ["us_share"]}


def _model(name: str) -> pm.Model:
    spec = fits.spec(name)
    kwargs = {spec.upstream: fits.load_fit(spec.upstream)} if spec.upstream else {}
    est = spec.estimator(**kwargs)
    return est.build_model(est.prepare_data(fits.read_tables(est.data_tables))), est


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", default=["composition"], choices=sorted(KEPT))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore", UserWarning)
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load {os.getloadavg()[0]:.2f}, "
          f"{os.cpu_count()} cores")
    print("| model | run | draw by draw (s) | at once (s) | max abs difference |")
    print("|---|---|---|---|---|")
    for name in args.models:
        model, est = _model(name)
        names, seed = KEPT[name], est.sampler_config.random_seed
        if vectorised_prior_values(model, 2, names, seed) is None:
            print(f"| {name} | | | not drawn at once (a symbolic distribution) | |")
            continue
        for run in range(1, args.repeats + 1):
            start = time.perf_counter()
            with compiler_off(), model:
                old = pm.sample_prior_predictive(1000, var_names=names, random_seed=seed,
                                                 compile_kwargs={"mode": no_compile_mode()})
            t_old = time.perf_counter() - start
            start = time.perf_counter()
            new = prior_draws(model, 1000, var_names=names, random_seed=seed)
            t_new = time.perf_counter() - start
            diff = max(float(np.abs(old["prior"][v].values - new["prior"][v].values).max())
                       for v in names)
            print(f"| {name} | {run} | {t_old:.2f} | {t_new:.2f} | {diff:.1e} |")


if __name__ == "__main__":
    main()
