"""How often R-hat exceeds 1.01 for a quantity whose chains mix perfectly well, by draws a
chain and autocorrelation: the chance part of the convergence rule (R-hat <= 1.01, bulk
ESS >= 400; ``burden.models.fast_diagnostics``, the same R-hat the fits report).

    python analysis/rhat_tail.py [REPLICATES]

Each replicate is 4 chains of a stationary Gaussian AR(1) series (correlation RHO between
successive draws: no drift, no sticking, nothing a longer warm-up or a better
parameterisation could fix), started in its stationary distribution. Prints, for each
setting, the median bulk ESS, the share of replicates with R-hat above 1.01 and the 99th
percentile of R-hat. The split, rank-normalised R-hat of 8 half-chains with about ESS / 8
effective draws each varies by chance: with an ESS of several hundred it crosses 1.01 in
a few percent of fits of a quantity that mixes perfectly well. Memory: the draws of one
setting at once, 4 x 2,000 x REPLICATES floats (1.3 GB at 10,000 replicates with the
working copies).
"""

from __future__ import annotations

from burden import config

config.use_process_defaults()  # as the command line does, before numpy or Numba load

import sys

import numpy as np

from burden.models import fast_diagnostics

CHAINS = 4
DRAWS = (1000, 2000)
RHOS = (0.70, 0.75)


def ar1_chains(rng: np.random.Generator, draws: int, rho: float, m: int) -> np.ndarray:
    """(chain, draw, m) stationary AR(1) draws with unit variance."""
    e = rng.normal(size=(CHAINS, draws, m))
    x = np.empty_like(e)
    x[:, 0] = e[:, 0]
    scale = np.sqrt(1 - rho ** 2)
    for t in range(1, draws):
        x[:, t] = rho * x[:, t - 1] + scale * e[:, t]
    return x


def main(replicates: int) -> None:
    rng = np.random.default_rng(1)
    print("| draws a chain | rho | median bulk ESS | P(R-hat > 1.01) | 99th percentile R-hat |")
    print("|---|---|---|---|---|")
    for draws in DRAWS:
        for rho in RHOS:
            d = fast_diagnostics.summarise(ar1_chains(rng, draws, rho, replicates))
            print(f"| {draws} | {rho} | {np.median(d['ess_bulk']):.0f} | "
                  f"{np.mean(d['r_hat'] > 1.01):.4f} | {np.quantile(d['r_hat'], 0.99):.4f} |",
                  flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3000)
