"""LOO-PIT per model and data source: is each observation a plausible draw from the model
fitted without it?

The LOO-PIT of observation i is P(y~_i <= y_i | y_-i), the posterior predictive CDF at the
observation after leaving it out, computed without refitting by Pareto-smoothed importance
sampling (Vehtari, Gelman & Gabry 2017, Statistics and Computing 27(5); Vehtari et al.
2024, JMLR 25(72)): the weights from ``burden.validate.psis`` (arviz_stats' computation on
every observation at once), the PIT from ``arviz_stats``. For a calibrated model the values are uniform on
(0, 1): too many near 0 and 1 means intervals too narrow, a pile in the middle too wide, a
slope one way a bias. Counts and censored observations have ties; ``arviz_stats``
randomises within them (a fixed seed), which keeps the values uniform under the model.

Unlike the in-sample predictive check (``burden.plots.checks.ppc_from_idata``, where every
observation has informed its own interval), LOO-PIT does not flatter an overfitted model.
The Pareto k of each observation says whether its importance sampling is reliable (above
0.7 it is not; the table keeps k so the report can say how many).

Every observed variable is a likelihood term (no Potentials: a Potential has no predictive
draws and would be missing here); each model names the data source of each element through
``BayesianEstimator.observation_sources``.
"""

from __future__ import annotations

import arviz_stats  # noqa: F401  (registers the .azstats accessor)
import numpy as np
import pandas as pd
import xarray as xr

from burden import config
from burden.result_schemas import LOO_PIT
from burden.validate.log_density import log_likelihood
from burden.validate.psis import psislw

config.forget_unloaded_jax()  # arviz_stats brought in arviz_base

#: tie-breaking seed for counts and censored observations (any fixed value: reproducible)
TIE_SEED = 214


def loo_pit_table(est, name: str, predictive: xr.Dataset, *, seed: int = TIE_SEED,
                  loglik: xr.Dataset | None = None) -> pd.DataFrame:
    """One row per observed element: model, variable, source, observation (position in the
    variable), LOO-PIT value and Pareto k. ``predictive`` is the posterior predictive group
    of ``est`` and ``loglik`` its pointwise log-likelihood, at the same draws (computed at
    every posterior draw when not given)."""
    posterior = est.idata["posterior"].to_dataset()
    observed = est.idata["observed_data"].to_dataset()
    loglik = log_likelihood(est, posterior) if loglik is None else loglik
    sources = est.observation_sources()
    parts = []
    for var in observed.data_vars:
        if var not in predictive or var not in loglik:
            raise ValueError(f"{name}: observed variable {var!r} has no predictive draws or "
                             "log-likelihood (a Potential?): LOO-PIT needs both")
        obs = observed[var]
        # a multivariate observation (a Dirichlet composition) has one log-likelihood per
        # row: its elements share the row's leave-one-out weights
        row_dims = [d for d in obs.dims if d in loglik[var].dims]
        ll = loglik[var].transpose("chain", "draw", *row_dims)
        pred = predictive[var].transpose("chain", "draw", *obs.dims)
        log_weights, khat = psislw(ll, ("chain", "draw"), r_eff=1.0)
        if len(row_dims) < len(obs.dims):
            log_weights = log_weights.broadcast_like(pred).transpose(*pred.dims)
            khat = khat.broadcast_like(obs).transpose(*obs.dims)
        pit, _ = pred.azstats.loo_pit(y_obs=obs, log_weights=log_weights, pareto_k=khat,
                                      sample_dims=["chain", "draw"], random_state=seed)
        n = int(obs.size)
        source = np.asarray(sources.get(var, np.full(n, var)), dtype=object).ravel()
        if source.size != n:
            raise ValueError(f"{name}: observation_sources()[{var!r}] has {source.size} "
                             f"labels for {n} observations")
        parts.append(pd.DataFrame({
            "model": name, "variable": var, "source": source.astype(str),
            "observation": np.arange(n),
            "pit": np.clip(np.asarray(pit.transpose(*obs.dims)).ravel(), 0.0, 1.0),
            "pareto_k": np.asarray(khat.transpose(*obs.dims)).ravel()}))
    if not parts:
        raise ValueError(f"{name}: no observed variable")
    return LOO_PIT.validate(pd.concat(parts, ignore_index=True), lazy=True)
