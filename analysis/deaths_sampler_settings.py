"""Fit a model of the pipeline (default: deaths) on the processed tables under sampler
settings given as JSON overrides, one fit after another in this process, and print for
each: wall time of the fit, sampling time, mean leapfrog steps a draw, mean step size,
divergences, max R-hat and min bulk ESS; then the element with the largest R-hat of each of
the three worst variables, with each chain's mean.

    python analysis/deaths_sampler_settings.py '[{"target_accept": 0.8}]'
    python analysis/deaths_sampler_settings.py '[{"tune": 300, "random_seed": 1}]' composition

Each entry is merged over the model's ``default_sampler`` (``SamplerConfig`` fields:
``target_accept``, ``mass_matrix``, ``tune``, ``random_seed``...). A fit with an upstream
fit (markets) uses the saved one. An entry's ``"model_config"`` key, if any, is not a
sampler setting: it is merged over the model's configuration instead (for example
``'[{"random_seed": 1, "model_config": {"definition_ratio": "sheared"}}]'``). Nothing is
saved.
"""

from __future__ import annotations

from burden import config

config.use_process_defaults()  # as the command line does, before numpy or Numba load

import json
import logging
import sys
import time

from burden.fits import load_fit, read_tables, spec


def main(variants: list[dict], name: str = "deaths") -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    s = spec(name)
    cls = s.estimator
    tables = read_tables(cls.data_tables)
    upstream = {} if s.upstream is None else {s.upstream: load_fit(s.upstream)}
    for overrides in variants:
        sampler = {k: v for k, v in overrides.items() if k != "model_config"}
        model = cls(overrides.get("model_config"), sampler, **upstream)
        start = time.perf_counter()
        model.fit(tables, progressbar=False)
        wall = time.perf_counter() - start
        stats = model.idata["sample_stats"].ds
        report = model.convergence_report()
        print(f"{name} {json.dumps(overrides)}: fit {wall:.1f} s, sampling "
              f"{model.timings.get('sample_s', float('nan')):.1f} s, "
              f"{float(stats['n_steps'].mean()):.1f} steps a draw, "
              f"step size {float(stats['step_size'].mean()):.3f}, "
              f"{report['divergences']} divergences, "  # every draw sampled, not only kept
              f"max R-hat {report['r_hat_max']:.4f}, min bulk ESS {report['ess_bulk_min']:.0f}",
              flush=True)
        worst = model.worst_elements(variables=3, per_variable=1)
        for row in worst.itertuples():  # the elements, not only the variables (2026-12-03)
            print(f"    {row.element}: R-hat {row.r_hat:.4f}, bulk ESS {row.ess_bulk:.0f}, "
                  f"chain means {row.chain_means}", flush=True)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]) if len(sys.argv) > 1 else [{}],
         *(sys.argv[2:3]))
