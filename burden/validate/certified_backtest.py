"""Rolling-origin back-test of ``CertifiedDeaths`` against statsmodels baselines.

For each cut year (default 2012, 2015, 2017, 2019) every source is cut there, the model is
refitted, and each US series is forecast for the years after the cut that have a final or
complete count (final NCHS counts to 2019, VSRR December counts not marked underreported
after that). The same cut histories feed three baselines per series (statsmodels):

- ``ets_damped``: additive damped-trend exponential smoothing of log counts (``ETSModel``);
- ``arima``: ARIMA(1,1,0) with drift on log counts;
- ``nb_glm``: a negative-binomial regression of the counts on year and year squared.

Each forecast is a set of predictive draws of the count; scores per year and horizon: the
central 90% interval's coverage and the CRPS (continuous ranked probability score, lower is
better; Gneiting & Raftery 2007) of the draws. ``skill`` is 1 - CRPS(model) / CRPS(baseline).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from burden import config
from burden.fits import read_tables
from burden.models.certified import CertifiedDeaths
from burden.models.certified_data import prepare_inputs

log = logging.getLogger(__name__)

CUTS = (2012, 2015, 2017, 2019)
NOMINAL = 0.90
N_DRAWS = 2000
BASELINES = ("ets_damped", "arima", "nb_glm")
#: Years of counts a series needs up to a cut to be scored (the baselines fit trends)
MIN_HISTORY = 6


def crps_from_draws(draws: np.ndarray, observed: float) -> float:
    """CRPS of a sample: E|X - y| - E|X - X'| / 2 (the sorted-sample form)."""
    x = np.sort(np.asarray(draws, dtype=float))
    n = x.size
    first = np.mean(np.abs(x - observed))
    weights = 2 * np.arange(1, n + 1) - n - 1
    return float(first - np.sum(weights * x) / n**2)


def truth_table(data: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The count each US series-year is scored against: final NCHS where published, else
    the VSRR December count not marked underreported."""
    full = prepare_inputs(data, first_year=1999, last_year=2025)
    obs = full.obs[(full.obs["kind"] == "count") & (full.obs["end_month"] == 12)
                   & full.obs["series"].str.startswith("USA:")]
    order = {"nchs_final": 0, "vsrr": 1}
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


def score(draws: np.ndarray, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                           np.ndarray, np.ndarray]:
    lo_q, hi_q = (1 - NOMINAL) / 2, 1 - (1 - NOMINAL) / 2
    lower, upper = np.quantile(draws, [lo_q, hi_q], axis=1)
    covered = (observed >= lower) & (observed <= upper)
    crps = np.array([crps_from_draws(d, o) for d, o in zip(draws, observed)])
    return lower, upper, covered, crps


def run(cuts: tuple[int, ...] = CUTS, *, sampler_config: dict | None = None,
        processed_dir: Path | None = None, out: Path | None = None, seed: int = 1
        ) -> pd.DataFrame:
    """Fit at every cut, score the model and the baselines; write and return the rows."""
    data = read_tables(CertifiedDeaths.data_tables, processed_dir)
    truth = truth_table(data)
    history_all = truth.pivot_table(index="year", columns="series", values="value")
    rng = np.random.default_rng(seed)
    rows = []
    for cut in cuts:
        # 2,000 draws a chain: the cut fits' slowest quantities (the dispersion, the short
        # VSRR-only series) reached bulk ESS 280-330 with 1,000 (sampling takes seconds)
        model = CertifiedDeaths({"last_data_year": cut, "last_year": int(truth["year"].max())},
                                {"draws": 2000, **(sampler_config or {})})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            model.fit(data)
        conv = model.convergence_report()
        # series the cut fit models with at least MIN_HISTORY years of counts up to the cut
        # (the baselines need a history; every model is scored on the same series-years)
        history_years = history_all.loc[:cut].notna().sum()
        scored = [s for s in model.inputs().series if history_years.get(s, 0) >= MIN_HISTORY]
        held = truth[(truth["year"] > cut) & truth["series"].isin(scored)].reset_index(
            drop=True)
        kinds = {"bayesian": _model_draws(model, held, rng)}
        for name in BASELINES:
            parts = np.empty((len(held), N_DRAWS))
            for series, idx in held.groupby("series").groups.items():
                history = history_all[series].loc[:cut].dropna()
                horizons = (held.loc[idx, "year"] - cut).to_numpy()
                parts[np.asarray(idx)] = _baseline_draws(name, history, horizons, rng)
            kinds[name] = parts
        for name, draws in kinds.items():
            lower, upper, covered, crps = score(draws, held["value"].to_numpy())
            rows.append(held.assign(model=name, cut=cut, horizon=held["year"] - cut,
                                    lower=lower, upper=upper, covered=covered, crps=crps,
                                    converged=conv["converged"] if name == "bayesian"
                                    else True))
        log.info("cut %d: fitted (converged %s), scored %d series-years", cut,
                 conv["converged"], len(held))
    table = pd.concat(rows, ignore_index=True)
    out = out or config.models_dir() / "certified_backtest.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    table.assign(nominal=NOMINAL).to_csv(out, index=False)
    return table


def by_horizon(table: pd.DataFrame) -> pd.DataFrame:
    """Coverage and mean CRPS by model and horizon, and the model's CRPS skill over each
    baseline (1 - CRPS_model / CRPS_baseline, mean over the same series-years)."""
    agg = table.groupby(["model", "horizon"]).agg(n=("crps", "size"),
                                                  coverage=("covered", "mean"),
                                                  crps=("crps", "mean")).reset_index()
    wide = agg.pivot(index="horizon", columns="model", values="crps")
    for name in BASELINES:
        if name in wide:
            wide[f"skill_vs_{name}"] = 1 - wide["bayesian"] / wide[name]
    cov = agg.pivot(index="horizon", columns="model", values="coverage").add_prefix(
        "coverage_")
    n = agg[agg["model"] == "bayesian"].set_index("horizon")["n"].rename("n")
    return pd.concat([n, cov, wide.add_prefix("crps_").rename(
        columns=lambda c: c.replace("crps_skill", "skill"))], axis=1).reset_index()
