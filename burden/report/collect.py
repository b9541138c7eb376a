"""Read the saved models, the attribution file and the processed tables into
``ReportInputs``, through each model's own API (summaries, draws, diagnostics)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from burden.plots.checks import ppc_from_idata
from burden.plots.production import total_from_draws
from burden.report.inputs import ModelResult, ReportInputs
from burden.report.provenance import ModelProvenance

DEATH_LEVELS = ("world", "super_region", "region", "country")


def model_result(name: str, path: str | Path, estimator: Any) -> ModelResult:
    """Provenance, diagnostics and (if saved) posterior predictive checks of a model."""
    prov = ModelProvenance.from_attrs(name, path, dict(estimator.idata.attrs))
    ppc = None
    if "posterior_predictive" in estimator.idata and "observed_data" in estimator.idata:
        ppc = ppc_from_idata(estimator.idata, name)
    return ModelResult(provenance=prov, diagnostics=estimator.diagnostics(), ppc=ppc)


def deaths_inputs(estimator: Any) -> dict[str, pd.DataFrame]:
    """Summaries of a fitted ``OpioidDeaths`` at every level, and the US correction."""
    summary = pd.concat([estimator.summary(level=lvl) for lvl in DEATH_LEVELS],
                        ignore_index=True)
    return {"deaths_summary": summary, "us_correction": estimator.us_correction_summary()}


def production_inputs(estimator: Any) -> dict[str, pd.DataFrame]:
    """Summary of a fitted ``OpiumProduction`` and the world total from its draws."""
    return {"production_summary": estimator.summary(),
            "production_total": total_from_draws(estimator.production_draws())}


#: Saved models the report reads: name -> (file under models/, module, class).
MODEL_FILES = {
    "deaths": ("deaths.nc", "burden.models.deaths", "OpioidDeaths"),
    "production": ("production.nc", "burden.models.production", "OpiumProduction"),
    "markets": ("markets.nc", "burden.models.markets", "MarketShares"),
}


def read_tables(processed_dir: Path) -> dict[str, pd.DataFrame]:
    """Every processed table present in ``processed_dir`` (parquet), by name."""
    from burden.data.schemas import TABLES

    return {name: pd.read_parquet(processed_dir / t.filename) for name, t in TABLES.items()
            if (processed_dir / t.filename).exists()}


def load_model(name: str, path: Path) -> Any:
    """Load a saved model with its own class (``MODEL_FILES``)."""
    import importlib

    _, module, cls = MODEL_FILES[name]
    return getattr(importlib.import_module(module), cls).load(path)


def with_posterior_predictive(estimator: Any) -> Any:
    """Add posterior predictive draws to a loaded model that was saved without them."""
    import xarray as xr

    if "posterior_predictive" not in estimator.idata:
        pp = estimator.sample_posterior_predictive()
        estimator.idata["posterior_predictive"] = xr.DataTree(
            dataset=pp["posterior_predictive"].to_dataset())
    return estimator


def collect_inputs(models_dir: Path, processed_dir: Path, *, raw_dir: Path | None = None,
                   backtest: Path | None = None, ppc: bool = True) -> ReportInputs:
    """Read the saved models and processed tables into ``ReportInputs``.

    A missing file is recorded in ``missing`` (the report shows it); a file that exists but
    fails to load raises, so a broken model is never silently left out.
    """
    inp = ReportInputs(raw_dir=raw_dir)
    inp.tables = read_tables(processed_dir)
    if not inp.tables:
        inp.missing["tables"] = f"no processed tables in {processed_dir}"
    loaded: dict[str, Any] = {}
    for name, (filename, _, _) in MODEL_FILES.items():
        path = models_dir / filename
        if not path.exists():
            inp.missing[f"{name} model"] = f"{path} not found"
            continue
        est = load_model(name, path)
        if ppc:
            try:
                est = with_posterior_predictive(est)
            except Exception as err:  # noqa: BLE001 - shown in the report, not hidden
                inp.notes[f"{name} posterior predictive check"] = (
                    f"{type(err).__name__}: {err}")
        inp.models[name] = model_result(name, path, est)
        if name == "deaths":
            for key, frame in deaths_inputs(est).items():
                setattr(inp, key, frame)
        elif name == "production":
            for key, frame in production_inputs(est).items():
                setattr(inp, key, frame)
        elif name == "markets":
            inp.market_summary = est.summary(by="source_region")
            inp.assumptions["Route priors of markets without signature data"] = (
                est.assumptions())
        loaded[name] = est
    _collect_attribution(inp, models_dir, loaded)
    if backtest is not None:
        if backtest.exists():
            inp.backtest = backtest_table(pd.read_csv(backtest))
        else:
            inp.missing["back-test"] = f"{backtest} not found"
    return inp


#: Central interval of analysis/backtest_deaths.py (its 5th and 95th percentiles), used
#: when its scored table carries no ``nominal`` column.
DEATHS_BACKTEST_LEVEL = 0.90


def backtest_table(frame: pd.DataFrame) -> pd.DataFrame:
    """A back-test table in the long form ``backtest_coverage_data`` reads.

    Accepts that form (``model, observed, lower, upper``) or the scored table of
    analysis/backtest_deaths.py (``year, value, latent_lower/upper, predictive_lower/upper``),
    which becomes one group per interval kind and held-out year.
    """
    if {"model", "observed", "lower", "upper"} <= set(frame.columns):
        return frame
    kinds = [k for k in ("latent", "predictive") if f"{k}_lower" in frame]
    if not kinds or "value" not in frame:
        raise ValueError("back-test table: expected columns model, observed, lower, upper "
                         f"or the scored table of analysis/backtest_deaths.py; found "
                         f"{list(frame.columns)}")
    nominal = frame.get("nominal", DEATHS_BACKTEST_LEVEL)
    return pd.concat([pd.DataFrame({
        "model": f"deaths, {kind}, " + frame["year"].astype(str), "observed": frame["value"],
        "lower": frame[f"{kind}_lower"], "upper": frame[f"{kind}_upper"], "nominal": nominal})
        for kind in kinds], ignore_index=True)


def _collect_attribution(inp: ReportInputs, models_dir: Path, loaded: dict[str, Any]
                         ) -> None:
    """Attribution tables from models/attribution.nc; the sensitivity table is recomputed
    from the deaths and markets fits (``attribution.sensitivity_table``)."""
    path = models_dir / "attribution.nc"
    if not path.exists():
        inp.missing["attribution"] = f"{path} not found"
        return
    inp.attribution_summary = attribution_summary_from_file(path)
    if "deaths" not in loaded or "markets" not in loaded:
        inp.notes["attribution sensitivity"] = "needs the deaths and markets models"
        return
    inp.assumptions["US fentanyl scenarios (sensitivity)"] = fentanyl_scenarios()
    try:
        inp.sensitivity = us_sensitivity(loaded["deaths"], loaded["markets"])
    except ValueError as err:  # shown in the report, not hidden
        inp.notes["attribution sensitivity"] = f"{type(err).__name__}: {err}"


#: Market label of the world totals in the attribution summary.
WORLD_MARKET = "World"


def attribution_summary_from_file(path: Path) -> pd.DataFrame:
    """``market, source, year, mean, lower, upper`` from a saved attribution file: each
    non-US market, the US (heroin and fentanyl supply chains summed, draw by draw; deaths
    not attributed to an illicit source left out) and the world by source."""
    import xarray as xr

    from burden import attribution

    with xr.open_dataset(path) as saved:
        ds = saved.load()
    # "none" (US deaths not attributed to an illicit source) is not a source; in the other
    # variables it exists only as NaN from aligning the file's variables
    not_source = {"source": "none", "errors": "ignore"}
    parts = [attribution.attribution_summary(
        ds["attributable_deaths"].drop_sel(**not_source), by=("market",))]
    if "us_attributable_deaths" in ds:
        us = ds["us_attributable_deaths"]
        # years with no US deaths at all in any draw are years without US data (filled
        # with zeros when the file aligned its years), not years with zero deaths
        has_data = (us.sum(["supply_chain", "source"]) > 0).any(["chain", "draw"])
        us = us.sel(year=us["year"][has_data.values])
        us = us.drop_sel(supply_chain="not_attributed", errors="ignore")
        us = us.sum("supply_chain").drop_sel(source="none", errors="ignore")
        parts.append(attribution.attribution_summary(us, by=()).assign(market="USA"))
    if "world_by_source" in ds:
        parts.append(attribution.attribution_summary(
            ds["world_by_source"].drop_sel(**not_source), by=()).assign(market=WORLD_MARKET))
    frame = pd.concat(parts, ignore_index=True)
    frame = frame[frame["source"] != "none"]  # "none" (not attributed) is not a source
    return frame[["market", "source", "year", "mean", "lower", "upper"]].reset_index(
        drop=True)


def fentanyl_scenarios() -> pd.DataFrame:
    """The assumption scenarios of ``attribution.sensitivity_table``, one row each."""
    from burden import attribution

    return pd.DataFrame([{"scenario": name, "fentanyl manufacture": str(a.manufacture),
                          "share of heroin+fentanyl deaths given to heroin": a.both_to_heroin}
                         for name, a in attribution.DEFAULT_SCENARIOS.items()])


def us_sensitivity(deaths: Any, markets: Any) -> pd.DataFrame:
    """``attribution.sensitivity_table`` for the US, with the inputs
    ``attribution.attribute_from_saved`` uses (corrected US deaths by drug, US heroin
    shares, the heroin-synthetic overlap from the NIDA table when the draws lack it)."""
    from burden import attribution

    us_drugs = deaths.us_drug_deaths_draws(corrected=True)
    overlap = None
    if attribution.OVERLAP_DRUG not in us_drugs["drug"].values:
        overlap = attribution.overlap_from_nida(deaths.data["us_deaths_by_drug"])
        us_drugs = us_drugs.sel(year=[y for y in us_drugs.year.values
                                      if y in overlap.year.values])
    table = attribution.sensitivity_table(us_drugs, markets.share_draws("USA"),
                                          overlap_fraction=overlap)
    return table[table["source"] != "none"].reset_index(drop=True)
