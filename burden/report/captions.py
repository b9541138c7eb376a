"""Captions of the deaths figures, written from what each figure draws (its data twin):
which GBD rounds and which certified counts are points, which years are shaded and why."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from burden.plots._common import CERTIFIED_ONLY, PROJECTION
from burden.plots.deaths import (
    CERTIFIED,
    FINAL,
    GBD,
    PREDICTED,
    PROVISIONAL,
    SUMMED,
)
from burden.registry import estimands
from burden.registry.keys import CANADA, US

#: how a caption names GBD's published values at each level of a deaths figure
WHAT = {"world": "world totals", "super_region": "super-region totals",
        "region": "region totals", "country": "country values"}


def _rounds(rounds: Sequence[int]) -> str:
    names = [f"GBD {r}" for r in sorted(rounds)]
    return " and ".join(names) if len(names) < 3 else ", ".join(names)


def _span(years: pd.Series) -> str:
    first, last = int(years.min()), int(years.max())
    return str(first) if first == last else f"{first}–{last}"


def certified_estimands() -> str:
    """The sentence of the certified figure naming the deaths each panel counts: the US's
    certificates and Canada's PHAC investigations are different estimands
    (``registry.estimands``), and neither is GBD's."""
    counted = estimands.get(CERTIFIED)
    return (f"In the US, {counted.counted_at(US)}; in Canada, {counted.counted_at(CANADA)}; "
            "neither is GBD's estimand.")


def deaths_caption(data: pd.DataFrame, *, what: str, rounds: Sequence[int],
                   round_of: Mapping[str, int], last_data_year: int | None) -> str:
    """The caption of a deaths figure drawn from ``data`` (``deaths_over_time_data``):
    ``what`` names GBD's values at its level (``WHAT``), ``rounds`` the GBD rounds the
    deaths fit used, ``round_of`` the round of each GBD source id."""
    rate = data["measure"].iloc[0] == "rate_per_100k"
    counted, by = estimands.get(GBD).title_parts()
    head = (f"{counted} per 100,000 population (crude rate, {by})" if rate
            else estimands.get(GBD).name)
    text = [(f"{head}, the deaths model's estimand: posterior mean (line) and 95% "
             "interval (band).")]
    obs = data[data["layer"] == "observed"]
    gbd = obs[obs["definition"] == GBD]
    published = gbd[gbd["value_type"] != SUMMED]
    summed = gbd[gbd["value_type"] == SUMMED]
    drawn = sorted({int(round_of[s]) for s in published["source"] if s in round_of})
    added = sorted({int(round_of[s]) for s in summed["source"] if s in round_of})
    if len(gbd):
        fitted = ("the model is fitted to them, each round a measurement with its own bias"
                  if what == WHAT["country"] else
                  "the model is fitted to the rounds' country values, each round with its "
                  "own bias, and sums its countries")
        each = ", one marker per round" if len(drawn) + len(added) > 1 else ""
        shown = [f"GBD's published {what} of {_rounds(drawn)}"] if drawn else []
        if added:
            shown.append(f"hollow, {_rounds(added)}'s country values summed over the "
                         f"countries of each (its {what} are not in the files read)")
        text.append(f"Points: {'; '.join(shown)}{each}; {fitted}, so the line need not "
                    "pass through the points.")
        text += _rounds_apart(data, published, summed, round_of)
        missing = sorted(set(rounds) - set(drawn) - set(added))
        if missing:
            text.append(f"The files read hold no {what} of {_rounds(missing)}, the other "
                        "round fitted.")
    cert = obs[obs["definition"] == CERTIFIED]
    if len(cert):
        where = ", ".join(dict.fromkeys(cert["location_name"].astype(str)))
        text.append(f"{'In' if len(gbd) else 'Points: in'} {where}, deaths with any opioid "
                    "on the death certificate: another estimand (certified overdose "
                    f"deaths), which differs from GBD's by design; {_certified(cert)}.")
    if obs.empty:
        text.append("No points: GBD publishes age-standardised rates, not comparable with "
                    "these crude rates." if rate else
                    f"No points: the files read hold no GBD {what}.")
    est = data[data["layer"] == "estimate"]
    projected = est[est["period"] == PROJECTION]
    if len(projected):
        after = f" ({last_data_year})" if last_data_year is not None else ""
        carried = est[est["period"] == CERTIFIED_ONLY]
        where = " (where not hatched)" if len(carried) else ""
        text.append(f"Grey{where}: {_span(projected['year'])}, after GBD's last data "
                    f"year{after}: projection, no data.")
    carried = est[est["period"] == CERTIFIED_ONLY]
    for name, rows in carried.groupby("location_name", sort=False):
        text.append(f"Hatched ({name}): {_span(rows['year'])}, no GBD data: the curve "
                    "follows the certified counts (NCHS final, VSRR December) through the "
                    "ratio of the two definitions (docs/models/deaths.md, \"After GBD's last "
                    "data year\").")
    return " ".join(text)


def _count(value: float) -> str:
    return f"{value:,.0f}"


def _certified(cert: pd.DataFrame) -> str:
    """What the certified points are: NCHS final counts and VSRR's provisional counts (the
    December 12-month-ending values the deaths fit reads), years and kinds from ``cert``."""
    parts = []
    final = cert[cert["value_type"] == FINAL]
    if len(final):
        parts.append(f"NCHS final counts ({_span(final['year'])})")
    vsrr = cert[cert["value_type"].isin([PROVISIONAL, PREDICTED])]
    if len(vsrr):
        text = (f"CDC VSRR provisional counts, 12 months ending December "
                f"({_span(vsrr['year'])}), as the deaths fit reads them")
        predicted = vsrr[vsrr["value_type"] == PREDICTED]
        if len(predicted):
            which = "; ".join(f"{int(r.year)}: {_count(r.mean)}, reported "
                              f"{_count(r.reported_value)}"
                              for r in predicted.sort_values("year").itertuples())
            text += (" (hollow: VSRR flags the count underreported; drawn at VSRR's "
                     f"predicted value, {which})")
        parts.append(text)
    return " and ".join(parts) if parts else "certified counts"


def _rounds_apart(data: pd.DataFrame, published: pd.DataFrame, summed: pd.DataFrame,
                  round_of: Mapping[str, int]) -> list[str]:
    """Where one round's points stand against another's: the aggregate and year, among
    the last year both have, where the rounds differ most, with the model's mean and
    interval there (``data``: the twin). Empty without two rounds in a common year."""
    gbd = pd.concat([published, summed])
    gbd = gbd[gbd["source"].isin(list(round_of))]
    if gbd.empty:
        return []
    gbd = gbd.assign(round=gbd["source"].map(round_of).astype(int))
    wide = gbd.pivot_table(index=["location_id", "year"], columns="round", values="mean")
    wide = wide.dropna()
    if wide.shape[1] < 2 or wide.empty or (wide <= 0).any(axis=None):
        return []
    last = wide.index.get_level_values("year").max()
    wide = wide.xs(last, level="year")
    spread = wide.max(axis=1) / wide.min(axis=1)
    loc = spread.idxmax()
    est = data[(data["layer"] == "estimate") & (data["location_id"] == loc)
               & (data["year"] == last)]
    if est.empty:
        return []
    row = est.iloc[0]
    values = ", ".join(f"GBD {r} {_count(wide.loc[loc, r])}" for r in wide.columns)
    between = (", between them"
               if wide.loc[loc].min() <= row["mean"] <= wide.loc[loc].max() else "")
    return [(f"The rounds disagree, by up to a factor {spread[loc]:.1f} in {last} "
             f"({row['location_name']}: {values}; model mean {_count(row['mean'])}, 95% "
             f"interval {_count(row['lower'])}–{_count(row['upper'])}{between}): one "
             "round's points may sit outside the band.")]
