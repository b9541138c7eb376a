"""How much arviz_stats' simultaneous-band statistic differs from ``burden``'s.

    python analysis/sbc_band_nan.py [N] [MODELS_DIR]

arviz_stats 1.3.3 (``ecdf_utils.simulate_confidence_bands``) takes the upper tail at an
evaluation point as ``1 - bdtr(count - 1, n, z)``; scipy's ``bdtr(-1, ...)`` is NaN, and
Python's ``min(lower, nan)`` then returns the lower tail alone: a sample with no value
below the first point (about 37% of uniform samples) has its upper tail ignored.
``burden.validate.sbc_stats._band_statistic`` takes that tail as 1. Prints, for N uniform
PITs (default 200): the 95% point ("gamma") of each statistic over 2,000 samples as the
band computes it (seed ``BAND_SEED``), and over the same 20,000 samples, with the share of
samples whose upper tail arviz_stats drops and whose statistic differs. With MODELS_DIR
(a ``models/`` folder after ``make report``), also each fit's LOO-PIT per data source
(``<fit>/loo_pit.csv``, the report's checks): inside the 95% band by arviz_stats' band and
by this package's, and the band test's p-value.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from arviz_stats.ecdf_utils import get_pointwise_confidence_band, simulate_confidence_bands
from scipy.special import bdtr

from burden.validate import sbc_stats


def main(n: int = 200) -> None:
    z = sbc_stats._band_points(n)
    seed = sbc_stats.BAND_SEED
    print(f"{n} PITs; gamma over {sbc_stats.BAND_SIMULATIONS} samples (seed {seed}): "
          f"arviz_stats {simulate_confidence_bands(n, 1, z, 0.95, sbc_stats.BAND_SIMULATIONS, np.random.default_rng(seed)):.5f}, "
          f"burden {np.quantile(sbc_stats._null_statistics(n, sbc_stats.BAND_SIMULATIONS), 0.95):.5f}")
    u = np.sort(np.random.default_rng(seed).uniform(size=(20000, n)), axis=1)
    ours = sbc_stats._band_statistic(u, z)
    counts = np.array([np.searchsorted(row, z, side="right") for row in u])
    with np.errstate(invalid="ignore"):
        lower = bdtr(counts, n, z).min(axis=1)
        upper = (1 - bdtr(counts - 1, n, z)).min(axis=1)  # NaN where a count is 0
    theirs = 1 - 2 * np.where(np.isnan(upper), lower, np.minimum(lower, upper))
    print(f"the same 20,000 samples: gamma arviz_stats {np.quantile(theirs, 0.95):.5f}, "
          f"burden {np.quantile(ours, 0.95):.5f}; upper tail dropped in "
          f"{np.isnan(upper).mean():.1%}, statistic differs in "
          f"{(np.abs(theirs - ours) > 1e-12).mean():.1%}")


def loo_pit_verdicts(models_dir: Path) -> pd.DataFrame:
    """Per fit and data source (3 or more values): in band by arviz_stats' band and by
    ``sbc_stats.ecdf_band``, and the band test's p-value."""
    rows = []
    for path in sorted(Path(models_dir).glob("*/loo_pit.csv")):
        for (model, source), group in pd.read_csv(path).groupby(["model", "source"]):
            pit = np.sort(group["pit"].to_numpy(float))
            n = pit.size
            if n < 3:
                continue
            z = sbc_stats._band_points(n)
            ecdf = np.searchsorted(pit, z, side="right") / n
            gamma = simulate_confidence_bands(n, 1, z, 0.95, sbc_stats.BAND_SIMULATIONS,
                                              np.random.default_rng(sbc_stats.BAND_SEED))
            lower, upper = get_pointwise_confidence_band(gamma, n, z)
            band = sbc_stats.ecdf_band(pit)
            rows.append({"model": model, "source": source, "n": n,
                         "in band (arviz_stats)": bool(((ecdf >= lower) & (ecdf <= upper)).all()),
                         "in band (burden)": bool(((band["ecdf"] >= band["lower"])
                                                   & (band["ecdf"] <= band["upper"])).all()),
                         "p": float(sbc_stats.band_p_values(pit[None, :])[0])})
    return pd.DataFrame(rows)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
    if len(sys.argv) > 2:
        verdicts = loo_pit_verdicts(Path(sys.argv[2]))
        print(verdicts.to_string(index=False))
        changed = verdicts["in band (arviz_stats)"] != verdicts["in band (burden)"]
        print(f"{int(changed.sum())} of {len(verdicts)} LOO-PIT verdicts differ")
