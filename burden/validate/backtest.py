"""Rolling-origin back-test of the deaths model: fit with data through each cut year
(default 2010 and 2014), score the held-back years.

``burden backtest deaths`` cuts every source (GBD, NCHS, VSRR) at each year, fits,
and for each held-back GBD country-year of every fitted round checks whether the value lies
in the model's central 90% interval, for the latent deaths (which carry the rounds' mean
bias) and for a new measurement by the same GBD round (latent x that round's bias and
lognormal dispersion: the posterior predictive); it prints coverage by year and overall and
the median absolute log error of the predictive mean (log scale), and writes the scored
country-years to ``models/deaths_backtest.csv`` (read by the report). Leave-one-round-out
scores (fit on one round, score another) are in ``burden.validate.rounds``.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from burden import config
from burden.fits import read_tables
from burden.models.deaths import OpioidDeaths
from burden.models.deaths_data import GBD_CAUSE
from burden.registry.keys import US

log = logging.getLogger(__name__)

#: Central interval scored by the back-test (5th to 95th percentile).
NOMINAL = 0.90


def score(model: OpioidDeaths, gbd: pd.DataFrame, years: list[int],
          seed: int = 1) -> pd.DataFrame:
    """Per held-back country-year of each fitted GBD round: value, 90% intervals (latent,
    predictive: that round's own measurement, with its bias and dispersion), hits.

    The latent interval carries the rounds' mean bias (the revision uncertainty), so it is
    wider than the predictive one of a fitted round."""
    inp = model.inputs()
    gbd = gbd if "gbd_round" in gbd else gbd.assign(gbd_round=inp.rounds[0])
    held = gbd[(gbd["cause"] == GBD_CAUSE) & (gbd["measure"] == "deaths")
               & (gbd["location_level"] == "country") & gbd["year"].isin(years)
               & gbd["location_id"].isin(inp.countries) & (gbd["value"] > 0)
               & gbd["gbd_round"].isin(inp.rounds)].reset_index(drop=True)
    loc = xr.DataArray(held["location_id"].to_numpy(), dims="row")
    yr = xr.DataArray(held["year"].to_numpy(), dims="row")
    latent = model.deaths_draws("country").drop_vars("location_name", errors="ignore")
    log_latent = np.log(latent.sel(location=loc, year=yr).values).reshape(-1, len(held))
    log_pred = np.empty_like(log_latent)
    for r in inp.rounds:
        rows = (held["gbd_round"] == r).to_numpy()
        draws = model.gbd_measurement_draws(r, seed=seed).sel(location=loc, year=yr)
        log_pred[:, rows] = np.log(draws.values.reshape(-1, len(held)))[:, rows]
    value = np.log(held["value"].to_numpy())
    out = held[["location_id", "year", "gbd_round", "value"]].copy()
    lo_q, hi_q = (1 - NOMINAL) / 2, 1 - (1 - NOMINAL) / 2
    for name, arr in (("latent", log_latent), ("predictive", log_pred)):
        lo, hi = np.quantile(arr, [lo_q, hi_q], axis=0)
        out[f"{name}_lower"], out[f"{name}_upper"] = np.exp(lo), np.exp(hi)
        out[f"{name}_hit"] = (lo <= value) & (value <= hi)
    out["abs_log_error"] = np.abs(log_pred.mean(axis=0) - value)
    return out


def coverage_by_year(scored: pd.DataFrame) -> pd.DataFrame:
    by_year = scored.groupby("year").agg(
        n=("value", "size"), latent_90=("latent_hit", "mean"),
        predictive_90=("predictive_hit", "mean"),
        median_abs_log_error=("abs_log_error", "median"))
    by_year.loc["all"] = [len(scored), scored["latent_hit"].mean(),
                          scored["predictive_hit"].mean(), scored["abs_log_error"].median()]
    return by_year


#: Cut years of the rolling-origin back-test for GBD countries (issue: 2010 and 2014)
CUTS = (2010, 2014)
#: Round whose held-back values are scored against the baselines (the latest, to 2019)
SCORED_ROUND = 2019
#: Years of positive values a country needs up to a cut to be scored against baselines
MIN_HISTORY = 6


def horizon_scores(model: OpioidDeaths, gbd: pd.DataFrame, cut: int, rng: np.random.Generator,
                   n_draws: int = 1000, scored_round: int = SCORED_ROUND, seed: int = 1
                   ) -> pd.DataFrame:
    """Rows of ``scoring.BACKTEST_SCORES`` (one per country-year and model): the held-back
    values of ``scored_round`` after ``cut``, scored by the model's predictive of that
    round's measurement and by the statsmodels baselines of ``certified_backtest`` fitted
    on the same round's values through the cut. Intervals and CRPS are computed on the log
    scale (a relative error, so that every country weighs the same; on the count scale the
    US alone would dominate); ``lower``/``upper`` are written back on the count scale.
    Country-years with a zero (rounded) value in the history or the held-back year are not
    scored (the baselines work on logs); a country whose baseline fit fails is left out of
    every model's scores and named in the log."""
    from burden.validate.certified_backtest import BASELINES, _baseline_draws
    from burden.validate.scoring import MODEL, score
    from burden.validate.scoring import NOMINAL as SCORE_NOMINAL

    inp = model.inputs()
    rows = gbd[(gbd["cause"] == GBD_CAUSE) & (gbd["measure"] == "deaths")
               & (gbd["location_level"] == "country") & (gbd["gbd_round"] == scored_round)
               & gbd["location_id"].isin(inp.countries)]
    wide = rows.pivot_table(index="year", columns="location_id", values="value")
    history = wide.loc[:cut]
    ok = [c for c in wide.columns
          if (history[c] > 0).sum() >= MIN_HISTORY and (history[c] > 0).all()]
    held = (rows[(rows["year"] > cut) & rows["location_id"].isin(ok) & (rows["value"] > 0)]
            [["location_id", "year", "value"]].reset_index(drop=True))
    if held.empty:
        return pd.DataFrame()
    loc = xr.DataArray(held["location_id"].to_numpy(), dims="row")
    yr = xr.DataArray(held["year"].to_numpy(), dims="row")
    draws = model.gbd_measurement_draws(scored_round, seed=int(rng.integers(2**31)))
    flat = draws.sel(location=loc, year=yr).values.reshape(-1, len(held))
    pick = rng.choice(flat.shape[0], size=min(n_draws, flat.shape[0]), replace=False)
    kinds = {MODEL: np.log(flat[pick].T)}
    failed: dict[str, str] = {}
    for name in BASELINES:
        part = np.full((len(held), len(pick)), np.nan)
        for country, idx in held.groupby("location_id").groups.items():
            horizons = (held.loc[idx, "year"] - cut).to_numpy()
            try:
                sims = _baseline_draws(name, history[country], horizons, rng)
            except Exception as err:  # noqa: BLE001 (statsmodels raises many types on short series)
                failed[country] = f"{name}: {type(err).__name__}: {err}"
                continue
            part[np.asarray(idx)] = np.log(np.maximum(sims[:, :len(pick)], 0.5))
        kinds[name] = part
    if failed:
        # every model is scored on the same country-years
        for country, reason in sorted(failed.items()):
            log.warning("cut %d: %s not scored (baseline failed: %s)", cut, country, reason)
        keep = ~held["location_id"].isin(list(failed)).to_numpy()
        held = held[keep].reset_index(drop=True)
        kinds = {k: v[keep] for k, v in kinds.items()}
    value = np.log(held["value"].to_numpy(float))
    converged = bool(model.convergence_report()["converged"])
    out = []
    for name, d in kinds.items():
        lower, upper, _, crps = score(d, value, SCORE_NOMINAL)
        lower, upper = np.exp(lower), np.exp(upper)
        v = held["value"].to_numpy(float)
        out.append(pd.DataFrame({
            "series": held["location_id"], "year": held["year"].astype(int), "value": v,
            "source": f"gbd_{scored_round}", "model": name, "cut": cut,
            "horizon": held["year"].astype(int) - cut, "seed": seed,
            "lower": lower, "upper": upper, "covered": (v >= lower) & (v <= upper),
            "crps": crps, "converged": converged if name == MODEL else True,
            "nominal": SCORE_NOMINAL}))
    return pd.concat(out, ignore_index=True)


def by_horizon(scores: pd.DataFrame) -> pd.DataFrame:
    """Coverage and mean CRPS by model and horizon, with the model's skill over each
    baseline (``scoring.by_horizon``: the same table for every back-test)."""
    from burden.validate.scoring import by_horizon as _by_horizon

    return _by_horizon(scores)


def run_backtest(cuts: tuple[int, ...] | int = CUTS, *, sampler_config: dict | None = None,
                 processed_dir: Path | None = None, out: Path | None = None,
                 save_model: Path | None = None, seed: int = 1,
                 command: str = "burden backtest deaths") -> tuple[pd.DataFrame, dict]:
    """Rolling-origin back-test: for each cut, fit with data through it (every source),
    score the later GBD values of every fitted round (``score``), and the latest round's
    against statsmodels baselines by horizon (``horizon_scores``).

    Writes ``out`` (default ``models/deaths_backtest.csv``: the scored country-years, with
    ``last_data_year``) and ``<out stem>_scores.csv`` beside it (model and baselines, long
    form). Returns (scored table, convergence of each cut's fit: cut -> report).
    """
    cuts = (cuts,) if isinstance(cuts, int) else tuple(cuts)
    data = read_tables(OpioidDeaths.data_tables, processed_dir)
    gbd = data["gbd_deaths"]
    import datetime as dt
    import os

    rng = np.random.default_rng(seed)
    started = dt.datetime.now(dt.UTC)
    load = [" ".join(f"{x:.2f}" for x in os.getloadavg())]
    scored_all, scores_all, reports = [], [], {}
    for cut in cuts:
        model = OpioidDeaths({"last_data_year": cut},
                             {**(sampler_config or {}), "random_seed": seed})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # data notes, logged below
            model.fit(data)
        for note in model.inputs().notes:
            log.info("note: %s", note)
        if save_model:
            model.save(save_model.with_name(f"{save_model.stem}_{cut}{save_model.suffix}"))
        years = sorted(int(y) for y in gbd["year"].unique() if y > cut)
        scored = score(model, gbd, years)
        scored_all.append(scored.assign(last_data_year=cut, horizon=scored["year"] - cut))
        scores_all.append(horizon_scores(model, gbd, cut, rng, seed=seed))
        reports[cut] = model.convergence_report()
        load.append(" ".join(f"{x:.2f}" for x in os.getloadavg()))
        log.info("cut %d: converged %s", cut, reports[cut]["converged"])
    scored = pd.concat(scored_all, ignore_index=True)
    scores = pd.concat(scores_all, ignore_index=True)
    out = out or config.models_dir() / "deaths_backtest.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    scored.assign(nominal=NOMINAL).to_csv(out, index=False)
    from burden.validate.scoring import write_backtest

    write_backtest(scores, out.with_name(f"{out.stem}_scores.csv"), {
        "backtest": "deaths", "run_utc": started.isoformat(timespec="seconds"),
        "finished_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": command, "seeds": [seed], "cuts": list(cuts),
        "draws": int(OpioidDeaths(sampler_config=sampler_config).sampler_config.draws),
        "converged": {str(c): {k: r[k] for k in ("converged", "r_hat_max", "ess_bulk_min",
                                                   "divergences")}
                      for c, r in reports.items()},
        "load": load, "scored_round": SCORED_ROUND, "crps_scale": "log"})
    for cut in cuts:
        part = scored[scored["last_data_year"] == cut]
        print(f"Back-test: data through {cut}, held-back GBD country-years "
              f"{sorted(part['year'].unique())}")
        print(coverage_by_year(part).round(3).to_string())
    print("By horizon (latest round, log-scale CRPS; skill = 1 - CRPS model / baseline):")
    print(by_horizon(scores).round(3).to_string(index=False))
    usa = scored[scored["location_id"] == US]
    print(usa.round(3).to_string(index=False))
    return scored, reports
