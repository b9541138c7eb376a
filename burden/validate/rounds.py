"""Leave-one-round-out scores of the deaths model: fit on one GBD round, score another.

Each GBD round is a measurement of the latent deaths with its own bias (``OpioidDeaths``,
docs/models/deaths.md, "GBD rounds as measurements"). Fitted on one round, the model cannot
learn how much rounds differ: the revision variance then comes from the priors of the
round biases only. ``run_rounds`` fits the model on each round alone and scores the other
round's country values: the share inside the central 90% interval of

- ``new_round``: the posterior predictive of a *new* GBD round's value (latent deaths x a
  new round's bias x a round's dispersion): the honest forecast of a revision;
- ``latent``: the latent deaths (whose interval carries the rounds' mean bias);
- ``same_round``: the posterior predictive of the *fitted* round's value (what a model
  that takes one round as the truth would offer: the issue's too-narrow intervals).

It also reports what the intervals would need: the spread of the log ratios of the scored
round's values to the fitted round's, and the standard deviation of a normal predictive
centred on the fitted round's values that would cover 80% and 90% of them.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from burden.fits import read_tables
from burden.models.deaths import OpioidDeaths
from burden.models.deaths_data import GBD_CAUSE

log = logging.getLogger(__name__)

#: Central interval scored (5th to 95th percentile).
NOMINAL = 0.90
#: z of the 90% and 80% central normal intervals
_Z90, _Z80 = 1.6449, 1.2816


def country_values(gbd: pd.DataFrame, gbd_round: int) -> pd.DataFrame:
    """GBD country opioid deaths of one round: location_id, year, value."""
    rows = gbd[(gbd["cause"] == GBD_CAUSE) & (gbd["measure"] == "deaths")
               & (gbd["location_level"] == "country") & (gbd["gbd_round"] == gbd_round)]
    return rows[["location_id", "year", "value"]].reset_index(drop=True)


def score_round(model: OpioidDeaths, gbd: pd.DataFrame, gbd_round: int,
                years: Sequence[int], seed: int = 1) -> pd.DataFrame:
    """Per country-year of ``gbd_round`` in ``years`` (countries of the fit only): the value,
    the 90% intervals (new round, latent, same round as the fit) and whether each holds it.

    Values published in whole deaths (a round whose values are all integers, like GBD 2019
    here) count as inside when the interval meets [value - 0.5, value + 0.5] (zeros too)."""
    inp = model.inputs()
    rows = country_values(gbd, gbd_round)
    rows = rows[rows["year"].isin(list(years))]
    outside = sorted(set(rows["location_id"]) - set(inp.countries))
    rows = rows[rows["location_id"].isin(inp.countries)].reset_index(drop=True)
    rounded = bool((rows["value"] % 1 == 0).all())
    half = 0.5 if rounded else 0.0
    value = rows["value"].to_numpy(float)
    lo_q, hi_q = (1 - NOMINAL) / 2, 1 - (1 - NOMINAL) / 2
    fitted_round = inp.rounds[-1]
    arrays = {"new_round": model.gbd_measurement_draws(None, seed=seed),
              "latent": model.deaths_draws("country"),
              "same_round": model.gbd_measurement_draws(fitted_round, seed=seed)}
    out = rows.assign(gbd_round=gbd_round)
    loc = xr_index(rows["location_id"])
    yr = xr_index(rows["year"])
    for name, draws in arrays.items():
        sel = draws.drop_vars("location_name", errors="ignore").sel(location=loc, year=yr)
        flat = sel.values.reshape(-1, len(rows))
        lo, hi = np.quantile(flat, [lo_q, hi_q], axis=0)
        out[f"{name}_lower"], out[f"{name}_upper"] = lo, hi
        out[f"{name}_hit"] = (lo <= value + half) & (hi >= value - half)
        if name == "latent":
            out["abs_log_error"] = np.abs(np.log(flat).mean(axis=0) - np.log(
                np.maximum(value, 0.5)))
    out.attrs["countries_not_in_fit"] = outside
    return out


def xr_index(values: pd.Series):
    import xarray as xr

    return xr.DataArray(values.to_numpy(), dims="row")


def needed_spread(gbd: pd.DataFrame, fit_round: int, scored_round: int,
                  years: Sequence[int]) -> dict[str, float]:
    """Log ratios scored / fitted round's values (country-years where both are positive):
    mean, sd, and the sd of a normal predictive centred on the fitted round's values
    (no bias) that would hold 80% / 90% of them in its 90% interval."""
    a = country_values(gbd, fit_round).set_index(["location_id", "year"])["value"]
    b = country_values(gbd, scored_round).set_index(["location_id", "year"])["value"]
    both = pd.concat([a.rename("fit"), b.rename("scored")], axis=1, join="inner")
    both = both[both.index.get_level_values("year").isin(list(years))]
    both = both[(both["fit"] > 0) & (both["scored"] > 0)]
    lr = np.log(both["scored"] / both["fit"]).to_numpy()
    return {"log_ratio_n": len(lr), "log_ratio_mean": float(lr.mean()),
            "log_ratio_sd": float(lr.std(ddof=1)),
            "sd_needed_80": float(np.quantile(np.abs(lr), 0.80) / _Z90),
            "sd_needed_90": float(np.quantile(np.abs(lr), 0.90) / _Z90)}


def predictive_log_sd(scored: pd.DataFrame) -> float:
    """Median (over country-years) half-width of the new-round 90% interval, as a log sd."""
    width = np.log(scored["new_round_upper"]) - np.log(scored["new_round_lower"])
    return float(np.median(width) / (2 * _Z90))


def run_rounds(pairs: Sequence[tuple[int, int]] = ((2017, 2019), (2019, 2017)), *,
               years: dict[str, Sequence[int]] | None = None,
               sampler_config: dict | None = None, model_config: dict | None = None,
               processed_dir: Path | None = None,
               fits: dict[int, OpioidDeaths] | None = None,
               out: Path | None = None) -> pd.DataFrame:
    """Fit on the first round of each pair alone, score the second round's country values.

    ``years``: label -> years scored (default: 2015-2017 and every shared year 1990-2017).
    ``fits``: already fitted single-round models by round (fitted here when missing; the
    new ones are added to the dict). Returns one row per (fit round, scored round, years):
    coverages of the 90% intervals (new round, latent, same round), the convergence of the
    fit and the log-ratio spread the intervals would need; the scored country-years are
    written to ``out`` (CSV) when given.
    """
    years = years or {"2015-2017": range(2015, 2018), "1990-2017": range(1990, 2018)}
    data = read_tables(OpioidDeaths.data_tables, processed_dir)
    gbd = data["gbd_deaths"]
    fits = fits if fits is not None else {}
    rows, scored_all = [], []
    for fit_round, scored_round in pairs:
        if fit_round not in fits:
            model = OpioidDeaths({**(model_config or {}), "gbd_rounds": (fit_round,)},
                                 sampler_config)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # data notes
                model.fit(data, progressbar=False)
            fits[fit_round] = model
        model = fits[fit_round]
        conv = model.convergence_report()
        for label, yrs in years.items():
            scored = score_round(model, gbd, scored_round, yrs)
            scored_all.append(scored.assign(fit_round=fit_round, years=label))
            rows.append({
                "fit_round": fit_round, "scored_round": scored_round, "years": label,
                "n": len(scored),
                "new_round_90": scored["new_round_hit"].mean(),
                "latent_90": scored["latent_hit"].mean(),
                "same_round_90": scored["same_round_hit"].mean(),
                "median_abs_log_error": scored["abs_log_error"].median(),
                "predictive_log_sd": predictive_log_sd(scored),
                **needed_spread(gbd, fit_round, scored_round, yrs),
                "countries_not_in_fit": len(scored.attrs["countries_not_in_fit"]),
                "r_hat_max": conv["r_hat_max"], "ess_bulk_min": conv["ess_bulk_min"],
                "divergences": conv["divergences"],
            })
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        pd.concat(scored_all, ignore_index=True).assign(nominal=NOMINAL).to_csv(
            out, index=False)
    return pd.DataFrame(rows)
