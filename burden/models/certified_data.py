"""Inputs of ``CertifiedDeaths``: certified opioid-involved overdose deaths of the US (by drug)
and Canada, aligned on a year grid, with every count kept as a measurement of its source.

One job: select, check and align. The US counts come from two publishers' series:

- final NCHS counts by drug (``us_deaths_by_drug``, NIDA's table, 1999-2019);
- the VSRR provisional 12-month-ending counts (``us_provisional_national``, Jan 2015 - Apr
  2025): the December value of each year is that calendar year; months marked
  "underreported due to incomplete data" give a lower bound (the count can only grow) and
  the publisher's predicted value (adjusted for delayed reporting) as a nowcast; the last
  month's 12-month window ending in April 2025 covers 8 months of 2024 and 4 of 2025.

Canada: PHAC annual counts of apparent opioid toxicity deaths (``canada_opioid_deaths``),
2016-2024, and 2025 January-September (9 of 12 months).

Every choice that leaves rows out is written to ``notes``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: Series modelled: US any-opioid and T-code groups (overlapping: one death can involve
#: several), Canada any-opioid. Final NCHS counts (NIDA's table, 1999-2019) give heroin
#: (T40.1), prescription opioids (T40.2-T40.3 together) and synthetic opioids other than
#: methadone (T40.4); VSRR gives those and T40.2 and T40.3 apart, from 2015 only.
US_DRUGS = ("any_opioid", "heroin", "rx_opioids", "natural_semisynthetic_opioids",
            "methadone", "synthetic_opioids")
NCHS_DRUGS = ("any_opioid", "heroin", "rx_opioids", "synthetic_opioids")
US_ANY = "USA:any_opioid"
CAN_ANY = "CAN:any_opioid"
SERIES = tuple(f"USA:{d}" for d in US_DRUGS) + (CAN_ANY,)
#: Percent of overdose deaths with at least one drug specified (VSRR indicator).
PCT_SPECIFIED = "percent_specified"
ALL_OVERDOSE = "all_overdose"


@dataclass
class CertifiedInputs:
    """Aligned arrays. ``years`` run ``first_year..last_year``; a measurement row ``i`` of
    kind k observes ``sum_j weight[i, j] * deaths[series[i], year j]``."""

    years: np.ndarray
    series: tuple[str, ...]
    obs: pd.DataFrame  # one row per measurement (see ``measurement_table``)
    weights: np.ndarray  # (n_obs, n_years): share of each year in the observed window
    unspecified: pd.DataFrame  # year, all_overdose, percent_specified, unspecified
    last_data_year: dict[str, int]
    notes: list[str] = field(default_factory=list)


def _nchs(table: pd.DataFrame, last_year: int | None) -> pd.DataFrame:
    t = table[(table["group"] == "all") & (table["sex"] == "both")
              & (table["measure"] == "deaths") & table["drug"].isin(NCHS_DRUGS)]
    if last_year is not None:
        t = t[t["year"] <= last_year]
    missing = sorted(set(NCHS_DRUGS) - set(t["drug"]))
    if missing:
        raise ValueError(f"us_deaths_by_drug lacks drugs {missing} (both sexes, all, deaths)")
    return pd.DataFrame({"series": "USA:" + t["drug"], "year": t["year"].astype(int),
                         "end_month": 12, "value": t["value"].astype(float),
                         "kind": "count", "source": "nchs_final"})


def _vsrr(table: pd.DataFrame, last_year: int | None, notes: list[str]
          ) -> tuple[pd.DataFrame, pd.DataFrame]:
    t = table[table["location_id"] == "US"]
    if last_year is not None:
        t = t[t["year"] <= last_year]
    rows = []
    drugs = t[t["indicator"].isin(US_DRUGS)]
    last = drugs.sort_values(["year", "month"]).iloc[-1][["year", "month"]] if len(drugs) else None
    for r in drugs.itertuples():
        december = r.month == 12
        latest = last is not None and (r.year, r.month) == (last["year"], last["month"])
        if not (december or latest):
            continue
        series = f"USA:{r.indicator}"
        if r.underreported:
            # the count can only grow as records arrive: reported is a lower bound, the
            # publisher's adjusted (predicted) value a nowcast
            rows.append({"series": series, "year": r.year, "end_month": r.month,
                         "value": float(r.value), "kind": "lower_bound", "source": "vsrr"})
            if pd.notna(r.predicted_value):
                rows.append({"series": series, "year": r.year, "end_month": r.month,
                             "value": float(r.predicted_value), "kind": "nowcast",
                             "source": "vsrr"})
        elif pd.notna(r.value):
            rows.append({"series": series, "year": r.year, "end_month": r.month,
                         "value": float(r.value), "kind": "count", "source": "vsrr"})
    skipped = int(len(drugs) - sum(1 for r in drugs.itertuples()
                                   if r.month == 12 or (last is not None and (r.year, r.month)
                                                        == (last["year"], last["month"]))))
    if skipped:
        notes.append(f"us_provisional_national: {skipped} rows of 12-month windows ending in "
                     "months other than December (and the latest month) left out: they "
                     "overlap the December windows")
    dec = t[(t["month"] == 12) & t["indicator"].isin([PCT_SPECIFIED, ALL_OVERDOSE])]
    wide = dec.pivot_table(index="year", columns="indicator", values="value")
    unspecified = pd.DataFrame(columns=["year", ALL_OVERDOSE, PCT_SPECIFIED, "unspecified"])
    if {PCT_SPECIFIED, ALL_OVERDOSE} <= set(wide.columns):
        wide = wide.dropna()
        unspecified = pd.DataFrame({
            "year": wide.index.astype(int), ALL_OVERDOSE: wide[ALL_OVERDOSE].to_numpy(),
            PCT_SPECIFIED: wide[PCT_SPECIFIED].to_numpy(),
            "unspecified": wide[ALL_OVERDOSE].to_numpy()
            * (1 - wide[PCT_SPECIFIED].to_numpy() / 100)})
    return pd.DataFrame(rows), unspecified


def _canada(table: pd.DataFrame, last_year: int | None, notes: list[str]) -> pd.DataFrame:
    t = table[(table["location_id"] == "CAN") & (table["measure"] == "deaths")
              & (table["category"] == "all_opioids") & (table["unit"] == "number")
              & table["quarter"].isna()]
    if last_year is not None:
        t = t[t["year"] <= last_year]
    missing = t["value"].isna()
    if missing.any():
        notes.append(f"canada_opioid_deaths: {int(missing.sum())} Canada annual counts "
                     "missing (suppressed or not available) left out")
        t = t[~missing]
    return pd.DataFrame({"series": CAN_ANY, "year": t["year"].astype(int),
                         "end_month": t["period_end_month"].astype(int),
                         "value": t["value"].astype(float), "kind": "count",
                         "source": "phac"})


def window_weights(year: np.ndarray, end_month: np.ndarray, years: np.ndarray,
                   months_observed: np.ndarray | None = None) -> np.ndarray:
    """(n_obs, n_years) share of each calendar year's deaths in an observed count: a
    12-month window ending in ``end_month`` of ``year`` takes ``end_month/12`` of that year
    and the rest of the year before; a year-to-date count (``months_observed``) takes
    ``end_month/12`` of its own year only (months spread evenly: an assumption)."""
    out = np.zeros((len(year), len(years)))
    pos = {int(y): i for i, y in enumerate(years)}
    for i, (y, m) in enumerate(zip(year, end_month)):
        out[i, pos[int(y)]] = m / 12
        if (months_observed is None or not months_observed[i]) and m < 12:
            if int(y) - 1 not in pos:
                raise ValueError(f"window ending {y}-{m:02d} reaches before {years[0]}")
            out[i, pos[int(y) - 1]] = 1 - m / 12
    return out


def prepare_inputs(data: dict[str, pd.DataFrame], *, first_year: int, last_year: int,
                   last_data_year: int | None = None) -> CertifiedInputs:
    """Measurements of every series on the grid ``first_year..last_year``."""
    notes: list[str] = []
    nchs = _nchs(data["us_deaths_by_drug"], last_data_year)
    vsrr, unspecified = _vsrr(data["us_provisional_national"], last_data_year, notes)
    can = _canada(data["canada_opioid_deaths"], last_data_year, notes)
    obs = pd.concat([nchs, vsrr, can], ignore_index=True)
    obs = obs[(obs["year"] >= first_year) & (obs["year"] <= last_year)].reset_index(drop=True)
    bad = obs[(obs["value"] <= 0) & (obs["kind"] != "lower_bound")]
    if len(bad):
        raise ValueError(f"non-positive certified counts: {bad.head().to_dict('records')}")
    years = np.arange(first_year, last_year + 1)
    partial = (obs["source"] == "phac").to_numpy() & (obs["end_month"] < 12).to_numpy()
    weights = window_weights(obs["year"].to_numpy(), obs["end_month"].to_numpy(), years,
                             months_observed=partial)
    last = {s: int(obs.loc[obs["series"] == s, "year"].max()) for s in SERIES
            if (obs["series"] == s).any()}
    if US_ANY not in last:
        raise ValueError(f"no certified counts of {US_ANY} up to {last_data_year}")
    absent = [s for s in SERIES if s not in last]
    if absent:
        notes.append(f"no certified counts for {absent} (up to {last_data_year}): those "
                     "series are not modelled in this fit")
    series = tuple(s for s in SERIES if s in last)
    return CertifiedInputs(years=years, series=series, obs=obs, weights=weights,
                           unspecified=unspecified, last_data_year=last, notes=notes)


def initial_levels(inp: CertifiedInputs) -> dict[str, np.ndarray]:
    """Starting values of each series' latent walk, from its own full-year counts: log
    deaths (US any-opioid, Canada) or the logit of the drug's share of US any-opioid deaths,
    per year from the series' first count, gaps filled from the nearest year. Used only to
    start the sampler near the data (a start at the prior centre is ~10^4 deaths off)."""
    full = inp.obs[(inp.obs["kind"].isin(["count", "nowcast"]))
                   & (inp.weights.max(axis=1) == 1.0)]
    by_year = full.groupby(["series", "year"])["value"].mean()
    out = {}
    for s in inp.series:
        first = int(inp.obs.loc[inp.obs["series"] == s, "year"].min())
        years = inp.years[inp.years >= first]
        values = by_year.get(s, pd.Series(dtype=float)).reindex(years)
        if s != US_ANY and s.startswith("USA:"):
            any_op = by_year.get(US_ANY, pd.Series(dtype=float)).reindex(years)
            share = (values / any_op).clip(0.005, 0.995)
            level = np.log(share / (1 - share))
        else:
            level = np.log(values)
        filled = level.interpolate(limit_direction="both").to_numpy(float)
        # a small fixed wiggle: a start with exactly zero curvature (years without counts)
        # has exactly zero gradient there, and nutpie sizes its first mass matrix from the
        # gradient ("bad initial gradient" in the back-test fits)
        out[s] = filled + 0.01 * np.random.default_rng(len(out)).standard_normal(len(filled))
    return out
