"""Leave-one-out predictive accuracy of a saved fit per data source, and two fits compared.

    python analysis/loo_by_source.py FIT [MODELS_DIR] OUT.csv
    python analysis/loo_by_source.py --compare OLD.csv NEW.csv

The first form writes one row per observation of ``models/<FIT>.nc`` (or of MODELS_DIR):
its source (``observation_sources()``), its PSIS-LOO log predictive density (elpd) and the
Pareto k of its weights (above 0.7 the estimate is unreliable), from the package's own
log-likelihood (``burden.validate.log_density``) and PSIS (``burden.validate.psis``), and
prints the sums per source and the posterior of each measurement-error scale. Run it with
the code version that made the fit (a fit of another model version does not load).

``--compare`` prints NEW - OLD per source with the standard error of the difference
(sqrt(n) x the sd of the pointwise differences; Vehtari, Gelman & Gabry 2017), over every
observation and over those with k <= 0.7 in both fits. Measured 2026-12-04 on production
versions 6 and 7: docs/models/shares.md, "Version 7".
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import logsumexp

#: Pareto k above which PSIS-LOO is unreliable (Vehtari et al. 2024, JMLR 25(72))
K_RELIABLE = 0.7


def pointwise(fit: str, models_dir: Path | None) -> pd.DataFrame:
    from burden.fits import load_fit
    from burden.validate.log_density import log_likelihood
    from burden.validate.psis import psislw_array

    est = load_fit(fit, models_dir)
    ll = log_likelihood(est, est.posterior)
    sources = est.observation_sources()
    frames = []
    for var in ll.data_vars:
        x = ll[var].values.reshape(-1, ll[var].shape[-1]).T  # observations x draws
        lw, k = psislw_array(x)
        frames.append(pd.DataFrame({"variable": var, "source": sources[var],
                                    "elpd": logsumexp(lw + x, axis=1), "k": k}))
    scales = [v for v in est.posterior.data_vars if v.endswith("_sigma") and "obs" in v]
    for name in scales:
        draws = est.posterior[name].stack(sample=("chain", "draw"))
        q = draws.quantile([0.025, 0.5, 0.975], dim="sample")
        print(f"{name}: median [95% interval]")
        print(q.to_dataframe(name=name).unstack("quantile").round(3).to_string())
    return pd.concat(frames, ignore_index=True)


def by_source(d: pd.DataFrame) -> pd.DataFrame:
    g = d.groupby("source")
    out = pd.DataFrame({"n": g.size(), "elpd": g["elpd"].sum(),
                        "k > 0.7": g["k"].apply(lambda k: int((k > K_RELIABLE).sum()))})
    out.loc["all"] = [len(d), d["elpd"].sum(), int((d["k"] > K_RELIABLE).sum())]
    return out


def compare(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    if not (old["source"].to_numpy() == new["source"].to_numpy()).all():
        raise ValueError("the two fits' observations differ: compare fits of the same data")
    diff = new["elpd"] - old["elpd"]
    reliable = (old["k"] <= K_RELIABLE) & (new["k"] <= K_RELIABLE)
    rows = {}
    for label, mask in [(s, old["source"] == s) for s in sorted(old["source"].unique())] + [
            ("all", pd.Series(True, index=old.index)), (f"all, k <= {K_RELIABLE} in both",
                                                       reliable)]:
        d = diff[mask]
        rows[label] = {"n": int(mask.sum()), "elpd new - old": d.sum(),
                       "se": float(np.sqrt(len(d) * d.var(ddof=1))) if len(d) > 1 else np.nan}
    return pd.DataFrame(rows).T


if __name__ == "__main__":
    args = sys.argv[1:]
    if args and args[0] == "--compare":
        a, b = (pd.read_csv(p) for p in args[1:3])
        print(compare(a, b).round(2).to_string())
    elif len(args) in (2, 3):
        table = pointwise(args[0], Path(args[1]) if len(args) == 3 else None)
        table.to_csv(args[-1], index=False)
        print(by_source(table).round(2).to_string())
    else:
        sys.exit(__doc__)
