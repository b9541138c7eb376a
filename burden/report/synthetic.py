"""Synthetic report inputs shaped exactly like the saved models' result tables.

For tests and for previewing the report layout without fitted models. Values are random
draws from a fixed seed: they are NOT estimates, and a report built from them carries a red
"synthetic" banner. The only real things in here are the source ids (from the registry).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import xarray as xr

from burden.draws import interval_summary
from burden.report.inputs import ModelResult, ReportInputs
from burden.report.provenance import ModelProvenance

YEARS = list(range(2000, 2018))
#: synthetic: the last year with (made-up) data; later years count as projected
LAST_DATA_YEAR = 2015
# Hierarchy of made-up locations (ids follow burden.data.schemas conventions).
COUNTRIES = {"USA": ("United States", "GBD_R:na", "GBD_SR:hi"),
             "CAN": ("Canada", "GBD_R:na", "GBD_SR:hi"),
             "GBR": ("United Kingdom", "GBD_R:we", "GBD_SR:hi"),
             "IRN": ("Iran", "GBD_R:nme", "GBD_SR:nmena")}
REGIONS = {"GBD_R:na": "High-income North America", "GBD_R:we": "Western Europe",
           "GBD_R:nme": "North Africa and Middle East"}
SUPER_REGIONS = {"GBD_SR:hi": "High-income",
                 "GBD_SR:nmena": "North Africa and Middle East"}
PRODUCERS = ["AFG", "MMR", "MEX", "ROW"]
# market-model region keys and the Heroin Signature Program's labels for them
HSP_LABELS = {"Mexico": "mexico", "South America": "south_america",
              "Southwest Asia": "southwest_asia", "Southeast Asia": "southeast_asia"}
REGIONS_HSP = list(HSP_LABELS.values())


def _draws(rng: np.random.Generator, shape: tuple[int, ...], scale: float) -> np.ndarray:
    """(chain, draw, *shape) positive draws with a trend over the last axis (years)."""
    base = rng.lognormal(np.log(scale), 0.5, size=shape)
    trend = np.linspace(0.6, 1.4, shape[-1])
    return base[None, None] * trend * rng.lognormal(0, 0.1, size=(2, 50, *shape))


def _summ(da: xr.DataArray) -> pd.DataFrame:
    return interval_summary(da)


def deaths_summary(rng: np.random.Generator) -> pd.DataFrame:
    iso = list(COUNTRIES)
    deaths = xr.DataArray(_draws(rng, (len(iso), len(YEARS)), 2000.0),
                          dims=("chain", "draw", "location", "year"),
                          coords={"location": iso, "year": YEARS})
    pop = xr.DataArray(rng.uniform(5e6, 3e8, len(iso)), dims="location",
                       coords={"location": iso})
    groups = {"country": {c: [c] for c in iso},
              "region": {r: [c for c in iso if COUNTRIES[c][1] == r] for r in REGIONS},
              "super_region": {s: [c for c in iso if COUNTRIES[c][2] == s]
                               for s in SUPER_REGIONS},
              "world": {"WLD": iso}}
    names = {**{c: v[0] for c, v in COUNTRIES.items()}, **REGIONS, **SUPER_REGIONS,
             "WLD": "World"}
    parts = []
    for level, members in groups.items():
        for loc, countries in members.items():
            d = deaths.sel(location=countries).sum("location")  # sums of draws
            r = d / pop.sel(location=countries).sum() * 1e5
            for measure, da in (("deaths", d), ("rate_per_100k", r)):
                parts.append(_summ(da).assign(location_id=loc, location_name=names[loc],
                                              location_level=level, measure=measure))
    cols = ["location_id", "location_name", "location_level", "year", "measure", "mean",
            "lower", "upper", "definition", "projected"]
    table = pd.concat(parts, ignore_index=True).assign(definition="gbd_use_disorder")
    return table.assign(projected=table["year"] > LAST_DATA_YEAR)[cols]


def us_correction(rng: np.random.Generator) -> pd.DataFrame:
    """Random draws in the shape of ``CertifiedDeaths.us_correction_summary()``: imputed
    deaths are a share in (0, 1) of the unspecified ones, so they never exceed them."""
    reported = _draws(rng, (len(YEARS),), 20000.0)
    unspecified = reported * rng.uniform(0.1, 0.3, size=reported.shape)
    imputed = unspecified * rng.uniform(0.3, 0.9, size=reported.shape)
    parts = []
    for series, arr in (("reported", reported), ("unspecified", unspecified),
                        ("imputed", imputed), ("corrected", reported + imputed)):
        da = xr.DataArray(arr, dims=("chain", "draw", "year"), coords={"year": YEARS})
        parts.append(_summ(da).assign(series=series))
    out = pd.concat(parts, ignore_index=True)
    out["prior_driven"] = out["series"].isin(["imputed", "corrected"])
    out["definition"] = "certified_overdose"
    return out[["year", "series", "mean", "lower", "upper", "prior_driven", "definition"]]


def certified_summary(rng: np.random.Generator) -> pd.DataFrame:
    """Random draws in the shape of ``CertifiedDeaths.summary()`` (two US series and
    Canada; the last year a nowcast)."""
    series = ["USA:any_opioid", "USA:heroin", "CAN:any_opioid"]
    da = xr.DataArray(_draws(rng, (len(series), len(YEARS)), 5000.0),
                      dims=("chain", "draw", "series", "year"),
                      coords={"series": series, "year": YEARS})
    out = _summ(da)
    out["location_id"] = out["series"].str.split(":").str[0]
    out["drug"] = out["series"].str.split(":").str[1]
    out["definition"] = "certified_overdose"
    out["data_year"] = True
    out["nowcast"] = out["year"] == max(YEARS)
    return out


def production(rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame, xr.DataArray]:
    da = xr.DataArray(_draws(rng, (len(PRODUCERS), len(YEARS)), 1000.0),
                      dims=("chain", "draw", "source", "year"),
                      coords={"source": PRODUCERS, "year": YEARS}, name="production_t")
    share = da / da.sum("source")
    summary = pd.concat([_summ(da).assign(measure="production_t"),
                         _summ(share).assign(measure="share")], ignore_index=True)
    total = _summ(da.sum("source"))
    return summary[["source", "year", "measure", "mean", "lower", "upper"]], total, da


def market_summary(rng: np.random.Generator) -> pd.DataFrame:
    logits = rng.normal(0, 1, size=(2, 50, len(REGIONS_HSP), len(YEARS)))
    share = np.exp(logits) / np.exp(logits).sum(axis=2, keepdims=True)
    da = xr.DataArray(share, dims=("chain", "draw", "source_region", "year"),
                      coords={"source_region": REGIONS_HSP, "year": YEARS})
    out = _summ(da).assign(market="USA")
    out["prior_driven"] = out["source_region"].eq("southeast_asia")
    return out[["market", "source_region", "year", "mean", "lower", "upper", "prior_driven"]]


def attribution(rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    da = xr.DataArray(_draws(rng, (len(PRODUCERS), len(YEARS)), 3000.0),
                      dims=("chain", "draw", "source", "year"),
                      coords={"source": PRODUCERS, "year": YEARS})
    summary = _summ(da).assign(market="USA")
    cols = ["market", "source", "year", "mean", "lower", "upper"]
    sens = pd.concat([_summ(da * f).assign(market="USA", scenario=name)
                      for name, f in (("baseline", 1.0), ("flat route prior", 0.8),
                                      ("no signature data", 1.2))], ignore_index=True)
    sens["definition"] = "gbd_use_disorder"
    return summary[cols], sens[["scenario", *cols, "definition"]]


def tables(rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    gbd = pd.DataFrame([{"location_id": c, "location_name": v[0], "location_level": "country",
                         "year": y, "cause": "opioid_use_disorders", "measure": "deaths",
                         "value": float(rng.uniform(100, 5000)), "gbd_round": 2017,
                         "definition": "gbd_use_disorder", "source": "owid_gbd_deaths"}
                        for c, v in COUNTRIES.items() for y in YEARS])
    nida = pd.DataFrame([{"year": y, "drug": "any_opioid", "group": "all", "sex": "both",
                          "measure": "deaths", "value": float(rng.uniform(1e4, 5e4)),
                          "definition": "certified_overdose", "source": "nida_deaths"}
                         for y in YEARS])
    prod = pd.DataFrame([{"country": name, "iso3": iso, "year": y, "measure": m,
                          "value": float(rng.uniform(10, 90) if m == "share_of_world"
                                         else rng.uniform(1000, 8000)),
                          "lower": np.nan, "upper": np.nan, "publisher": "UNODC",
                          "publication": "Synthetic publication <b>A</b> & co",
                          "url": "https://example.org/a", "verified": bool(y % 2),
                          "note": None, "source": "reference_opium_production"}
                         for iso, name, m in (("WLD", "World", "production_t"),
                                              ("AFG", "Afghanistan", "share_of_world"))
                         for y in YEARS[::3]])
    sig = pd.DataFrame([{"destination": "USA", "year": y, "source_region": r,
                         "share_pct": float(rng.uniform(0, 100)), "lower_pct": np.nan,
                         "upper_pct": np.nan, "basis": "by weight",
                         "publication": "Synthetic signature brief", "url": None,
                         "verified": True, "note": None, "source": "reference_heroin_signature"}
                        for y in YEARS[::5] for r in HSP_LABELS])
    return {"gbd_deaths": gbd, "us_deaths_by_drug": nida, "production_measurements": prod,
            "signature_shares": sig}


def diagnostics(rng: np.random.Generator, converged: bool) -> pd.DataFrame:
    rows = [{"variable": v, "size": int(rng.integers(1, 50)),
             "r_hat_max": float(rng.uniform(1.0, 1.009)),
             "ess_bulk_min": float(rng.uniform(500, 2000)),
             "ess_tail_min": float(rng.uniform(500, 2000))} for v in ("mu", "sigma", "beta")]
    if not converged:
        rows[0].update(r_hat_max=1.08, ess_bulk_min=35.0)
    return pd.DataFrame(rows)


def model_record(rng: np.random.Generator, name: str, converged: bool) -> ModelResult:
    diag = diagnostics(rng, converged)
    conv = {"r_hat_max": float(diag["r_hat_max"].max()),
            "ess_bulk_min": float(diag["ess_bulk_min"].min()),
            "ess_tail_min": float(diag["ess_tail_min"].min()),
            "divergences": 0 if converged else 12, "worst_r_hat": "mu", "worst_ess": "mu",
            "converged": converged}
    attrs = {"model_type": name, "model_version": "1", "package_version": "0.1.0",
             "model_config": json.dumps({"prior_sigma": 1.0}),
             "sampler_config": json.dumps({"draws": 50, "chains": 2,
                                           "nuts_sampler": "nutpie", "random_seed": 1}),
             "random_seed": "1", "input_hashes": json.dumps({"gbd_deaths": "0" * 64}),
             "timings": json.dumps({"sample_s": 1.0}), "convergence": json.dumps(conv)}
    n = 40
    obs = rng.lognormal(6, 1, n)
    ppc = pd.DataFrame({"model": name, "variable": "y_obs", "observed": obs,
                        "mean": obs * rng.lognormal(0, 0.1, n),
                        "lower": obs * 0.6, "upper": obs * rng.uniform(0.9, 1.6, n)})
    from burden.plots.checks import ppc_data

    # synthetic LOO-PIT values: uniform (a calibrated model), two sources
    loo_pit = pd.DataFrame({"model": name, "variable": "y_obs",
                            "source": np.where(np.arange(n) < n // 2, "source A", "source B"),
                            "observation": np.arange(n), "pit": rng.uniform(0, 1, n),
                            "pareto_k": rng.uniform(-0.2, 0.8, n)})
    # synthetic sensitivities: random, one flagged row per model
    psense = pd.DataFrame({"model": name, "quantity": ["output A", "output B"],
                           "mean": rng.lognormal(6, 1, 2),
                           "prior_sensitivity": [0.01, 0.09],
                           "likelihood_sensitivity": [0.2, 0.01],
                           "diagnosis": ["ok", "prior-driven (strong prior, weak likelihood)"],
                           "largest_prior": ["level_sd", "trend_sd"],
                           "largest_prior_sensitivity": [0.008, 0.062]})
    return ModelResult(ModelProvenance.from_attrs(name, f"models/{name}.nc", attrs),
                       diagnostics=diag, ppc=ppc_data(ppc), loo_pit=loo_pit,
                       prior_sensitivity=psense)


def synthetic_inputs(seed: int = 0, *, converged: bool = True) -> ReportInputs:
    """Complete synthetic ``ReportInputs``; ``converged=False`` makes one model fail."""
    rng = np.random.default_rng(seed)
    prod_summary, prod_total, _ = production(rng)
    attr, sens = attribution(rng)
    attr = pd.concat([attr, attr.assign(market="World", mean=attr["mean"] * 3,
                                        lower=attr["lower"] * 3, upper=attr["upper"] * 3)],
                     ignore_index=True)
    backtest = pd.DataFrame({"model": np.repeat(["deaths", "production"], 30),
                             "observed": rng.normal(0, 1, 60)})
    backtest["lower"], backtest["upper"] = -1.96, 1.96
    return ReportInputs(
        deaths_summary=deaths_summary(rng), certified_correction=us_correction(rng),
        certified_summary=certified_summary(rng),
        production_summary=prod_summary, production_total=prod_total,
        market_summary=market_summary(rng), attribution_summary=attr, sensitivity=sens,
        # the synthetic attribution's one market, as ``burden summarise`` lists members
        attribution_markets=pd.DataFrame({"market": ["USA"], "location_id": ["USA"],
                                          "location_name": ["United States"]}),
        backtest=backtest, tables=tables(rng),
        models={"deaths": model_record(rng, "deaths", converged),
                "production": model_record(rng, "production", True)},
        synthetic=True)
