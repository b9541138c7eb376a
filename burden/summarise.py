"""Fits -> result tables: the stage between the models and the report.

``summarise(name)`` reads a saved fit (``models/<name>.nc``) and writes every table the
report and users need into ``models/<name>/`` as CSV, each validated against its schema in
``burden.result_schemas``, plus ``manifest.json`` (provenance: configs, seed, input hashes,
timings, convergence status, and the sha256 of every table). The report reads only these
files; it never loads a model.

- deaths: summary at every level, the US correction, diagnostics, posterior predictive check;
- production: summary, world total (sum of draws), usage of every published row,
  diagnostics, posterior predictive check;
- markets: shares by source region with prior-driven flags, route priors, usage,
  diagnostics, posterior predictive check;
- attribution: deaths by market, source and year (and the World) with prior-driven flags,
  the US sensitivity table and the assumptions the attribution used.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr

from burden import attribution, config
from burden.data.fetch import sha256_of
from burden.draws import interval_summary
from burden.fits import FITS, load_fit
from burden.plots.checks import ppc_from_idata
from burden.plots.production import total_from_draws
from burden.registry.keys import NOT_ATTRIBUTED, US, FitStatus
from burden.registry.markets import WORLD_MARKET, region_of
from burden.result_schemas import RESULTS

log = logging.getLogger(__name__)

STEPS = (*FITS, "attribution")
#: the fits attribution multiplies (its status is the worst of theirs)
ATTRIBUTION_FITS = ("deaths", "production", "markets")


def results_dir(name: str, models_dir: Path | None = None) -> Path:
    """Folder of the result tables of ``name`` (beside its saved fit)."""
    return (models_dir or config.models_dir()) / name


def summarise(name: str, models_dir: Path | None = None) -> Path:
    """Write the result tables of ``name`` and its manifest; returns the manifest path."""
    if name not in STEPS:
        raise ValueError(f"unknown step {name!r}; summarise one of {', '.join(STEPS)}")
    models_dir = models_dir or config.models_dir()
    if name == "attribution":
        tables, provenance = _attribution(models_dir)
        source = models_dir / "attribution.nc"
    else:
        est = load_fit(name, models_dir)
        tables = {"deaths": _deaths, "production": _production, "markets": _markets,
                  "certified": _certified}[name](est)
        tables["diagnostics"] = est.diagnostics()
        tables["ppc"] = _ppc(est, name)
        provenance = dict(est.saved_metadata)
        source = FITS[name].path(models_dir)
    return write_results(name, tables, provenance, source, models_dir)


def write_results(name: str, tables: dict[str, pd.DataFrame], provenance: dict[str, Any],
                  source: Path, models_dir: Path) -> Path:
    """Validate and write ``tables`` (every table of ``RESULTS[name]``) and the manifest."""
    out = results_dir(name, models_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for table in RESULTS[name]:
        if table.name not in tables:
            raise ValueError(f"summarise {name}: table {table.name!r} was not produced")
        frame = table.schema.validate(tables[table.name], lazy=True)
        path = out / table.filename
        _atomic(path, lambda p, f=frame: f.to_csv(p, index=False))
        written[table.name] = {"file": table.filename, "rows": len(frame),
                               "sha256": sha256_of(path), "description": table.description}
    status = provenance.get("status") or fit_status(provenance.get("convergence"))
    manifest = {"fit": name, "summarised_utc": datetime.now(UTC).isoformat(timespec="seconds"),
                "source": str(source), "status": str(status), "provenance": provenance,
                "tables": written}
    path = out / "manifest.json"
    _atomic(path, lambda p: p.write_text(json.dumps(manifest, indent=1, default=str)))
    log.info("summarised %s: %d tables in %s (%s)", name, len(written), out, status)
    return path


def fit_status(convergence: dict | None) -> FitStatus:
    if not isinstance(convergence, dict):
        return FitStatus.NOT_CHECKED
    return FitStatus.CONVERGED if convergence.get("converged") else FitStatus.NOT_CONVERGED


def read_manifest(name: str, models_dir: Path | None = None) -> dict[str, Any]:
    path = results_dir(name, models_dir) / "manifest.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run `burden summarise {name}`")
    return json.loads(path.read_text())


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


# ---- per fit --------------------------------------------------------------------------
def _deaths(est) -> dict[str, pd.DataFrame]:
    return {"summary": est.summary(), "us_correction": est.us_correction_summary()}


def _certified(est) -> dict[str, pd.DataFrame]:
    return {"summary": est.summary(), "us_correction": est.us_correction_summary()}


def _production(est) -> dict[str, pd.DataFrame]:
    return {"summary": est.summary(), "total": total_from_draws(est.production_draws()),
            "usage": est.measurement_usage()}


def _markets(est) -> dict[str, pd.DataFrame]:
    return {"summary": est.summary(by="source_region"), "route_priors": est.assumptions(),
            "usage": est.measurement_usage()}


def _ppc(est, name: str) -> pd.DataFrame:
    """Observations beside their posterior predictive intervals (observed variables only:
    bounds entered as Potentials have no predictive draws and are not in this table)."""
    with warnings.catch_warnings():
        # production and markets keep censored bounds as Potentials, which the predictive
        # draws ignore; their point observations are what this table checks
        warnings.filterwarnings("ignore", message="The effect of Potentials")
        pp = est.sample_posterior_predictive()
    tree = xr.DataTree.from_dict({
        "observed_data": est.idata["observed_data"].to_dataset(),
        "posterior_predictive": pp["posterior_predictive"].to_dataset()})
    return ppc_from_idata(tree, name)


# ---- attribution ----------------------------------------------------------------------
def _attribution(models_dir: Path) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    path = models_dir / "attribution.nc"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run `burden attribute`")
    saved = attribution.read_attribution(path)
    a = saved["assumptions"]
    markets = pd.read_csv(results_dir("markets", models_dir) / "summary.csv")
    summary = attribution_summary(saved)
    summary["prior_driven"] = prior_driven_flags(summary, markets, a["manufacture"])
    sensitivity = saved["sensitivity"]
    sensitivity = sensitivity[sensitivity["source"] != NOT_ATTRIBUTED].reset_index(drop=True)
    assumptions = pd.DataFrame([
        {"assumption": "fentanyl manufacture (share by country)",
         "value": json.dumps(a["manufacture"]),
         "note": "not measured: US State Department (INCSR) and DEA (NDTA) reports say "
                 "precursors come mostly from China and manufacture is mostly in Mexico, "
                 "in words; varied in the sensitivity table"},
        {"assumption": "share of heroin-and-fentanyl deaths given to heroin",
         "value": str(a["both_to_heroin"]),
         "note": "which drug caused a death involving both is not recorded"}])
    upstream = [read_manifest(n, models_dir)["status"] for n in ATTRIBUTION_FITS]
    status = next((s for s in (FitStatus.NOT_CONVERGED, FitStatus.NOT_CHECKED)
                   if str(s) in upstream), FitStatus.CONVERGED)
    provenance = {"assumptions": a, "upstream_status": dict(zip(ATTRIBUTION_FITS, upstream)),
                  "status": str(status)}
    return {"summary": summary, "sensitivity": sensitivity,
            "assumptions": assumptions}, provenance


def attribution_summary(saved: dict) -> pd.DataFrame:
    """``market, source, year, mean, lower, upper``: each non-US market, the US (heroin and
    fentanyl chains summed draw by draw; deaths not attributed to an illicit source left
    out) and the World by source."""
    parts = [attribution.attribution_summary(saved["markets"], by=("market",))]
    us = saved["us"].drop_sel(supply_chain="not_attributed", errors="ignore")
    us = us.sum("supply_chain").drop_sel(source=NOT_ATTRIBUTED, errors="ignore")
    parts.append(attribution.attribution_summary(us, by=()).assign(market=US))
    world = saved["world"].drop_sel(source=NOT_ATTRIBUTED, errors="ignore")
    parts.append(interval_summary(world.rename("deaths")).assign(market=WORLD_MARKET))
    frame = pd.concat(parts, ignore_index=True)
    return frame[["market", "source", "year", "mean", "lower", "upper"]].reset_index(
        drop=True)


def prior_driven_flags(summary: pd.DataFrame, markets: pd.DataFrame,
                       fentanyl_manufacture: dict[str, float]) -> list[bool]:
    """Per row of ``summary``: a market's attributable deaths are prior-driven when its
    shares are; in the US, when the source's region share is or when the source gets
    fentanyl deaths (their split is an assumption, ``fentanyl_manufacture``); the World's
    when at least half of its (mean) attributable deaths come from prior-driven markets."""
    market_flag = markets.groupby(["market", "year"])["prior_driven"].all()
    region_flag = markets.set_index(["market", "source_region", "year"])["prior_driven"]

    def flag(market: str, source: str, year: int) -> bool:
        if market == US:
            if source in fentanyl_manufacture:
                return True
            try:
                return bool(region_flag.get((US, region_of(source), year), False))
            except ValueError:
                return False
        return bool(market_flag.get((market, year), False))

    flags = [flag(r.market, r.source, int(r.year)) if r.market != WORLD_MARKET else None
             for r in summary.itertuples()]
    by_market = summary.assign(flag=flags)
    parts = by_market[by_market["market"] != WORLD_MARKET]
    prior_mean = (parts[parts["flag"].astype(bool)].groupby(["source", "year"])["mean"].sum())
    for i, r in enumerate(summary.itertuples()):
        if r.market == WORLD_MARKET:
            share = prior_mean.get((r.source, r.year), 0.0)
            flags[i] = bool(r.mean > 0 and share >= 0.5 * r.mean)
    return [bool(f) for f in flags]
