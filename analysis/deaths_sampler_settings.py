"""Fit the deaths model on the processed tables under sampler settings given as JSON
overrides, one fit after another in this process, and print for each: wall time of the
fit, mean leapfrog steps a draw, mean step size and divergences (the fit's own log line
gives sampling time, max R-hat and min bulk ESS).

    python analysis/deaths_sampler_settings.py '[{"target_accept": 0.8}]'

Each entry is merged over ``OpioidDeaths.default_sampler`` (``SamplerConfig`` fields:
``target_accept``, ``mass_matrix``, ``draws``...). Nothing is saved.
"""

from __future__ import annotations

import json
import logging
import sys
import time

from burden.fits import read_tables
from burden.models.deaths import OpioidDeaths


def main(variants: list[dict]) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    tables = read_tables(OpioidDeaths.data_tables)
    for overrides in variants:
        model = OpioidDeaths(None, overrides)
        start = time.perf_counter()
        model.fit(tables, progressbar=False)
        wall = time.perf_counter() - start
        stats = model.idata["sample_stats"].ds
        print(f"{json.dumps(overrides)}: fit {wall:.1f} s, "
              f"{float(stats['n_steps'].mean()):.1f} steps a draw, "
              f"step size {float(stats['step_size'].mean()):.3f}, "
              f"{int(stats['diverging'].sum())} divergences", flush=True)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]) if len(sys.argv) > 1 else [{}])
