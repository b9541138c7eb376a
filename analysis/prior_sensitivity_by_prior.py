"""Which configured prior makes a model's headline outputs prior-sensitive? Power-scaling
sensitivity (as `burden summarise`'s ``prior_sensitivity`` table) with one configured
prior power-scaled at a time, and with all of them on each half of the chains (how much
the estimate moves with the draws).

    python analysis/prior_sensitivity_by_prior.py MODEL [MODELS_DIR]

Prints one row per headline output and one column per configured prior (its own
sensitivity), then the sensitivity with every configured prior scaled (the report's), on
all chains and on the first and second half of them. Sensitivities above 0.05 are
flagged (``burden.validate.prior_sensitivity.THRESHOLD``, Kallioinen et al. 2024).
Reads the saved fit; writes nothing.
"""

from __future__ import annotations

from burden import config

config.use_process_defaults()  # as the command line does, before numpy or Numba load

import sys
import warnings
from pathlib import Path

import arviz_stats
import xarray as xr

from burden.fits import load_fit
from burden.validate.log_density import log_densities
from burden.validate.prior_sensitivity import (
    ALPHAS,
    HEADLINES,
    THRESHOLD,
    configured_priors,
    psense_tree,
    single_prior_sensitivities,
    total_log_density,
)


def main() -> None:
    name = sys.argv[1]
    models_dir = Path(sys.argv[2]) if len(sys.argv) > 2 else config.models_dir()
    warnings.simplefilter("ignore")
    est = load_fit(name, models_dir)
    priors = configured_priors(est)
    posterior = est.idata["posterior"].to_dataset()
    densities = log_densities(est, posterior, {"likelihood": None, "prior": priors})
    loglik = total_log_density(densities["likelihood"])
    logprior = densities["prior"]
    headlines = HEADLINES[name](est)
    labels = list(headlines)
    quantities = xr.Dataset({f"q{i}": headlines[n] for i, n in enumerate(labels)})
    table = single_prior_sensitivities(quantities, logprior, loglik)
    table.index = labels
    n_chains = posterior.sizes["chain"]
    halves = {"all priors": slice(None), "all, chains 1st half": slice(0, n_chains // 2),
              "all, chains 2nd half": slice(n_chains // 2, None)}
    for column, chains in halves.items():
        s = arviz_stats.psense(psense_tree(quantities.isel(chain=chains),
                                     logprior.isel(chain=chains), loglik.isel(chain=chains)),
                               group="prior", alphas=ALPHAS)
        table[column] = [float(s[f"q{i}"]) for i in range(len(labels))]
    print(f"{name}: prior power-scaling sensitivity of the headline outputs, one "
          f"configured prior at a time ({len(priors)} priors; > {THRESHOLD} flagged *)")
    shown = table.T
    print(shown.map(lambda v: f"{v:.3f}{'*' if v > THRESHOLD else ' '}").to_string())


if __name__ == "__main__":
    main()
