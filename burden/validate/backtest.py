"""Back-test of the deaths model: fit with data through a year, score the held-back years.

``burden backtest --last-year 2014`` cuts every source (GBD, NCHS, VSRR) at the year, fits,
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


def run_backtest(last_year: int = 2014, *, sampler_config: dict | None = None,
                 processed_dir: Path | None = None, out: Path | None = None,
                 save_model: Path | None = None) -> tuple[pd.DataFrame, dict]:
    """Fit with data through ``last_year``, score the later GBD years, write the scores.

    Returns (scored table, convergence report). Fewer data years make the trend
    hyper-parameters harder to sample: at target_accept 0.9 this fit had 11 divergences, so
    the default here is 0.95 (``sampler_config`` overrides it).
    """
    data = read_tables(OpioidDeaths.data_tables, processed_dir)
    model = OpioidDeaths({"last_data_year": last_year},
                         {"target_accept": 0.95, **(sampler_config or {})})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # data notes, logged below
        model.fit(data)
    for note in model.inputs().notes:
        log.info("note: %s", note)
    if save_model:
        model.save(save_model)
    gbd = data["gbd_deaths"]
    years = sorted(int(y) for y in gbd["year"].unique() if y > last_year)
    scored = score(model, gbd, years)
    out = out or config.models_dir() / "deaths_backtest.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    scored.assign(nominal=NOMINAL, last_data_year=last_year).to_csv(out, index=False)
    print(f"Back-test: data through {last_year}, held-back GBD country-years {years}")
    print(coverage_by_year(scored).round(3).to_string())
    usa = scored[scored["location_id"] == US]
    print(usa.round(3).to_string(index=False))
    return scored, model.convergence_report()
