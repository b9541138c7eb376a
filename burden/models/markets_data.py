"""Inputs of ``MarketShares``: the heroin-signature rows as one composition per year, and the
UNODC seizures as evidence on the route priors.

**One composition per HSP year.** Every figure in the signature table is the DEA Heroin
Signature Program's, printed first by the DEA or republished by others (UNODC World Drug
Reports, the press), so the unit of the US likelihood is the *year*: all publications of
one year are printings of one measurement and enter once, as one joint composition
(``YearComposition``). Rules, each row's fate logged in the usage table:

- *Inconclusive* part (2014: 3%): a publication's conclusive shares are rescaled by
  100 / (100 - inconclusive).
- *Several printings of one figure* (2014 Mexico: 80% of the conclusive part in the DEA's
  table, 79% in the World Drug Report's copy; 2017 Mexico: 91% and 93% in two DEA
  documents): the year's share of that region is their mean, and every printing is logged
  with the values averaged. The spread between printings is not a second measurement.
- *Whole-percent rounding*: the likelihood takes the figures as printed, each standing
  for its rounding cell (``printed_dirichlet``; ``dirichlet_groups``' ``printed`` and
  ``half``). Where a point value is needed (the walk's pinning, the part implied by the
  others), a printed 0 is read as 0.25% (``ZERO_AS``), and a year whose points give every
  region, or take 100% between them, is normalised to sum to 1 (2014: 80/97 + 18/97 +
  1/97 + 0.25% is 102%).
- *Bounds in words* ("over 90 per cent", "less than 2 per cent") enter only for regions
  without a point figure that year; a bound implied or contradicted by the year's points, or
  looser than another bound of the same region and side, is dropped with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from burden.models.printed_dirichlet import ZERO_AS
from burden.registry.markets import ROUTE_PRIORS, SIGNATURE_REGIONS, US_MARKET, US_REGIONS


def basis_of(text: str) -> str:
    """'weight', 'samples' or 'unstated' from the HSP row's basis text."""
    text = str(text).lower()
    if "not stated" in text or "not restated" in text:
        return "unstated"
    if "weight" in text:
        return "weight"
    if "sample" in text:
        return "samples"
    return "unstated"


@dataclass
class YearComposition:
    """The HSP composition of one year as the likelihood uses it.

    ``points``: region -> share (of all four regions; summing to 1 when every region is
    given, else to less, the rest being the unreported regions together); ``bounds``: list
    of (region, side, share) with side "upper" (share below) or "lower" (above)."""

    year: int
    points: dict[str, float] = field(default_factory=dict)
    bounds: list[tuple[str, str, float]] = field(default_factory=list)
    publications: list[str] = field(default_factory=list)
    bases: list[str] = field(default_factory=list)
    #: regions with a printed point figure (``points`` may add regions read as nil)
    printed: list[str] = field(default_factory=list)
    #: region -> (share as printed, the mean of its printings; half its rounding unit,
    #: half a whole percent of the conclusive part): neither floored nor normalised
    printed_values: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def rest(self) -> list[str]:
        return [r for r in US_REGIONS if r not in self.points]


def _reason(row, years: tuple[int, int]) -> str:
    inconclusive = str(row.source_region).lower().startswith("inconclusive")
    if row.destination != US_MARKET:
        return f"destination {row.destination!r}: only the US market is fitted"
    if SIGNATURE_REGIONS.get(str(row.source_region)) is None and not inconclusive:
        return f"source region {row.source_region!r} is not an HSP region"
    if not years[0] <= int(row.year) <= years[1]:
        return f"year outside the model's {years[0]}-{years[1]}"
    if pd.isna(row.share_pct) and pd.isna(row.upper_pct) and pd.isna(row.lower_pct):
        return "no share and no bound"
    return ""


def prepare_signature(table: pd.DataFrame, years: tuple[int, int]
                      ) -> tuple[list[YearComposition], pd.DataFrame]:
    """Signature rows -> (one ``YearComposition`` per year with data, usage of every row).

    The usage table has one row per input row: ``row``, ``record``, ``publication``,
    ``used``, ``how`` (what the row became) and ``reason`` (why it was not used)."""
    table = table.reset_index(drop=True)
    usage = [{"row": pos, "record": f"{r.destination} {r.year} {r.source_region}",
              "publication": r.publication, "used": False, "how": "", "reason": ""}
             for pos, r in enumerate(table.itertuples(index=False))]
    kept = []
    for pos, row in enumerate(table.itertuples(index=False)):
        reason = _reason(row, years)
        if reason:
            usage[pos]["reason"] = reason
        else:
            kept.append(pos)
    rows = table.iloc[kept].assign(row_pos=kept)
    out = []
    for year, year_rows in rows.groupby("year", sort=True, dropna=False):
        comp = YearComposition(int(year))
        points: dict[str, list[tuple[float, int]]] = {}
        bounds: dict[tuple[str, str], list[tuple[float, int]]] = {}
        halves: dict[str, list[float]] = {}
        for publication, pub in year_rows.groupby("publication", sort=False, dropna=False):
            inconclusive = pub.source_region.str.lower().str.startswith("inconclusive")
            scale = 100.0 - float(pub.loc[inconclusive, "share_pct"].sum())
            comp.publications.append(str(publication))
            for r in pub[inconclusive].itertuples():
                usage[r.row_pos].update(used=True, how=(
                    f"rescales the conclusive shares of its publication by {scale:g}%"))
            for r in pub[~inconclusive].itertuples():
                region = SIGNATURE_REGIONS[str(r.source_region)]
                comp.bases.append(basis_of(r.basis))
                note = f" (of the {scale:g}% conclusive)" if scale != 100.0 else ""
                if pd.notna(r.share_pct):
                    points.setdefault(region, []).append((float(r.share_pct) / scale, r.row_pos))
                    halves.setdefault(region, []).append(0.5 / scale)
                    usage[r.row_pos]["how"] = note
                else:
                    side = "upper" if pd.notna(r.upper_pct) else "lower"
                    value = r.upper_pct if side == "upper" else r.lower_pct
                    bounds.setdefault((region, side), []).append((float(value) / scale,
                                                                   r.row_pos))
                    usage[r.row_pos]["how"] = note
        comp.printed = list(points)
        for region, printed in points.items():
            value = float(np.mean([v for v, _ in printed]))
            comp.points[region] = max(value, ZERO_AS)
            comp.printed_values[region] = (value, max(halves[region]))
            values = ", ".join(f"{100 * v:.3g}%" for v, _ in printed)
            for _, pos in printed:
                how = (f"{region} share in the {year} composition{usage[pos]['how']}"
                       if len(printed) == 1 else
                       f"one of {len(printed)} printings of the HSP {year} {region} share "
                       f"({values}): their mean {100 * value:.3g}% enters once"
                       f"{usage[pos]['how']}")
                usage[pos].update(used=True, how=how)
        total = sum(comp.points.values())
        if comp.points and (not comp.rest or total >= 1.0 - ZERO_AS):
            filled = [r for r in comp.rest]
            comp.points.update({r: ZERO_AS for r in filled})
            total = sum(comp.points.values())
            comp.points = {r: v / total for r, v in comp.points.items()}
            note = ("" if abs(total - 1.0) < 1e-9 else
                    f"; the year's points sum to {100 * total:.1f}%, normalised to 100%"
                    + (f" ({', '.join(filled)} read as {100 * ZERO_AS:g}%)" if filled
                       else ""))
            for printed in points.values():
                for _, pos in printed:
                    usage[pos]["how"] += note
        left = 1.0 - sum(comp.points.values()) if comp.points else 1.0
        for (region, side), printed in bounds.items():
            printed = sorted(printed, key=lambda p: p[0], reverse=(side == "lower"))
            value, pos = printed[0]
            for _, other in printed[1:]:
                usage[other]["reason"] = (f"a tighter {side} bound on {region} {year} "
                                          f"({100 * value:.3g}%) is used")
            reason = ""
            if region in comp.points:
                point = comp.points[region]
                agrees = point <= value if side == "upper" else point >= value
                reason = (f"{'implied' if agrees else 'contradicted'} by the year's point "
                          f"figure for {region} ({100 * point:.3g}%)")
            elif side == "upper" and value >= left:
                reason = (f"the year's points leave {100 * left:.3g}% for the other regions, "
                          "less than the bound: it adds nothing")
            elif side == "lower" and value >= left:
                reason = (f"contradicts the year's points (they leave {100 * left:.3g}% for "
                          "the other regions)")
            if reason:
                usage[pos]["reason"] = reason
                continue
            comp.bounds.append((region, side, value))
            usage[pos].update(used=True, how=(
                f"{side} bound (censored observation) on the {region} {year} share"
                f"{usage[pos]['how']}"))
        if comp.points or comp.bounds:
            out.append(comp)
    frame = pd.DataFrame(usage)
    frame["how"] = frame["how"].where(frame["used"], "")
    return out, frame


def pinned(compositions: list[YearComposition], first_year: int, n_years: int
           ) -> np.ndarray:
    """(year, contrast coordinate) True where a published point figure pins the walk.

    Coordinate k contrasts region k + 1 (``US_REGIONS`` order) with the regions before it,
    so a point figure for region k + 1 pins it; Mexico, the first region, has no coordinate
    of its own and pins coordinate 1 (Mexico against South America, the two large regions).
    A year whose points leave one region out observes that region as the rest. Bounds pin
    nothing (a share known only to be small is bounded on one side: centred
    there, consecutive levels formed a ridge, R-hat 1.017; docs/models/shares.md)."""
    out = np.zeros((n_years, len(US_REGIONS) - 1), dtype=bool)
    for comp in compositions:
        # a single unreported region is observed too: it is the rest (2017: Southeast
        # Asia, 100 - 92 - 4 - 1 = 3%)
        measured = comp.printed + (comp.rest if len(comp.rest) == 1 else [])
        for region in measured:
            out[comp.year - first_year, max(US_REGIONS.index(region) - 1, 0)] = True
    return out


def dirichlet_groups(compositions: list[YearComposition], first_year: int) -> dict[int, dict]:
    """Years grouped by their number of Dirichlet components K (the regions with a point
    figure, plus one component for the unreported rest when there is one): ``year`` index
    (n,), ``agg`` (n, K, region) 0/1 matrix that sums latent shares into components,
    ``value`` (n, K) composition as read (a 0 as ``ZERO_AS``, normalised where the points
    fill the year), ``printed`` (n, K) the figures as printed (the rest: 1 minus the
    printed parts), ``half`` (n, K) half the rounding unit of each printed part (0 for
    the rest), ``label`` the years. A region read as nil because the year's points fill
    100% counts as printed 0."""
    groups: dict[int, dict] = {}
    for comp in compositions:
        if not comp.points:
            continue
        regions = list(comp.points)
        parts = [[r] for r in regions] + ([comp.rest] if comp.rest else [])
        values = [comp.points[r] for r in regions]
        printed = [comp.printed_values.get(r, (0.0, 0.5 * 0.01))[0] for r in regions]
        half = [comp.printed_values.get(r, (0.0, 0.5 * 0.01))[1] for r in regions]
        if comp.rest:
            values.append(1.0 - sum(values))
            printed.append(max(1.0 - sum(printed), 0.0))
            half.append(0.0)
        g = groups.setdefault(len(parts), {"year": [], "agg": [], "value": [], "printed": [],
                                           "half": [], "label": []})
        g["year"].append(comp.year - first_year)
        g["agg"].append([[1.0 if r in part else 0.0 for r in US_REGIONS] for part in parts])
        g["value"].append(values)
        g["printed"].append(printed)
        g["half"].append(half)
        g["label"].append(comp.year)
    return {k: {key: (np.asarray(v) if key != "label" else v) for key, v in g.items()}
            for k, g in sorted(groups.items())}


def bound_arrays(compositions: list[YearComposition], first_year: int) -> dict[str, dict]:
    """Bounds by side: ``year`` index, ``region`` index, ``value`` (share)."""
    out: dict[str, dict] = {}
    for comp in compositions:
        for region, side, value in comp.bounds:
            b = out.setdefault(side, {"year": [], "region": [], "value": []})
            b["year"].append(comp.year - first_year)
            b["region"].append(US_REGIONS.index(region))
            b["value"].append(value)
    return {side: {k: np.asarray(v) for k, v in b.items()} for side, b in out.items()}


# ---- UNODC seizures as evidence on the route priors ------------------------------------
def seizure_evidence(seizures: pd.DataFrame | None) -> pd.DataFrame:
    """Per route-prior market: illicit-opiate seizures inside the market (kg of heroin, of
    opium, countries reporting, years), from the processed ``drug_seizures`` table.

    What the seizures can and cannot say about a route prior: the table has no origin
    field (a seizure is recorded where it is made, not where the drug was produced), so it
    cannot inform the share a market takes from its main source region; that share stays a
    cited assumption. It can say whether illicit opiates reach the market at all: a market
    whose countries reported no heroin or opium seizure has no evidence behind its route
    prior (``has_opiate_seizures`` False), reported beside the prior."""
    from burden.registry.locations import market_region_of

    columns = ["market", "heroin_kg", "opium_kg", "countries", "years",
               "has_opiate_seizures"]
    if seizures is None or not len(seizures):
        return pd.DataFrame(columns=columns)
    opiates = seizures[seizures["opioid_class"] == "illicit_opiate"].copy()

    def market(iso3: str) -> str | None:
        if iso3 in ROUTE_PRIORS:
            return iso3
        try:
            return market_region_of(iso3)
        except (KeyError, ValueError):  # not a GBD location (e.g. ABW): no market
            return None

    opiates["market"] = opiates["iso3"].map(market)
    rows = []
    for name in ROUTE_PRIORS:
        sub = opiates[opiates["market"] == name]
        seized = sub[sub["kilograms"] > 0]
        rows.append({
            "market": name,
            "heroin_kg": float(sub.loc[sub["drug"] == "Heroin", "kilograms"].sum()),
            "opium_kg": float(sub.loc[sub["drug"] == "Opium", "kilograms"].sum()),
            "countries": int(seized["iso3"].nunique()),
            "years": (f"{int(seized['year'].min())}-{int(seized['year'].max())}"
                      if len(seized) else ""),
            "has_opiate_seizures": bool(len(seized)),
        })
    return pd.DataFrame(rows, columns=columns)
