"""Rolling-origin back-test of ``CertifiedDeaths`` against statsmodels baselines.

For each cut year (default 2012, 2015, 2017, 2019, 2021) every source is cut there, the
model is refitted, and each series is forecast for the years after the cut that have a
final or complete count (final NCHS counts to 2019, VSRR December counts not marked
underreported after that, PHAC full-year Canada counts). A series is scored at a cut when
it has at least ``MIN_HISTORY`` years of counts up to the cut (the baselines fit trends):
Canada (counts from 2016) only from the 2021 cut. The same cut histories feed three
baselines per series (statsmodels):

- ``ets_damped``: additive damped-trend exponential smoothing of log counts (``ETSModel``);
- ``arima``: ARIMA(1,1,0) with drift on log counts;
- ``nb_glm``: a negative-binomial regression of the counts on year and year squared.

Each forecast is a set of predictive draws of the count; scores per year and horizon
(``burden.validate.scoring``): the central 90% interval's coverage and the CRPS. The rows
go to ``models/certified_backtest.csv`` (schema ``scoring.BACKTEST_SCORES``) with a
manifest ``models/certified_backtest.json`` (run date, seeds, cuts, convergence per cut).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from burden import config
from burden.fits import read_tables
from burden.models.certified import CertifiedDeaths
from burden.models.certified_data import prepare_inputs
from burden.validate.scoring import MODEL, NOMINAL, by_horizon, score, write_backtest

__all__ = ["BASELINES", "CUTS", "by_horizon", "run", "truth_table"]

log = logging.getLogger(__name__)

CUTS = (2012, 2015, 2017, 2019, 2021)
N_DRAWS = 2000
#: Draws a chain of each cut fit: the 2012 cut's ``dispersion`` mixes slowly per draw (bulk
#: ESS 247-552 from 4 x 2,000 draws over seeds 1-3; 642-1,013 from 4 x 4,000, at the same
#: ESS per second: docs/models/certified.md, 2026-11-29); sampling takes seconds
CUT_DRAWS = 4000
BASELINES = ("ets_damped", "arima", "nb_glm")
#: Years of counts a series needs up to a cut to be scored (the baselines fit trends)
MIN_HISTORY = 6


def truth_table(data: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The count each series-year is scored against: final NCHS where published, else the
    VSRR December count not marked underreported; Canada's full-year PHAC counts (the
    January-September 2025 count is not a year and is left out)."""
    full = prepare_inputs(data, first_year=1999, last_year=2025)
    obs = full.obs[(full.obs["kind"] == "count") & (full.obs["end_month"] == 12)]
    order = {"nchs_final": 0, "vsrr": 1, "phac": 2}
    obs = obs.assign(rank=obs["source"].map(order)).sort_values("rank")
    return obs.drop_duplicates(["series", "year"])[["series", "year", "value", "source"]]


def _model_draws(model: CertifiedDeaths, rows: pd.DataFrame, rng: np.random.Generator
                 ) -> np.ndarray:
    """(n_rows, N_DRAWS) posterior predictive counts of each truth row (NB around the
    latent deaths, with the VSRR bias for VSRR rows)."""
    post = model.posterior
    deaths = post["deaths"].stack(sample=("chain", "draw")).transpose("sample", ...)
    pick = rng.choice(deaths.sizes["sample"], size=N_DRAWS, replace=True)
    cv = post["dispersion"].values.ravel()[pick]
    bias = post["vsrr_bias"].values.ravel()[pick]
    out = np.empty((len(rows), N_DRAWS))
    for i, r in enumerate(rows.itertuples()):
        mu = deaths.sel(series=r.series, year=r.year).values[pick]
        if r.source == "vsrr":
            mu = mu * np.exp(bias)
        alpha = 1 / cv**2
        out[i] = rng.poisson(rng.gamma(alpha, mu / alpha))
    return out


def _baseline_draws(name: str, history: pd.Series, horizons: np.ndarray,
                    rng: np.random.Generator) -> np.ndarray:
    """(len(horizons), N_DRAWS) predictive counts of baseline ``name`` from ``history``
    (counts indexed by consecutive years)."""
    import statsmodels.api as sm
    from statsmodels.tsa.arima.model import ARIMA
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    y = history.to_numpy(float)
    h = int(horizons.max())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter of short series
        if name == "ets_damped":
            fit = ETSModel(np.log(y), error="add", trend="add", damped_trend=True).fit(
                disp=False)
            sims = fit.simulate(nsimulations=h, repetitions=N_DRAWS, anchor="end",
                                rng=np.random.default_rng(int(rng.integers(2**31))))
            paths = np.exp(np.asarray(sims).reshape(h, N_DRAWS))
        elif name == "arima":
            fit = ARIMA(np.log(y), order=(1, 1, 0), trend="t").fit()
            fc = fit.get_forecast(h)
            mean, se = np.asarray(fc.predicted_mean), np.asarray(fc.se_mean)
            paths = np.exp(mean[:, None] + se[:, None] * rng.standard_normal((h, N_DRAWS)))
        elif name == "nb_glm":
            t = np.arange(len(y), dtype=float)
            scale = max(t.max(), 1.0)
            design = np.column_stack([np.ones_like(t), t / scale, (t / scale) ** 2])
            fit = sm.NegativeBinomial(y, design).fit(disp=False, maxiter=200)
            params = rng.multivariate_normal(fit.params, fit.cov_params(), size=N_DRAWS)
            tf = (len(y) - 1 + np.arange(1, h + 1)) / scale
            future = np.column_stack([np.ones_like(tf), tf, tf**2])
            mu = np.exp(future @ params[:, :3].T)  # (h, draws)
            # statsmodels reports NB2's alpha itself (var = mu + alpha mu^2) last
            alpha = np.clip(params[:, 3], 1e-8, None)
            paths = rng.poisson(rng.gamma(1 / alpha, mu * alpha))
        else:
            raise ValueError(f"unknown baseline {name!r}; known: {BASELINES}")
    return paths[horizons - 1]


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover - platforms without getloadavg
        return "unknown"


def run(cuts: tuple[int, ...] = CUTS, *, sampler_config: dict | None = None,
        processed_dir: Path | None = None, out: Path | None = None,
        seeds: tuple[int, ...] = (1,), command: str = "burden backtest certified"
        ) -> pd.DataFrame:
    """Fit at every cut (once per seed), score the model and the baselines; write the rows
    and their manifest and return the rows."""
    data = read_tables(CertifiedDeaths.data_tables, processed_dir)
    truth = truth_table(data)
    history_all = truth.pivot_table(index="year", columns="series", values="value")
    started = dt.datetime.now(dt.UTC)
    rows, converged, load = [], {}, [_load()]
    for seed in seeds:
        rng = np.random.default_rng(seed)
        for cut in cuts:
            model = CertifiedDeaths(
                {"last_data_year": cut, "last_year": int(truth["year"].max())},
                {"draws": CUT_DRAWS, **(sampler_config or {}), "random_seed": seed})
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                model.fit(data)
            conv = model.convergence_report()
            converged[f"{cut}/seed {seed}"] = {k: conv[k] for k in (
                "converged", "r_hat_max", "ess_bulk_min", "divergences", "worst_r_hat",
                "worst_ess")} | {"sample_s": model.timings.get("sample_s")}
            # series the cut fit models with at least MIN_HISTORY years of counts up to the
            # cut (the baselines need a history; every model is scored on the same
            # series-years)
            history_years = history_all.loc[:cut].notna().sum()
            scored = [s for s in model.inputs().series
                      if history_years.get(s, 0) >= MIN_HISTORY]
            held = truth[(truth["year"] > cut) & truth["series"].isin(scored)].reset_index(
                drop=True)
            if held.empty:
                continue
            kinds = {MODEL: _model_draws(model, held, rng)}
            for name in BASELINES:
                parts = np.empty((len(held), N_DRAWS))
                for series, idx in held.groupby("series").groups.items():
                    history = history_all[series].loc[:cut].dropna()
                    horizons = (held.loc[idx, "year"] - cut).to_numpy()
                    parts[np.asarray(idx)] = _baseline_draws(name, history, horizons, rng)
                kinds[name] = parts
            for name, draws in kinds.items():
                lower, upper, covered, crps = score(draws, held["value"].to_numpy())
                rows.append(held.assign(
                    model=name, cut=cut, horizon=held["year"] - cut, seed=seed,
                    lower=lower, upper=upper, covered=covered, crps=crps,
                    converged=conv["converged"] if name == MODEL else True,
                    nominal=NOMINAL))
            log.info("cut %d seed %d: fitted (converged %s), scored %d series-years", cut,
                     seed, conv["converged"], len(held))
            load.append(_load())
    table = pd.concat(rows, ignore_index=True)
    manifest = {"backtest": "certified", "run_utc": started.isoformat(timespec="seconds"),
                "finished_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "command": command, "seeds": list(seeds), "cuts": list(cuts),
                "draws": int({"draws": CUT_DRAWS, **(sampler_config or {})}["draws"]),
                "converged": converged, "load": load, "nominal": NOMINAL,
                "baselines": list(BASELINES), "min_history": MIN_HISTORY}
    write_backtest(table, out or config.models_dir() / "certified_backtest.csv", manifest)
    return table
