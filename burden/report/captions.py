"""Captions of the deaths figures, written from what each figure draws (its data twin):
which GBD rounds and which certified counts are points, which years are shaded and why."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from burden.plots._common import CERTIFIED_ONLY, PROJECTION
from burden.plots.deaths import CERTIFIED, GBD
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
    drawn = sorted({int(round_of[s]) for s in gbd["source"] if s in round_of})
    if len(gbd):
        fitted = ("the model is fitted to them, each round a measurement with its own bias"
                  if what == WHAT["country"] else
                  "the model is fitted to the rounds' country values, each round with its "
                  "own bias, and sums its countries")
        each = ", one marker per round" if len(drawn) > 1 else ""
        text.append(f"Points: GBD's published {what} of {_rounds(drawn)}{each}; {fitted}, "
                    "so the line need not pass through the points.")
        missing = sorted(set(rounds) - set(drawn))
        if missing:
            text.append(f"The files read hold no {what} of {_rounds(missing)}, the other "
                        "round fitted.")
    cert = obs[obs["definition"] == CERTIFIED]
    if len(cert):
        where = ", ".join(dict.fromkeys(cert["location_name"].astype(str)))
        text.append(f"{'In' if len(gbd) else 'Points: in'} {where}, NCHS final counts of "
                    "deaths with any opioid on the death certificate: another estimand "
                    "(certified overdose deaths), which differs from GBD's by design.")
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
