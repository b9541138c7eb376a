"""Read the result tables that ``burden summarise`` wrote (``models/<fit>/*.csv`` and
``manifest.json``) and the processed tables into ``ReportInputs``.

The report never loads a model: every number it shows is in a validated result table.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from burden.report.backtests import read_backtests
from burden.report.inputs import ModelResult, ReportInputs
from burden.report.provenance import ModelProvenance, shown_path
from burden.report.sbc import read_sbc_runs
from burden.result_schemas import RESULTS
from burden.table_checks import validate_table

#: Fits whose result tables the report reads, and the ReportInputs field of each table.
FIELDS: dict[str, dict[str, str]] = {
    "deaths": {"summary": "deaths_summary"},
    "production": {"summary": "production_summary", "total": "production_total"},
    "markets": {"summary": "market_summary"},
    "certified": {"summary": "certified_summary", "us_correction": "certified_correction"},
    # its shares enter the page through attribution (their table is written beside the
    # page); its checks are shown like every fit's
    "composition": {"summary": "composition_summary"},
    "attribution": {"summary": "attribution_summary", "sensitivity": "sensitivity",
                    "markets": "attribution_markets"},
}
MODEL_FITS = ("deaths", "production", "markets", "certified", "composition")


def read_tables(processed_dir: Path) -> dict[str, pd.DataFrame]:
    """Every processed table present in ``processed_dir`` (parquet), by name."""
    from burden.data.schemas import TABLES

    return {name: pd.read_parquet(processed_dir / t.filename) for name, t in TABLES.items()
            if (processed_dir / t.filename).exists()}


def read_results(name: str, folder: Path) -> tuple[dict, dict[str, pd.DataFrame]]:
    """(manifest, {table: frame}) of one summarised fit, each table validated."""
    manifest = json.loads((folder / "manifest.json").read_text())
    frames = {}
    for table in RESULTS[name]:
        path = folder / table.filename
        if not path.exists():
            raise FileNotFoundError(f"{path} not found: rerun `burden summarise {name}`")
        frames[table.name] = validate_table(table.schema, pd.read_csv(path),
                                            f"result table {path}")
    return manifest, frames


def collect_inputs(models_dir: Path, processed_dir: Path, *, raw_dir: Path | None = None,
                   backtest: Path | None = None) -> ReportInputs:
    """Read the summarised results and processed tables into ``ReportInputs``.

    A missing result folder is recorded in ``missing`` (the report shows it); tables that
    exist but fail their schema raise, so a broken result is never silently left out.
    """
    inp = ReportInputs(raw_dir=raw_dir)
    project = Path(models_dir).parent  # paths on the page are shown relative to it

    def shown(path: str | Path) -> str:
        return shown_path(path, project)

    inp.tables = read_tables(processed_dir)
    if not inp.tables:
        inp.missing["tables"] = f"no processed tables in {shown(processed_dir)}"
    for name, fields in FIELDS.items():
        folder = models_dir / name
        if not (folder / "manifest.json").exists():
            inp.missing[f"{name} results"] = (f"{shown(folder)}/manifest.json not found "
                                               f"(run `burden summarise {name}`)")
            continue
        manifest, frames = read_results(name, folder)
        stale = stale_source(manifest, models_dir)
        if stale:
            inp.notes[f"{name} results"] = stale
        for table, field_name in fields.items():
            setattr(inp, field_name, frames[table])
        if name in MODEL_FITS:
            prov = ModelProvenance.from_attrs(name, shown(manifest["source"]),
                                              manifest["provenance"])
            inp.models[name] = ModelResult(provenance=prov,
                                           diagnostics=frames["diagnostics"],
                                           ppc=frames["ppc"],
                                           loo_pit=frames["loo_pit"],
                                           prior_sensitivity=frames["prior_sensitivity"])
        if name == "markets":
            inp.assumptions["Route priors of markets without signature data"] = (
                frames["route_priors"])
        if name == "attribution":
            inp.assumptions["Attribution assumptions (as used)"] = frames["assumptions"]
            inp.assumptions["Markets the attribution sums"] = markets_shown(
                frames["markets"])
            inp.attribution_status = manifest["status"]
    inp.backtests = read_backtests(models_dir)
    inp.sbc = read_sbc_runs(models_dir)
    if backtest is not None:
        if backtest.exists():
            inp.backtest = backtest_table(pd.read_csv(backtest))
        else:
            inp.missing["back-test"] = f"{shown(backtest)} not found"
    return inp


#: a market of at most this many countries is listed by name on the page
MARKET_NAMES_LISTED = 5


def markets_shown(members: pd.DataFrame) -> pd.DataFrame:
    """The page's table of the attribution's markets: ``market, countries`` (how many, and
    their names when few; the full list is the written table ``attribution_markets``)."""
    rows = []
    for market, group in members.groupby("market", sort=True):
        names = group["location_name"].astype(str).tolist()
        shown = (", ".join(names) if len(names) <= MARKET_NAMES_LISTED
                 else f"{len(names)} countries (tables/attribution_markets.csv)")
        rows.append({"market": market, "countries": shown})
    return pd.DataFrame(rows, columns=["market", "countries"])


def stale_source(manifest: dict, models_dir: Path) -> str | None:
    """Why a result folder no longer describes the saved fit beside it (``models_dir`` /
    the manifest's source file name), or None: the fit there is the one summarised, or
    the manifest predates the hash (2026-12-07), or the fit is gone."""
    from burden.data.fetch import sha256_of

    recorded = manifest.get("source_sha256")
    path = models_dir / Path(manifest["source"]).name
    if not recorded or not path.exists() or sha256_of(path) == recorded:
        return None
    return (f"these tables were written from another {path.name} than the one in "
            f"{shown_path(models_dir, Path(models_dir).parent)} now (fitted again after "
            f"them): run `burden summarise {manifest['fit']}` for tables of the fit there")


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
