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
    attribution_year,
    last_data_year,
    latest_year,
    market_or_first,
    region_labels,
)
from burden.report.inputs import ReportInputs


@dataclass
class KeyNumber:
    label: str
    value: str
    #: the number as a whole comes mostly from prior assumptions (its summary row's
    #: ``prior_driven``: the posterior interval not much narrower than the prior's); None
    #: where its summary table has no such flag (not assessed)
    prior_driven: bool | None = False
    note: str = ""
    model: str = ""  # the model it comes from (its convergence status is shown beside it)
    model_status: str = ""
    #: the result table it is read from (a name of ``write_tables``)
    table: str = ""
    #: the published figures to compare it with, and the registry ids of their sources
    #: (comma-separated)
    published: str = ""
    published_source: str = ""
    #: the power-scaling diagnosis of the same output in the prior sensitivity table
    #: ("" where that table does not check it), and its two sensitivities
    prior_sensitivity: str = ""
    prior_sensitivity_detail: str = ""
    #: which part of the number comes from a prior or an assumption, where only a part does
    prior_part: str = ""


def _prior_driven(rows: pd.DataFrame) -> bool | None:
    if "prior_driven" not in rows:
        return None
    return bool(rows["prior_driven"].astype(bool).any())


def _sensitivity(inp: ReportInputs, model: str, quantity: str) -> dict[str, str]:
    """The prior sensitivity table's diagnosis of ``quantity`` (named as
    ``burden.validate.prior_sensitivity.HEADLINES`` names it) and its two sensitivities, as
    ``KeyNumber`` fields; empty when the table does not check it."""
    fit = inp.models.get(model)
    table = fit.prior_sensitivity if fit is not None else None
    if table is None or table.empty:
        return {}
    rows = table[table["quantity"] == quantity]
    if rows.empty:
        return {}
    r = rows.iloc[0]
    return {"prior_sensitivity": str(r["diagnosis"]),
            "prior_sensitivity_detail": (
                f"{quantity}: prior sensitivity {r['prior_sensitivity']:.3f}, likelihood "
                f"sensitivity {r['likelihood_sensitivity']:.3f}; largest single prior: "
                f"{largest_prior_text(r)}")}


#: the largest single prior of a prior sensitivity table written before its columns were
NOT_COMPUTED = "not computed"


def largest_prior_text(row) -> str:
    """The configured prior whose own power-scaling moves an output most, with that
    sensitivity ("round_bias_sd (0.038)"), from a prior sensitivity row (a Series or a
    dict); ``NOT_COMPUTED`` where the row lacks it (a table written before the columns)."""
    name, value = row.get("largest_prior"), row.get("largest_prior_sensitivity")
    if name is None or value is None or pd.isna(name) or pd.isna(value):
        return NOT_COMPUTED
    return f"{name} ({value:.3f})"


def published_gbd(inp: ReportInputs, location_id: str, year: int) -> dict | None:
    """The latest GBD round's published deaths due to opioid use disorders for a place and
    year in the processed ``gbd_deaths`` table (the rounds the deaths model measures), and
    the last revision there: the latest year two rounds both publish, with each round's
    value. None when the table lacks the place-year or its round."""
    from burden.models.deaths_data import GBD_CAUSE

    gbd = inp.tables.get("gbd_deaths")
    if gbd is None or "gbd_round" not in gbd:
        return None
    rows = gbd[(gbd["location_id"] == location_id) & (gbd["cause"] == GBD_CAUSE)
               & (gbd["measure"] == "deaths")]
    at = rows[rows["year"] == year]
    if at.empty:
        return None
    latest = at.loc[at["gbd_round"].idxmax()]
    out = {"round": int(latest["gbd_round"]), "year": int(year),
           "value": float(latest["value"]), "source": str(latest["source"])}
    rounds = sorted(rows["gbd_round"].unique())[-2:]
    if len(rounds) == 2:
        old, new = (rows[rows["gbd_round"] == r].set_index("year")["value"] for r in rounds)
        common = old.index.intersection(new.index)
        if len(common):
            y = int(common.max())
            source = rows.set_index(["gbd_round", "year"])["source"]
            out["revision"] = {"year": y, "rounds": [int(r) for r in rounds],
                               "values": [float(old[y]), float(new[y])],
                               "sources": [str(source[(r, y)]) for r in rounds]}
    return out


def _published_text(pub: dict) -> str:
    text = f"GBD {pub['round']} round published {pub['value']:,.0f} for {pub['year']}"
    rev = pub.get("revision")
    if rev:
        (a, b), (va, vb) = rev["rounds"], rev["values"]
        text += (f"; for {rev['year']}, the GBD {a} round published {va:,.0f} and the GBD "
                 f"{b} round {vb:,.0f}")
    return text


def _gbd_estimand_note(r: pd.Series) -> str:
    """One plain sentence on what a GBD-definition number estimates and why its interval is
    wide (docs/models/deaths.md, "GBD rounds as measurements")."""
    text = ("This estimates what GBD's rounds publish for this place and year on average "
            "(their centre), not any one round's figure; its 95% interval is wide because it "
            "includes how far a new GBD round may revise the figure")
    if r["upper"] - r["mean"] > r["mean"] - r["lower"]:
        text += ", and reaches further above the mean than below it"
    return text + "."


#: the part of a GBD-definition death count's interval that a prior sets: the scale of the
#: bias every country of a GBD round shares (docs/validation/checks.md: the level and width
#: of world and US deaths rest in part on it)
REVISION_PRIOR = (
    "how far a new GBD round may revise {what}: two rounds show a single revision, so this "
    "part of the interval's width rests mostly on a prior (round_bias_sd, the scale of a "
    "bias every country of a round shares; docs/models/deaths.md, \"GBD rounds as "
    "measurements\")")


def key_numbers(inp: ReportInputs, opt: ReportOptions) -> list[KeyNumber]:
    """The headline figures, each with its 95% interval, its source table and its flags."""
    out = []
    gbd_counted = estimands.get("gbd_use_disorder").counted_at()
    ds = inp.deaths_summary
    if ds is not None:
        world = ds[ds["location_level"] == "world"]
        # GBD's last data year, the last one with a published GBD value beside the number
        # (the US curve is carried further by certified counts: not a projection there)
        year = last_data_year(inp) or latest_year(ds)
        # deaths over the whole population: a crude rate (GBD publishes age-standardised
        # rates, which weigh ages by a standard population and so differ from it)
        rate_label = (f"World crude death rate {gbd_counted.removeprefix('deaths ')}, "
                      "deaths per 100,000 population of all ages (not age-standardised, "
                      "unlike GBD's published rates)")
        country = ds[(ds["location_level"] == "country") & (ds["location_id"] == opt.market)]
        places = [(world, WORLD_ID, "World", "deaths", gbd_counted, 0),
                  (world, WORLD_ID, "World", "rate_per_100k", rate_label, 2)]
        if not country.empty:
            places.append((country, opt.market, str(country["location_name"].iloc[0]),
                           "deaths", gbd_counted, 0))
        for rows, place, name, measure, what, digits in places:
            row = rows[(rows["year"] == year) & (rows["measure"] == measure)]
            if row.empty:
                continue
            r = row.iloc[0]
            label = what if measure == "rate_per_100k" else f"{name} {what}"
            # the rate is the same draws over a fixed population: the deaths' diagnosis
            quantity = (f"World deaths {year}" if place == WORLD_ID
                        else f"{place} deaths {year} (GBD definition)")
            pub = published_gbd(inp, place, year) if measure == "deaths" else None
            note = (_gbd_estimand_note(r) if measure == "deaths" else
                    "The world deaths above over the world's population: the same "
                    "estimand, interval and flags.")
            out.append(KeyNumber(
                f"{label}, {year}",
                interval_text(r["mean"], r["lower"], r["upper"], digits=digits),
                _prior_driven(row), note=note, model="deaths",
                table="deaths_summary", published=_published_text(pub) if pub else "",
                published_source=", ".join(dict.fromkeys(
                    [pub["source"], *pub.get("revision", {}).get("sources", [])])) if pub
                else "",
                prior_part=REVISION_PRIOR.format(
                    what="the world total" if place == WORLD_ID else f"the {name} total"),
                **_sensitivity(inp, "deaths", quantity)))
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
        counted = estimands.get("certified_overdose").counted_at(US)
        number = KeyNumber(f"US {counted}, corrected for certificates that name no drug, "
                           f"{year}", interval_text(r["mean"], r["lower"], r["upper"]),
                           _prior_driven(last.loc[["corrected"]]), model="certified",
                           table="us_correction")
        if {"reported", "imputed"} <= set(last.index):
            # corrected = the certified count + a share of the deaths whose certificate
            # names no drug; only that share is a prior (docs/models/certified.md)
            rep, imp = last.loc["reported"], last.loc["imputed"]
            unspecified = (f" the {last.loc['unspecified', 'mean']:,.0f}"
                           if "unspecified" in last.index else "")
            number.note = (f"counted on certificates: "
                           f"{interval_text(rep['mean'], rep['lower'], rep['upper'])}; "
                           f"added, the opioid share of{unspecified} overdose deaths whose "
                           f"certificate names no drug: "
                           f"{interval_text(imp['mean'], imp['lower'], imp['upper'])}")
            number.prior_driven = bool(_prior_driven(last.loc[["reported"]]))
            number.prior_part = (
                f"only the added {imp['mean']:,.0f} ({imp['mean'] / r['mean']:.0%} of the "
                f"mean): no data here say what share of the deaths whose certificate names "
                f"no drug involved an opioid, so that share is its prior "
                f"(docs/models/certified.md)")
        out.append(number)
    cs = inp.certified_summary
    if cs is not None:
        for series, place in (("USA:any_opioid", "US"), ("CAN:any_opioid", "Canada")):
            rows = cs[(cs["series"] == series) & cs["data_year"].astype(bool)
                      & ~cs["nowcast"].astype(bool)]
            now = cs[(cs["series"] == series) & cs["nowcast"].astype(bool)]
            # a whole year's estimate from the part counted so far (PHAC 2025: January to
            # September; VSRR 2025: to April), not a count
            nowcast_note = ("nowcast: the whole year estimated from the months counted so "
                            "far; counts still being reported")
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
                    note=note, model="certified", table="certified_summary",
                    **_sensitivity(inp, "certified", f"{series} deaths {int(r['year'])}")))
    ps = inp.production_summary
    if ps is not None:
        names = source_names(inp.tables.get("production_measurements"))
        world = ps[(ps["measure"] == "production_t") & (ps["source"] == WORLD_ID)]
        table = "production_summary"
        if inp.production_total is not None:
            world, table = inp.production_total, "production_total"
        if not world.empty:
            year = latest_year(world)
            r = world[world["year"] == year].iloc[0]
            out.append(KeyNumber(f"World opium production (tonnes), {year}",
                                 interval_text(r["mean"], r["lower"], r["upper"]),
                                 model="production", table=table,
                                 **_sensitivity(inp, "production",
                                                f"World production {year} (t)")))
        share = ps[ps["measure"] == "share"]
        if not share.empty:
            year = latest_year(share)
            r = share[share["year"] == year].sort_values("mean").iloc[-1]
            name = names.get(r["source"], r["source"])
            out.append(KeyNumber(
                f"Largest opium source's share of world production, {year}: {name}",
                interval_text(r["mean"], r["lower"], r["upper"], percent=True),
                _prior_driven(share[(share["year"] == year) & (share["source"] == r["source"])]
                              ), model="production", table="production_summary"))
    ms = inp.market_summary
    if ms is not None:
        market = market_or_first(ms, opt.market)
        key = "source_region" if "source_region" in ms else "source"
        rows = ms[(ms["market"] == market) & ms["mean"].notna()]
        year = attribution_year(inp, rows, market)
        rows = rows[rows["year"] == year].sort_values("mean")
        r = rows.iloc[-1]
        label = region_labels().get(r[key], str(r[key]).replace("_", " ").capitalize())
        sig = inp.tables.get("signature_shares")
        measured = sig[sig["destination"] == market]["year"] if sig is not None else None
        last = int(measured.max()) if measured is not None and not measured.empty else None
        out.append(KeyNumber(f"Largest source of {market} heroin, {year}: {label}",
                             interval_text(r["mean"], r["lower"], r["upper"], percent=True),
                             bool(r.get("prior_driven", False)), model="markets",
                             table="market_shares",
                             note=(f"the DEA Heroin Signature Program's last published year "
                                   f"is {last}: this year's shares are the model's, carried "
                                   f"on from the years it measured" if last and last < year
                                   else "")))
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
            year = attribution_year(inp, rows, market)
            rows = rows[rows["year"] == year].sort_values("mean")
            r = rows.iloc[-1]
            what = definitions.get(r.get("definition"), "opioid deaths")
            # a part of the deaths model's deaths: its estimand and revision uncertainty
            note = ("A part of the GBD-definition deaths above: the same estimand (the "
                    "centre of GBD's rounds, not a round's figure), whose revision "
                    "uncertainty its interval carries, split by source under the stated "
                    "assumptions." if r.get("definition") == "gbd_use_disorder" else "")
            out.append(KeyNumber(
                f"{market} {what} attributable to "
                f"{names.get(r['source'], r['source'])} (its illicit opiate and illicit "
                f"synthetic chains together), {year}",
                interval_text(r["mean"], r["lower"], r["upper"]),
                bool(r.get("prior_driven", False)), note=note, model="attribution",
                table="attribution"))
    status = {name: m.provenance.status for name, m in inp.models.items()}
    # attribution multiplies the fits' draws: summarise gives it the worst of their statuses
    if inp.attribution_status is not None:
        status["attribution"] = inp.attribution_status
    for number in out:
        number.model_status = status.get(number.model, "")
    return out


#: the assumption columns of the attribution's sensitivity table
#: (``summarise.sensitivity_summary``: each scenario's value as stored, a number fixed for
#: the scenario or the prior drawn per posterior draw) and how the page heads them
SCENARIO_COLUMNS = {
    "fentanyl_manufacture": ("Illicit synthetic opioids of the US and Canada: the share "
                             "made in Mexico (MEX), the rest in China (CHN)"),
    "both_to_opiate": ("Deaths involving both an illicit opiate and an illicit synthetic: "
                       "the share given to the opiate"),
}


def scenario_table(inp: ReportInputs, opt: ReportOptions, top: int = 3) -> dict | None:
    """The scenarios of the attribution's sensitivity table, defined by the assumption
    values stored with them, with the deaths attributable to the ``top`` sources (largest
    in the first scenario) in the year and market of the sensitivity figure; None without
    the table."""
    sens = inp.sensitivity
    if sens is None or sens.empty:
        return None
    market = market_or_first(sens, opt.market)
    rows = sens[(sens["market"] == market) & sens["mean"].notna()]
    year = attribution_year(inp, rows, market)
    rows = rows[rows["year"] == year]
    scenarios = list(dict.fromkeys(rows["scenario"]))
    first = rows[rows["scenario"] == scenarios[0]].sort_values("mean", ascending=False)
    sources = first["source"].head(top).tolist()
    names = source_names(inp.tables.get("production_measurements"))
    columns = [c for c in SCENARIO_COLUMNS if c in rows]
    out = []
    for scenario in scenarios:
        sub = rows[rows["scenario"] == scenario].set_index("source")
        out.append({"scenario": scenario,
                    "assumptions": [str(sub[c].iloc[0]) for c in columns],
                    "deaths": [interval_text(sub.loc[s, "mean"], sub.loc[s, "lower"],
                                             sub.loc[s, "upper"]) if s in sub.index else ""
                               for s in sources]})
    definition = str(rows["definition"].iloc[0]) if "definition" in rows else ""
    what = (estimands.get(definition).counted_at() if definition in estimands.DEFINITIONS
            else "opioid deaths")
    return {"market": market, "year": year, "what": what,
            "columns": [SCENARIO_COLUMNS[c] for c in columns],
            "sources": [names.get(s, s) for s in sources], "rows": out}


def _definition_names() -> dict[str, str]:
    """Definition id -> how a headline names the deaths it counts (registry.estimands)."""
    return {d.id: d.counted_at() for d in estimands.DEFINITIONS.values()}


def write_tables(inp: ReportInputs, numbers: list[KeyNumber], out_dir: Path
                 ) -> dict[str, str]:
    """The key result tables as CSV; returns {name: relative path}."""
    frames = {
        "key_numbers": pd.DataFrame([n.__dict__ for n in numbers]),
        "deaths_summary": inp.deaths_summary, "us_correction": inp.certified_correction,
        "certified_summary": inp.certified_summary,
        "composition_summary": inp.composition_summary,
        "production_summary": inp.production_summary,
        "production_total": inp.production_total, "market_shares": inp.market_summary,
        "attribution": inp.attribution_summary, "sensitivity": inp.sensitivity,
        "attribution_markets": inp.attribution_markets,
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


#: the prior sensitivity columns that tables written before 2026-12-07 lack
LARGEST_PRIOR_COLUMNS = ("largest_prior", "largest_prior_sensitivity")


def prior_sensitivity_table(inp: ReportInputs) -> pd.DataFrame | None:
    """Every model's power-scaling sensitivity rows (flagged rows first), with the
    ``LARGEST_PRIOR_COLUMNS`` empty where a model's table predates them."""
    frames = [m.prior_sensitivity for m in inp.models.values()
              if m.prior_sensitivity is not None and not m.prior_sensitivity.empty]
    if not frames:
        return None
    table = pd.concat(frames, ignore_index=True)
    # tables written before the largest-prior columns lack them: empty (not computed)
    missing = {c: None for c in LARGEST_PRIOR_COLUMNS if c not in table}
    return table.assign(**missing, flagged=table["diagnosis"] != "ok").sort_values(
        "flagged", ascending=False, kind="stable").reset_index(drop=True)


def convergence_table(inp: ReportInputs) -> pd.DataFrame | None:
    diags = {n: m.diagnostics for n, m in inp.models.items() if m.diagnostics is not None}
    return plots.convergence_data(diags) if diags else None
