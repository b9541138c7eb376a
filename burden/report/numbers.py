"""The headline numbers (with intervals and their flags) and the key tables as CSV."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from burden import plots
from burden.plots._common import interval_text
from burden.plots.attribution import by_source_rows
from burden.plots.production import source_names
from burden.registry import estimands
from burden.registry.keys import US, WORLD_ID
from burden.registry.markets import WORLD_MARKET
from burden.report.choices import (
    ReportOptions,
    key_year,
    last_data_year,
    last_us_year,
    latest_year,
    market_or_first,
    region_labels,
)
from burden.report.inputs import ReportInputs


@dataclass
class KeyNumber:
    label: str
    value: str
    prior_driven: bool = False
    note: str = ""
    model: str = ""  # the model it comes from (its convergence status is shown beside it)
    model_status: str = ""


def _prior_driven(rows: pd.DataFrame) -> bool:
    return bool("prior_driven" in rows and rows["prior_driven"].astype(bool).any())


def key_numbers(inp: ReportInputs, opt: ReportOptions) -> list[KeyNumber]:
    """The headline figures, each with its 95% interval and a prior-driven flag."""
    out = []
    ds = inp.deaths_summary
    if ds is not None:
        world = ds[ds["location_level"] == "world"]
        if not world.empty:
            year = last_data_year(inp) or latest_year(world)
            # deaths over the whole population: a crude rate (GBD publishes age-standardised
            # rates, which weigh ages by a standard population and so differ from it)
            rate_label = ("World crude death rate due to opioid use disorders (GBD "
                          "definition), deaths per 100,000 population of all ages (not "
                          "age-standardised, unlike GBD's published rates)")
            # the interval is mostly the GBD revision uncertainty, whose world part rests
            # on one revision (two rounds) and so mostly on a prior (docs/models/deaths.md)
            note = ("interval: mostly GBD's revision uncertainty, whose world part rests "
                    "on one revision and a prior")
            for measure, label, digits in [
                    ("deaths", f"World {estimands.get('gbd_use_disorder').counted_at()}", 0),
                    ("rate_per_100k", rate_label, 2)]:
                row = world[(world["year"] == year) & (world["measure"] == measure)]
                if not row.empty:
                    r = row.iloc[0]
                    out.append(KeyNumber(f"{label}, {year}",
                                         interval_text(r["mean"], r["lower"], r["upper"],
                                                       digits=digits),
                                         _prior_driven(row), note=note, model="deaths"))
    cc = inp.certified_correction
    if cc is not None and not cc.empty:
        # the bounded correction applied to the certified counts (CertifiedDeaths)
        years = cc.loc[cc["series"] == "corrected", "year"]
        cs = inp.certified_summary
        if cs is not None:  # the last year counted in full (not a nowcast)
            full = cs[(cs["series"] == "USA:any_opioid") & cs["data_year"].astype(bool)
                      & ~cs["nowcast"].astype(bool)]["year"]
            years = years[years <= full.max()] if not full.empty else years
        year = int(years.max())
        last = cc[cc["year"] == year].set_index("series")
        r = last.loc["corrected"]
        note = (f"reported: {last.loc['reported', 'mean']:,.0f}"
                if "reported" in last.index else "")
        counted = estimands.get("certified_overdose").counted_at(US)
        out.append(KeyNumber(f"US {counted}, corrected for certificates that name no drug, "
                             f"{year}",
                             interval_text(r["mean"], r["lower"], r["upper"]),
                             _prior_driven(last.loc[["corrected"]]), note=note,
                             model="certified"))
    cs = inp.certified_summary
    if cs is not None:
        for series, place in (("USA:any_opioid", "US"), ("CAN:any_opioid", "Canada")):
            rows = cs[(cs["series"] == series) & cs["data_year"].astype(bool)
                      & ~cs["nowcast"].astype(bool)]
            now = cs[(cs["series"] == series) & cs["nowcast"].astype(bool)]
            nowcast_note = "nowcast: counts still being reported"
            for frame, note in ((rows, ""), (now.head(1), nowcast_note)):
                if frame.empty:
                    continue
                r = frame.sort_values("year").iloc[-1]
                # the deaths counted where this series is published (Canada: PHAC's
                # apparent opioid toxicity deaths, not certificates; registry.estimands)
                what = estimands.get(r["definition"]).counted_at(r["location_id"])
                out.append(KeyNumber(
                    f"{place} {what}, {int(r['year'])}",
                    interval_text(r["mean"], r["lower"], r["upper"]),
                    note=note, model="certified"))
    ps = inp.production_summary
    if ps is not None:
        names = source_names(inp.tables.get("production_measurements"))
        world = ps[(ps["measure"] == "production_t") & (ps["source"] == WORLD_ID)]
        if inp.production_total is not None:
            world = inp.production_total
        if not world.empty:
            year = latest_year(world)
            r = world[world["year"] == year].iloc[0]
            out.append(KeyNumber(f"World opium production (tonnes), {year}",
                                 interval_text(r["mean"], r["lower"], r["upper"]),
                                 model="production"))
        share = ps[ps["measure"] == "share"]
        if not share.empty:
            year = latest_year(share)
            r = share[share["year"] == year].sort_values("mean").iloc[-1]
            name = names.get(r["source"], r["source"])
            out.append(KeyNumber(
                f"Largest opium source's share of world production, {year}: {name}",
                interval_text(r["mean"], r["lower"], r["upper"], percent=True),
                _prior_driven(share[(share["year"] == year) & (share["source"] == r["source"])]
                              ), model="production"))
    ms = inp.market_summary
    if ms is not None:
        market = market_or_first(ms, opt.market)
        key = "source_region" if "source_region" in ms else "source"
        rows = ms[(ms["market"] == market) & ms["mean"].notna()]
        year = key_year(rows, last_us_year(inp) if market == US else last_data_year(inp))
        rows = rows[rows["year"] == year].sort_values("mean")
        r = rows.iloc[-1]
        label = region_labels().get(r[key], str(r[key]).replace("_", " ").capitalize())
        out.append(KeyNumber(f"Largest source of {market} heroin, {year}: {label}",
                             interval_text(r["mean"], r["lower"], r["upper"], percent=True),
                             bool(r.get("prior_driven", False)), model="markets"))
    at = inp.attribution_summary
    if at is not None:
        # from the world table by source: each source over all supply chains, the
        # not-attributed and total rows left out; the definition named in the label
        names = source_names(inp.tables.get("production_measurements"))
        definitions = _definition_names()
        for market in dict.fromkeys([market_or_first(at, opt.market), WORLD_MARKET]):
            rows = by_source_rows(at)
            rows = rows[(rows["market"] == market) & rows["mean"].notna()]
            if rows.empty:
                continue
            year = key_year(rows, last_us_year(inp) if market == US
                             else last_data_year(inp))
            rows = rows[rows["year"] == year].sort_values("mean")
            r = rows.iloc[-1]
            what = definitions.get(r.get("definition"), "opioid deaths")
            out.append(KeyNumber(
                f"{market} {what} attributable to "
                f"{names.get(r['source'], r['source'])} (its illicit opiate and illicit "
                f"synthetic chains together), {year}",
                interval_text(r["mean"], r["lower"], r["upper"]),
                bool(r.get("prior_driven", False)), model="attribution"))
    status = {name: m.provenance.status for name, m in inp.models.items()}
    # attribution multiplies the fits' draws: summarise gives it the worst of their statuses
    if inp.attribution_status is not None:
        status["attribution"] = inp.attribution_status
    for number in out:
        number.model_status = status.get(number.model, "")
    return out


def _definition_names() -> dict[str, str]:
    """Definition id -> how a headline names the deaths it counts (registry.estimands)."""
    return {d.id: d.counted_at() for d in estimands.DEFINITIONS.values()}


def write_tables(inp: ReportInputs, numbers: list[KeyNumber], out_dir: Path
                 ) -> dict[str, str]:
    """The key result tables as CSV; returns {name: relative path}."""
    frames = {
        "key_numbers": pd.DataFrame([n.__dict__ for n in numbers]),
        "deaths_summary": inp.deaths_summary, "us_correction": inp.certified_correction,
        "production_summary": inp.production_summary,
        "production_total": inp.production_total, "market_shares": inp.market_summary,
        "attribution": inp.attribution_summary, "sensitivity": inp.sensitivity,
        "convergence": convergence_table(inp),
        "prior_sensitivity": prior_sensitivity_table(inp),
    }
    written = {}
    (out_dir / "tables").mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        if frame is not None and not frame.empty:
            frame.to_csv(out_dir / "tables" / f"{name}.csv", index=False)
            written[name] = f"tables/{name}.csv"
    return written


def prior_sensitivity_table(inp: ReportInputs) -> pd.DataFrame | None:
    """Every model's power-scaling sensitivity rows (flagged rows first)."""
    frames = [m.prior_sensitivity for m in inp.models.values()
              if m.prior_sensitivity is not None and not m.prior_sensitivity.empty]
    if not frames:
        return None
    table = pd.concat(frames, ignore_index=True)
    return table.assign(flagged=table["diagnosis"] != "ok").sort_values(
        "flagged", ascending=False, kind="stable").reset_index(drop=True)


def convergence_table(inp: ReportInputs) -> pd.DataFrame | None:
    diags = {n: m.diagnostics for n, m in inp.models.items() if m.diagnostics is not None}
    return plots.convergence_data(diags) if diags else None
