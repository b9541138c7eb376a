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
- every model fit: LOO-PIT and Pareto k per observation with its data source, and the
  power-scaling prior sensitivity of its headline outputs;
- attribution: deaths by market, source and year (and the World) with prior-driven flags,
  the US sensitivity table and the assumptions the attribution used.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr

from burden import attribution, config
from burden.data.fetch import sha256_of
from burden.draws import interval_summary, total_from_draws
from burden.fits import FITS, load_fit
from burden.models.markets_data import seizure_evidence
from burden.registry.keys import NOT_ATTRIBUTED, US, FitStatus
from burden.registry.markets import WORLD_MARKET, region_of
from burden.result_schemas import RESULTS
from burden.table_checks import validate_table
from burden.validate.log_density import log_densities
from burden.validate.loo_pit import loo_pit_table
from burden.validate.ppc import ppc_from_idata
from burden.validate.prior_sensitivity import configured_priors, prior_sensitivity_table

log = logging.getLogger(__name__)

STEPS = (*FITS, "attribution")
#: the fits attribution multiplies (its status is the worst of theirs)
ATTRIBUTION_FITS = ("deaths", "production", "markets", "composition")


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
                  "certified": _certified, "composition": _composition}[name](est)
        tables["diagnostics"] = est.diagnostics()
        thin = checks_thin(est)
        predictive = _posterior_predictive(est, thin)
        tables["ppc"] = _ppc(est, name, predictive)
        densities = log_densities(est, est.idata["posterior"].to_dataset(),
                                  {"likelihood": None, "prior": configured_priors(est)})
        loglik = densities["likelihood"]
        tables["loo_pit"] = loo_pit_table(
            est, name, predictive, loglik=loglik.isel(draw=slice(None, None, thin)))
        tables["prior_sensitivity"] = prior_sensitivity_table(
            est, name, loglik, logprior=densities["prior"])
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
        path = out / table.filename
        frame = validate_table(table.schema, tables[table.name],
                               f"summarise {name}: result table {table.name!r} ({path})")
        _atomic(path, lambda p, f=frame: f.to_csv(p, index=False))
        written[table.name] = {"file": table.filename, "rows": len(frame),
                               "sha256": sha256_of(path), "description": table.description}
    status = provenance.get("status") or fit_status(provenance.get("convergence"))
    manifest = {"fit": name, "summarised_utc": datetime.now(UTC).isoformat(timespec="seconds"),
                "source": str(source),
                # the saved fit these tables describe: the report warns when the file there
                # now is another (a `burden fit` run after them, without --write-results)
                "source_sha256": sha256_of(source) if Path(source).exists() else None,
                "status": str(status), "provenance": provenance, "tables": written}
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
    return {"summary": est.summary()}


def _certified(est) -> dict[str, pd.DataFrame]:
    return {"summary": est.summary(), "us_correction": est.us_correction_summary()}


def _production(est) -> dict[str, pd.DataFrame]:
    return {"summary": est.summary(), "total": total_from_draws(est.production_draws()),
            "usage": est.measurement_usage()}


def _markets(est) -> dict[str, pd.DataFrame]:
    # UNODC seizures beside each route prior: what they can and cannot say about it
    # (markets_data.seizure_evidence); without the processed table the columns are empty
    seizures_path = config.processed_dir() / "drug_seizures.parquet"
    seizures = pd.read_parquet(seizures_path) if seizures_path.exists() else None
    routes = est.assumptions().merge(seizure_evidence(seizures), on="market", how="left")
    return {"summary": est.summary(by="source_region"), "route_priors": routes,
            "usage": est.measurement_usage()}


def _composition(est) -> dict[str, pd.DataFrame]:
    return {"summary": est.summary(), "usage": est.measurement_usage()}


#: the predictive checks (in-sample intervals, LOO-PIT) use at most about this many
#: posterior draws, every k-th of each chain (the deaths model's 6,000 draws then, 2,400 now, of 5,000
#: observations took 22 s of predictive draws and 34 s of PSIS and LOO-PIT, cProfile of
#: `burden summarise deaths` at load ~3, 2026-11-30; docs/performance.md). A choice, not
#: a measured need: tests/test_loo_pit.py checks LOO-PIT from thinned draws against the
#: exact leave-one-out predictive
CHECK_DRAWS = 2000


def checks_thin(est) -> int:
    """Every how many draws of each chain the predictive checks keep (``CHECK_DRAWS``)."""
    post = est.idata["posterior"]
    total = int(post.sizes["chain"]) * int(post.sizes["draw"])
    return max(1, -(-total // CHECK_DRAWS))


def _posterior_predictive(est, thin: int = 1) -> xr.Dataset:
    """Posterior predictive draws of every observed variable (censored bounds included:
    they are ``pm.Censored``, whose predictive draws are clipped at the bound), at every
    ``thin``-th draw."""
    # a model with Potentials raises: its predictive draws would be invalid
    return est.sample_posterior_predictive(thin=thin)["posterior_predictive"].to_dataset()


def _ppc(est, name: str, predictive: xr.Dataset) -> pd.DataFrame:
    """Observations beside their in-sample posterior predictive intervals."""
    tree = xr.DataTree.from_dict({
        "observed_data": est.idata["observed_data"].to_dataset(),
        "posterior_predictive": predictive})
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
    summary["prior_driven"] = prior_driven_flags(summary, markets, saved["prior_driven"])
    # years after the deaths fit's last GBD year are its forecast, and so is every
    # figure built on them (the deaths summary's own flag, by year)
    deaths_path = results_dir("deaths", models_dir) / "summary.csv"
    if not deaths_path.exists():
        raise FileNotFoundError(f"{deaths_path} not found (the attribution's projected "
                                "years are the deaths fit's): run `burden summarise deaths`")
    deaths = pd.read_csv(deaths_path, usecols=["location_id", "location_name",
                                               "location_level", "year", "projected"])
    summary["projected"] = projected_by_market(summary, deaths)
    members = market_members_table(saved["market_members"], deaths, path)
    sensitivity = sensitivity_summary(saved)
    from burden.registry.markets import SYNTHETIC_CHAIN

    assumptions = pd.DataFrame([
        {"assumption": "deaths attributed (definition)", "value": saved["definition"],
         "note": "the deaths model's target: GBD deaths due to opioid use disorders, not "
                 "certificate opioid-involved overdose deaths (burden.registry.estimands)"},
        {"assumption": "illicit synthetic opioids of USA and CAN made in Mexico (share; "
                       "rest China)", "value": a["mexico_share"],
         "note": f"{SYNTHETIC_CHAIN.statement} ({SYNTHETIC_CHAIN.citation}); drawn per "
                 "posterior draw, varied in the sensitivity table"},
        {"assumption": "share of deaths involving both an illicit opiate and an illicit "
                       "synthetic given to the opiate", "value": a["both_to_opiate"],
         "note": "which drug caused a death involving both is not recorded: uniform, drawn "
                 "per posterior draw"},
        {"assumption": "illicit synthetic deaths outside USA and CAN",
         "value": "unidentified_synthetic",
         "note": "no cited supply chain: attributed to an illicit source, source not named"},
        {"assumption": "drug mix of GBD deaths in USA and CAN",
         "value": "the certified deaths' mix",
         "note": "the composition fit's shares of each drug group come from death-"
                 "certificate counts (NCHS multiple cause of death, T-codes, to 2019; CDC "
                 "VSRR provisional counts after, VSRR's predicted values where it flags "
                 "underreporting; PHAC apparent opioid toxicity deaths) and are applied to "
                 "GBD opioid use-disorder deaths, another estimand: assumed to have the same "
                 "mix"},
        {"assumption": "US deaths involving both heroin and a synthetic opioid after 2019 "
                       "(share of heroin deaths)",
         "value": "Uniform(NIDA 2019's share, 1)",
         "note": "VSRR does not count them: one share per posterior draw, shared by the "
                 "years, between NIDA 2019's (8,746 of 14,019 heroin deaths) and all; the "
                 "share rose every year from 2011 to 2019 (docs/models/composition.md, "
                 "\"Measured blocks\")"},
        {"assumption": "US T40.4 deaths before the illicit-fentanyl era",
         "value": "pharmaceutical at the 2010-2012 level",
         "note": "composition fit: T40.4 deaths up to the 2010-2012 baseline are "
                 "pharmaceutical (not attributed) in every year (CDC, Gladden et al., MMWR "
                 "2016;65:837-843)"}])
    upstream = [read_manifest(n, models_dir)["status"] for n in ATTRIBUTION_FITS]
    status = next((s for s in (FitStatus.NOT_CONVERGED, FitStatus.NOT_CHECKED)
                   if str(s) in upstream), FitStatus.CONVERGED)
    provenance = {"assumptions": a, "definition": saved["definition"],
                  "upstream_status": dict(zip(ATTRIBUTION_FITS, upstream)),
                  "status": str(status)}
    return {"summary": summary, "sensitivity": sensitivity, "assumptions": assumptions,
            "markets": members}, provenance


def market_members_table(members: dict[str, list[str]], deaths: pd.DataFrame,
                         path: Path) -> pd.DataFrame:
    """``market, location_id, location_name``: the countries each market sums, from the
    attribution file (``members``: market -> ISO3), named from the deaths summary (the
    ISO3 code where it has no name). A market region holds only the countries that are
    not markets of their own (the registry's North America is Greenland alone: the USA,
    Canada and Mexico are markets). A file written before the members were stored
    (2026-12-07) gives an empty ``members``: they are then taken from the location
    registry for the deaths summary's countries, with a warning."""
    countries = deaths.loc[deaths["location_level"] == "country"].drop_duplicates(
        "location_id")
    if not members:
        import warnings

        from burden.attribution import market_members
        from burden.registry.markets import market_of

        warnings.warn(f"{path} does not store its markets' countries (written before "
                      "2026-12-07): taken from the location registry; `burden attribute` "
                      "stores those the attribution used", UserWarning, stacklevel=2)
        members = market_members({c: market_of(c) for c in countries["location_id"]})
    names = countries.set_index("location_id")["location_name"]
    rows = [{"market": m, "location_id": loc,
             "location_name": names.get(loc) if isinstance(names.get(loc), str) else loc}
            for m, locs in members.items() for loc in locs]
    return pd.DataFrame(rows, columns=["market", "location_id", "location_name"])


#: the natural (supply chain, source) pairs of the world table (others are 0 by
#: construction and left out of the summary)
def _natural(table: xr.DataArray) -> list[tuple[str, str]]:
    from burden.registry.keys import SYNTHETIC_UNIDENTIFIED
    from burden.registry.markets import OPIUM_SOURCES, SYNTHETIC_SOURCES

    pairs = ([("illicit_opiate", s) for s in OPIUM_SOURCES]
             + [("illicit_synthetic", s) for s in (*SYNTHETIC_SOURCES,
                                                   SYNTHETIC_UNIDENTIFIED)]
             + [("not_attributed", NOT_ATTRIBUTED)])
    sources = set(table["source"].values.tolist())
    return [p for p in pairs if p[1] in sources]


def projected_by_market(summary: pd.DataFrame, deaths: pd.DataFrame) -> pd.Series:
    """The deaths summary's ``projected`` flag for each row of ``summary`` (by ``market``
    and ``year``): a market that is one country takes that country's flags (the US is
    projected only after its last certified count), any other the years projected
    anywhere (after GBD's last data year)."""
    flags = deaths.assign(year=deaths["year"].astype(int),
                          projected=deaths["projected"].astype(bool))
    anywhere = set(flags.loc[flags["projected"], "year"])
    # one flag per country-year (the summary has a row per measure)
    country = flags[flags["location_level"] == "country"].groupby(
        ["location_id", "year"])["projected"].any()
    years = summary["year"].astype(int)
    own = pd.Series([country.get((m, y)) for m, y in zip(summary["market"], years)],
                    index=summary.index, dtype=object)
    return own.where(own.notna(), years.isin(anywhere)).astype(bool)


def attribution_summary(saved: dict) -> pd.DataFrame:
    """The world table by source: ``definition, market, supply_chain, source, year, mean,
    lower, upper`` for every market and the World: each chain's sources, the not-attributed
    rows (source ``none``), each source over all chains (``supply_chain`` ``all``) and the
    total of every source and chain (source ``total``, = the deaths estimate); every
    figure a summary of draw-by-draw sums."""
    world = saved["world"]
    parts = []
    for chain, source in _natural(world):
        draws = world.sel(supply_chain=chain, source=source, drop=True)
        parts.append(interval_summary(draws.rename("deaths")).assign(
            supply_chain=chain, source=source))
    by_source = world.sum("supply_chain")
    parts.append(interval_summary(by_source.rename("deaths")).assign(supply_chain="all"))
    total = world.sum(["supply_chain", "source"])
    parts.append(interval_summary(total.rename("deaths")).assign(supply_chain="all",
                                                                  source="total"))
    frame = pd.concat(parts, ignore_index=True)
    frame["definition"] = saved["definition"]
    return frame[["definition", "market", "supply_chain", "source", "year", "mean", "lower",
                  "upper"]].reset_index(drop=True)


def prior_driven_flags(summary: pd.DataFrame, markets: pd.DataFrame,
                       composition_prior: xr.DataArray) -> list[bool]:
    """Per row of ``summary``: a market's row is prior-driven when the composition of at
    least half of its deaths is (``composition_prior``: fraction by market and year), and
    also: opiate rows when the market's opiate shares are (the US: the source's region; a
    market the markets fit gives no shares of its own, or a source outside the regions
    it names, takes world production in proportion, an assumption: prior-driven),
    synthetic rows always (the split by source is a prior); totals never (the deaths
    estimate itself). The World's rows when at least half of their mean comes from
    prior-driven market rows."""
    market_flag = markets.groupby(["market", "year"])["prior_driven"].all()
    region_flag = markets.set_index(["market", "source_region", "year"])["prior_driven"]
    comp = composition_prior.to_series()

    def flag(r) -> bool:
        if r.source == "total":
            return False
        comp_flag = bool(comp.get((r.market, r.year), 1.0) >= 0.5)
        if r.supply_chain == "illicit_synthetic":
            return True
        if r.supply_chain == "not_attributed":
            return comp_flag
        if r.market == US:
            try:
                shares = bool(region_flag.get((US, region_of(r.source), r.year), True))
            except ValueError:
                shares = True
        else:
            shares = bool(market_flag.get((r.market, r.year), True))
        return comp_flag or shares

    frame = summary.assign(year=summary["year"].astype(int))
    flags: list = [None] * len(frame)
    rows = list(frame.itertuples(index=False))
    for i, r in enumerate(rows):
        if r.market != WORLD_MARKET and r.supply_chain != "all":
            flags[i] = flag(r)
    chains = frame.assign(flag=flags)
    chains = chains[(chains["market"] != WORLD_MARKET) & (chains["supply_chain"] != "all")]
    any_chain = chains.groupby(["market", "source", "year"])["flag"].any()
    for i, r in enumerate(rows):
        if r.market != WORLD_MARKET and r.supply_chain == "all":
            flags[i] = False if r.source == "total" else bool(
                any_chain.get((r.market, r.source, r.year), False))
    by_market = frame.assign(flag=flags)
    parts = by_market[by_market["market"] != WORLD_MARKET]
    prior_mean = (parts[parts["flag"].astype(bool)]
                  .groupby(["supply_chain", "source", "year"])["mean"].sum())
    for i, r in enumerate(rows):
        if r.market == WORLD_MARKET:
            share = prior_mean.get((r.supply_chain, r.source, r.year), 0.0)
            flags[i] = bool(r.source != "total" and r.mean > 0 and share >= 0.5 * r.mean)
    return [bool(f) for f in flags]


def sensitivity_summary(saved: dict) -> pd.DataFrame:
    """US attributable deaths by source (both chains summed draw by draw; not attributed
    left out) under each scenario, with the scenario's assumptions as columns
    (``both_to_opiate``: the share of deaths involving both an illicit opiate and an
    illicit synthetic given to the opiate, fixed or the prior drawn per draw)."""
    scen = saved["scenarios"].sel(market=US, drop=True).sum("supply_chain")
    scen = scen.drop_sel(source=NOT_ATTRIBUTED, errors="ignore")
    frames = []
    for name in scen["scenario"].values.tolist():
        desc = saved["scenario_assumptions"][name]
        frame = interval_summary(scen.sel(scenario=name, drop=True).rename("deaths"))
        # the scenario's assumptions as stored: a fixed value, or the prior drawn per
        # posterior draw ("Beta(1, 1)"), not its mean as if it were fixed
        frame = frame.assign(scenario=name, market=US,
                             fentanyl_manufacture=f"MEX share {desc['mexico_share']}, "
                                                  "rest CHN",
                             both_to_opiate=str(desc["both_to_opiate"]))
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    # a source-year with deaths in some draw of some scenario keeps its row in every
    # scenario (a scenario that gives it none shows 0, not a missing mark; one that gives
    # it deaths in under 2.5% of the draws shows upper 0 < mean)
    some = out.groupby(["source", "year"])["mean"].transform("max") > 0
    out = out[some].reset_index(drop=True)
    out["definition"] = saved["definition"]
    return out[["scenario", "market", "source", "year", "mean", "lower", "upper",
                "fentanyl_manufacture", "both_to_opiate", "definition"]]
