"""A fit's convergence over many seeds, in one process (compiled once, each seed sampled):
max R-hat, min bulk ESS, divergences and sampling time per seed.

    python analysis/convergence_over_seeds.py FIT SEEDS [SAMPLER]

FIT is one of the pipeline's fits (``burden.fits.FITS``) with its default settings, on this
project's processed tables (``make data``; the markets fit reads ``models/production.nc``);
SEEDS comma-separated, e.g. ``20171,1,2,3``; SAMPLER optional JSON sampler settings over the
fit's defaults, e.g. ``'{"draws": 2000}'``. Nothing is saved. Used for production
versions 5 and 6 on 13 seeds (docs/models/shares.md, "Version 6"); ``burden benchmark``
does the same with a process per seed and a cold start each.
"""

from __future__ import annotations

import json
import sys

from burden import config

config.use_process_defaults()  # as the command line does, before numpy or Numba load

from burden.fits import load_fit, read_tables, spec


def main(name: str, seeds: list[int], sampler: dict | None = None) -> None:
    s = spec(name)
    kwargs = {s.upstream: load_fit(s.upstream)} if s.upstream else {}
    data = read_tables(s.estimator.data_tables)
    print("| seed | max R-hat (worst) | min bulk ESS (worst) | divergences | sampling (s) |")
    print("|---|---|---|---|---|")
    for seed in seeds:
        est = s.estimator(None, {**(sampler or {}), "random_seed": seed}, **kwargs)
        est.fit(data, progressbar=False)
        r = est.check_convergence(warn=False)
        print(f"| {seed} | {r['r_hat_max']:.4f} ({r['worst_r_hat']}) | "
              f"{r['ess_bulk_min']:.0f} ({r['worst_ess']}) | {r['divergences']} | "
              f"{est.timings['sample_s']:.1f} |", flush=True)


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    main(sys.argv[1], [int(x) for x in sys.argv[2].split(",")],
         json.loads(sys.argv[3]) if len(sys.argv) == 4 else None)
