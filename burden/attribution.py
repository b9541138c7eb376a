"""Deaths attributable to each opiate source, draw by draw.

``burden attribute`` (``attribute_from_saved``) splits each country's deaths by drug type
first (the composition fit, ``attribute_by_type``): illicit-opiate deaths follow the
market's opiate shares, illicit-synthetic deaths the synthetic supply chain, the rest is
not attributed. The functions described next (``attribute``, ``attribute_us``,
``sensitivity_table``) split deaths by market shares alone, for the certificate-based US
analysis; they do not write ``attribution.nc``.

Works on DataArrays, not model objects, so it can be tested alone. Every aggregate is a sum of
draws; summaries come last.

Draw alignment: deaths and shares both carry (chain, draw). When their sizes match they are
paired as they are (independent fits, so any pairing is a valid joint draw); otherwise the
shares are resampled to the deaths' (chain, draw) with ``numpy.random.default_rng(seed)``
(without replacement when there are enough draws): see ``burden.draws.align_draws``.

US special case (``attribute_us``): NCHS counts deaths by every drug on the certificate, so
one death can be in both the heroin (T40.1) and the synthetic-opioid (T40.4) counts. Deaths
are split into disjoint groups before attribution:

- heroin without synthetic opioids: H - HS -> heroin market shares;
- synthetic opioids without heroin: S - HS -> the fentanyl supply chain (assumptions);
- heroin and synthetic opioids: HS -> split ``both_to_heroin`` : 1 - ``both_to_heroin``
  between the two chains (an assumption: which drug "caused" the death is not recorded);
- the rest of any-opioid deaths (prescription opioids, methadone, unspecified) are not
  attributed to an illicit source (``not_attributed``).

So attributed + not attributed = any-opioid deaths, with nothing counted twice. ``HS`` comes
from the ``heroin_and_synthetic_opioids`` drug when the deaths draws carry it, otherwise from
``overlap_fraction`` (HS / H per year), which ``overlap_from_nida`` computes from the NIDA
table (``us_deaths_by_drug``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from burden.draws import SAMPLE_DIMS, align_draws, interval_summary, membership
from burden.registry.keys import NOT_ATTRIBUTED, US

OVERLAP_DRUG = "heroin_and_synthetic_opioids"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FentanylAssumptions:
    """How US synthetic-opioid (illicit fentanyl) deaths are split between supply chains.

    Not measured by any published share: US State Department (INL, International Narcotics
    Control Strategy Report) and DEA (National Drug Threat Assessment) reports say precursors
    come mostly from China and manufacture is mostly in Mexico, in words. ``manufacture`` is
    the split by where the fentanyl was made (``MEX``; ``CHN`` for finished fentanyl shipped
    from China, e.g. by mail); the defaults below are assumptions, varied in
    ``sensitivity_table``.
    """

    manufacture: dict[str, float] = field(default_factory=lambda: {"MEX": 0.8, "CHN": 0.2})
    #: share of a death involving both heroin and synthetic opioids given to heroin
    both_to_heroin: float = 0.5

    def __post_init__(self):
        total = sum(self.manufacture.values())
        if not np.isclose(total, 1.0):
            raise ValueError(f"fentanyl manufacture shares must sum to 1, not {total}")
        if not 0 <= self.both_to_heroin <= 1:
            raise ValueError("both_to_heroin must be within [0, 1]")


def _common_years(*arrays: xr.DataArray) -> list[int]:
    """The years every input covers; the inputs' own ranges named when there are none."""
    years = sorted(set.intersection(*[set(a["year"].values.tolist()) for a in arrays]))
    if not years:
        ranges = ", ".join(
            f"{a.name or 'input ' + str(i + 1)}: {int(a['year'].min())}-"
            f"{int(a['year'].max())}" if a.sizes.get("year") else
            f"{a.name or 'input ' + str(i + 1)}: no years" for i, a in enumerate(arrays))
        raise ValueError(f"the attribution's inputs have no year in common ({ranges})")
    return years


def attribute(
    deaths_by_location: xr.DataArray,
    market_of: Mapping[str, str],
    market_shares: xr.DataArray,
    *,
    exclude: tuple[str, ...] = (),
    seed: int = 20171,
) -> xr.DataArray:
    """Deaths by (chain, draw, market, source, year): each location's deaths go to its market
    and are split by that market's source shares, draw by draw.

    ``deaths_by_location``: (chain, draw, location[ISO3], year); ``market_of``: ISO3 ->
    market; ``market_shares``: (chain, draw, market, source, year), summing to 1 over source.
    Locations in ``exclude`` (e.g. ``("USA",)`` when ``attribute_us`` handles it) are left out.
    A location without a market, or a market without shares, raises ValueError.
    """
    locations = [loc for loc in deaths_by_location["location"].values.tolist()
                 if loc not in exclude]
    unmapped = [loc for loc in locations if loc not in market_of]
    if unmapped:
        raise ValueError(f"no market for locations {unmapped[:10]} (of {len(unmapped)})")
    markets = pd.Index([market_of[loc] for loc in locations], name="market")
    missing = sorted(set(markets) - set(market_shares["market"].values.tolist()))
    if missing:
        raise ValueError(f"no shares for markets {missing}")
    years = _common_years(deaths_by_location, market_shares)
    deaths = deaths_by_location.sel(location=locations, year=years)
    by_market = deaths.assign_coords(market=("location", markets)).groupby("market").sum()
    shares = align_draws(deaths, market_shares.sel(year=years), seed)
    shares = shares.sel(market=by_market["market"].values)
    out = by_market * shares
    return out.transpose("chain", "draw", "market", "source", "year").rename(
        "attributable_deaths")


def us_disjoint_groups(us_drug_deaths: xr.DataArray,
                       overlap_fraction: xr.DataArray | float | None = None) -> xr.DataArray:
    """Disjoint US death groups (chain, draw, group, year): heroin_only, synthetic_only,
    heroin_and_synthetic, not_attributed. The overlap is kept within its logical bounds,
    so the groups add up to any-opioid deaths; raises when heroin or synthetic deaths alone
    exceed any-opioid deaths (impossible input)."""
    drugs = us_drug_deaths["drug"].values.tolist()
    for need in ("any_opioid", "heroin", "synthetic_opioids"):
        if need not in drugs:
            raise ValueError(f"us_drug_deaths lacks drug {need!r}; has {drugs}")
    heroin = us_drug_deaths.sel(drug="heroin", drop=True)
    synth = us_drug_deaths.sel(drug="synthetic_opioids", drop=True)
    anyop = us_drug_deaths.sel(drug="any_opioid", drop=True)
    if OVERLAP_DRUG in drugs:
        both = us_drug_deaths.sel(drug=OVERLAP_DRUG, drop=True)
    elif overlap_fraction is not None:
        both = heroin * overlap_fraction
    else:
        raise ValueError(f"us_drug_deaths has no {OVERLAP_DRUG!r}: pass overlap_fraction "
                         "(e.g. overlap_from_nida(us_deaths_by_drug))")
    # deaths involving both lie within their logical (Frechet) bounds in every draw: at
    # least H + S - A (else heroin-or-synthetic deaths would exceed any-opioid deaths), at
    # most min(H, S); the NIDA fraction is moved into them where a draw falls outside
    both = np.maximum(np.minimum(both, np.minimum(heroin, synth)),
                      np.maximum(heroin + synth - anyop, 0.0))
    groups = {
        "heroin_only": heroin - both,
        "synthetic_only": synth - both,
        "heroin_and_synthetic": both,
        "not_attributed": anyop - (heroin + synth - both),
    }
    out = xr.concat(list(groups.values()), dim=pd.Index(list(groups), name="group"))
    if float(out.min()) < -1e-6 * max(1.0, float(anyop.max())):
        bad = out.where(out < 0, drop=True)
        raise ValueError(f"negative deaths in a disjoint group: {bad.group.values.tolist()}"
                         " (heroin + synthetic - both exceeds any-opioid deaths)")
    return out.clip(min=0).rename("deaths")


def attribute_us(
    us_drug_deaths: xr.DataArray,
    heroin_shares: xr.DataArray,
    assumptions: FentanylAssumptions | None = None,
    *,
    overlap_fraction: xr.DataArray | float | None = None,
    seed: int = 20171,
) -> xr.DataArray:
    """US opioid deaths by (chain, draw, supply_chain, source, year).

    ``supply_chain``: ``heroin`` (split by ``heroin_shares``, dims chain, draw, source, year),
    ``fentanyl`` (split by ``assumptions.manufacture``) and ``not_attributed`` (source
    ``none``: prescription opioids, methadone, unspecified).
    """
    a = assumptions or FentanylAssumptions()
    groups = us_disjoint_groups(us_drug_deaths, overlap_fraction)
    years = _common_years(groups, heroin_shares)
    groups = groups.sel(year=years)
    shares = align_draws(groups, heroin_shares.sel(year=years), seed)
    both = groups.sel(group="heroin_and_synthetic", drop=True)
    heroin_deaths = groups.sel(group="heroin_only", drop=True) + a.both_to_heroin * both
    fent_deaths = (groups.sel(group="synthetic_only", drop=True)
                   + (1 - a.both_to_heroin) * both)
    fent_split = xr.DataArray(list(a.manufacture.values()), dims="source",
                              coords={"source": list(a.manufacture)})
    parts = {
        "heroin": heroin_deaths * shares,
        "fentanyl": fent_deaths * fent_split,
        "not_attributed": groups.sel(group="not_attributed", drop=True).expand_dims(
            source=[NOT_ATTRIBUTED]),
    }
    out = xr.concat([p.transpose("chain", "draw", "source", "year") for p in parts.values()],
                    dim=pd.Index(list(parts), name="supply_chain"), join="outer",
                    fill_value=0.0)
    return out.transpose("chain", "draw", "supply_chain", "source", "year").rename(
        "attributable_deaths")


def overlap_from_nida(us_deaths_by_drug: pd.DataFrame) -> xr.DataArray:
    """HS / H by year from the NIDA table (both sexes, all groups, deaths)."""
    t = us_deaths_by_drug
    t = t[(t["measure"] == "deaths") & (t["group"] == "all") & (t["sex"] == "both")]
    wide = t.pivot_table(index="year", columns="drug", values="value")
    for need in ("heroin", OVERLAP_DRUG):
        if need not in wide:
            raise ValueError(f"us_deaths_by_drug has no {need!r} deaths (both sexes)")
    ratio = (wide[OVERLAP_DRUG] / wide["heroin"]).dropna()
    return xr.DataArray(ratio.values, dims="year", coords={"year": ratio.index.astype(int)})


def attribution_summary(attributable: xr.DataArray, by: tuple[str, ...] = ("market",)
                        ) -> pd.DataFrame:
    """Mean and 95% interval by ``by`` + source + year; dims not named are summed first
    (draw by draw), so ``by=()`` gives the world by source."""
    keep = set(by) | {"source", "year", *SAMPLE_DIMS}
    summed = attributable.sum([d for d in attributable.dims if d not in keep])
    frame = interval_summary(summed.rename("deaths"))
    return frame[[*by, "source", "year", "mean", "lower", "upper"]]


def world_by_source(attributable: xr.DataArray, us: xr.DataArray | None = None
                    ) -> xr.DataArray:
    """World deaths by (chain, draw, source, year): non-US markets plus the US heroin and
    fentanyl chains (draws summed, never means). With ``us``, only the years both cover."""
    world = attributable.sum("market")
    if us is not None:
        us_illicit = (us.drop_sel(supply_chain="not_attributed", errors="ignore")
                      .drop_sel(source=NOT_ATTRIBUTED, errors="ignore").sum("supply_chain"))
        # only years where the US is attributed too: elsewhere a "world" total would
        # silently leave out the US
        years = [y for y in world.year.values if y in set(us_illicit.year.values)]
        world, us_illicit = world.sel(year=years), us_illicit.sel(year=years)
        for dim in SAMPLE_DIMS:  # pairs draw by draw: the same draws, or an error
            if not np.array_equal(world[dim].values, us_illicit[dim].values):
                raise ValueError(f"world_by_source: the US and the other markets have "
                                 f"different {dim} labels; attribute both from the same "
                                 "deaths draws")
        world = xr.concat([world, us_illicit], "part", join="outer", fill_value=0.0).sum(
            "part")
    return world.rename("attributable_deaths")


#: Scenarios of ``sensitivity_table``: name -> FentanylAssumptions (all assumptions).
DEFAULT_SCENARIOS: dict[str, FentanylAssumptions] = {
    "default (MEX 80%, both 50/50)": FentanylAssumptions(),
    "fentanyl all Mexico": FentanylAssumptions({"MEX": 1.0, "CHN": 0.0}),
    "fentanyl half China": FentanylAssumptions({"MEX": 0.5, "CHN": 0.5}),
    "both -> heroin": FentanylAssumptions(both_to_heroin=1.0),
    "both -> fentanyl": FentanylAssumptions(both_to_heroin=0.0),
}


def sensitivity_table(
    us_drug_deaths: xr.DataArray,
    heroin_shares: xr.DataArray,
    scenarios: Mapping[str, FentanylAssumptions] | None = None,
    *,
    overlap_fraction: xr.DataArray | float | None = None,
    years: list[int] | None = None,
    seed: int = 20171,
) -> pd.DataFrame:
    """US attributable deaths by source and year under each scenario (one row per
    scenario, supply_chain, source, year), with the scenario's assumptions as columns."""
    frames = []
    for name, a in (scenarios or DEFAULT_SCENARIOS).items():
        us = attribute_us(us_drug_deaths, heroin_shares, a, overlap_fraction=overlap_fraction,
                          seed=seed)
        if years is not None:
            us = us.sel(year=[y for y in years if y in us.year.values])
        by_source = us.sum("supply_chain")
        frame = interval_summary(by_source.rename("deaths"))
        frame.insert(0, "scenario", name)
        frame.insert(1, "market", US)
        frame["fentanyl_manufacture"] = str(a.manufacture)
        frame["both_to_heroin"] = a.both_to_heroin
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    return out[["scenario", "market", "source", "year", "mean", "lower", "upper",
                "fentanyl_manufacture", "both_to_heroin"]]


# ---- attribution by drug type (the composition fit) -----------------------------------
#: the definition of the deaths the attribution splits (the deaths model's target)
DEATHS_DEFINITION = "gbd_use_disorder"
#: supply chains of the by-type attribution
CHAINS = ("illicit_opiate", "illicit_synthetic", "not_attributed")


@dataclass(frozen=True)
class TypeAssumptions:
    """How deaths by drug type go to sources (see ``attribute_by_type``).

    ``mexico_share``/``both_to_opiate`` None: drawn per posterior draw from their priors
    (``registry.markets.SYNTHETIC_CHAIN``; Beta(1, 1) for deaths involving both: which
    drug caused such a death is not recorded); a number fixes them (scenarios)."""

    mexico_share: float | None = None
    both_to_opiate: float | None = None

    def __post_init__(self):
        for name in ("mexico_share", "both_to_opiate"):
            v = getattr(self, name)
            if v is not None and not 0 <= v <= 1:
                raise ValueError(f"{name} must lie within [0, 1], not {v}")

    def describe(self) -> dict[str, str]:
        from burden.registry.markets import SYNTHETIC_CHAIN

        a, b = SYNTHETIC_CHAIN.beta()
        return {"mexico_share": (f"Beta({a:g}, {b:g})" if self.mexico_share is None
                                 else f"{self.mexico_share:g}"),
                "both_to_opiate": ("Beta(1, 1)" if self.both_to_opiate is None
                                   else f"{self.both_to_opiate:g}")}


#: Scenarios beside the default (uncertain priors carried through the draws).
SCENARIOS: dict[str, TypeAssumptions] = {
    "default (uncertain priors)": TypeAssumptions(),
    "synthetic all Mexico": TypeAssumptions(mexico_share=1.0),
    "synthetic half China": TypeAssumptions(mexico_share=0.5),
    "both -> opiate": TypeAssumptions(both_to_opiate=1.0),
    "both -> synthetic": TypeAssumptions(both_to_opiate=0.0),
}


def _draw_prior(template: xr.DataArray, fixed: float | None, a: float, b: float,
                rng: np.random.Generator) -> xr.DataArray:
    shape = (template.sizes["chain"], template.sizes["draw"])
    values = np.full(shape, fixed) if fixed is not None else rng.beta(a, b, size=shape)
    return xr.DataArray(values, dims=("chain", "draw"),
                        coords={"chain": template.chain, "draw": template.draw})


def attribute_by_type(deaths: xr.DataArray, composition: xr.DataArray,
                      market_of: Mapping[str, str], opiate_shares: xr.DataArray,
                      assumptions: TypeAssumptions | None = None, *, seed: int = 20171
                      ) -> xr.Dataset:
    """Deaths by market, supply chain and source, draw by draw.

    ``deaths``: (chain, draw, location, year); ``composition``: (chain, draw, location,
    year, group) shares of ``composition_data.GROUPS`` (resampled to the deaths' draws);
    ``market_of``: location -> market; ``opiate_shares``: (chain, draw, market, source,
    year) opiate market shares by source. Per location and draw the deaths split into

    - illicit opiate = opiate only + b x both -> the market's opiate shares by source;
    - illicit synthetic = synthetic only + (1 - b) x both -> in the markets of
      ``SYNTHETIC_CHAIN`` (USA, CAN) MEX with m and CHN with 1 - m; elsewhere
      ``SYNTHETIC_UNIDENTIFIED`` (no cited supply chain);
    - not attributed = no illicit opioid involved (source ``NOT_ATTRIBUTED``);

    with b (``both_to_opiate``) and m (``mexico_share``) from ``assumptions``. Returns a
    Dataset (years common to all inputs) of ``illicit_opiate`` (market, source),
    ``illicit_synthetic`` (market, synthetic_source), ``not_attributed`` and ``deaths``
    (market): the three chains add up to ``deaths`` in every draw. b and m are the same
    in every location of a draw, so the split is done on the markets' sums of each group
    (``market_groups``, then ``split_market_groups``).
    """
    missing = sorted({market_of[loc] for loc in deaths["location"].values.tolist()
                      if loc in market_of} - set(opiate_shares["market"].values.tolist()))
    if missing:
        raise ValueError(f"no opiate shares for markets {missing}")
    years = _common_years(deaths, composition, opiate_shares)
    groups = market_groups(deaths.sel(year=years), composition, market_of, seed=seed)
    return split_market_groups(groups, opiate_shares, assumptions, seed=seed)


def market_groups(deaths: xr.DataArray, composition: xr.DataArray,
                  market_of: Mapping[str, str], *, seed: int = 20171) -> xr.Dataset:
    """Each market's deaths (chain, draw, market, year: the sum of its locations' draws)
    and their split by drug type (``fraction``: chain, draw, market, year, group; the
    market's deaths of each group of ``composition_data.GROUPS`` over its deaths, summing
    to 1), draw by draw; ``composition`` is resampled to the deaths' draws."""
    from burden.models.composition_data import GROUPS

    locations = deaths["location"].values.tolist()
    unmapped = [loc for loc in locations if loc not in market_of]
    if unmapped:
        raise ValueError(f"no market for locations {unmapped[:10]} (of {len(unmapped)})")
    no_comp = sorted(set(locations) - set(composition["location"].values.tolist()))
    if no_comp:
        raise ValueError(f"no composition for locations {no_comp[:10]}")
    if list(composition["group"].values) != list(GROUPS):
        raise ValueError(f"composition groups {composition['group'].values.tolist()} are "
                         f"not {list(GROUPS)}")
    years = _common_years(deaths, composition)
    deaths = _select(deaths, year=years).drop_vars(
        [c for c in deaths.coords if c not in ("chain", "draw", "location", "year")])
    deaths = deaths.transpose("chain", "draw", "location", "year")
    comp = align_draws(deaths, _select(composition, location=locations, year=years), seed)
    comp = comp.transpose("chain", "draw", "location", "year", "group")
    market_ids = sorted({market_of[loc] for loc in locations})
    member = membership(market_ids, [market_of[loc] for loc in locations])
    # numpy, a block of draws at a time: each market's sum is one matrix product per
    # draw (xarray's groupby took 13 s for the 6,000 draws of 2026-12-01's fits)
    nc, nd, n_loc, n_year = deaths.shape
    n_group = comp.sizes["group"]
    d = deaths.values.reshape(nc * nd, n_loc, n_year)
    c = np.asarray(comp.values, dtype=np.float64).reshape(nc * nd, n_loc, n_year * n_group)
    total = np.empty((nc * nd, len(market_ids), n_year))
    fraction = np.empty((nc * nd, len(market_ids), n_year, n_group))
    nothing = np.zeros(n_group)
    nothing[-1] = 1.0  # a market-year without deaths in a draw has no split: not attributed
    block = 250
    for start in range(0, nc * nd, block):
        rows = slice(start, start + block)
        t = np.matmul(member, d[rows])
        weighted = np.repeat(d[rows], n_group, axis=-1) * c[rows]
        g = np.matmul(member, weighted).reshape(*t.shape, n_group)
        with np.errstate(invalid="ignore", divide="ignore"):
            f = g / t[..., None]
        total[rows] = t
        fraction[rows] = np.where((t > 0)[..., None], np.nan_to_num(f, nan=0.0), nothing)
    coords = {"chain": deaths["chain"].values, "draw": deaths["draw"].values,
              "market": market_ids, "year": deaths["year"].values}
    dims = ("chain", "draw", "market", "year")
    return xr.Dataset({
        "deaths": xr.DataArray(total.reshape(nc, nd, len(market_ids), n_year), dims=dims,
                               coords=coords),
        "fraction": xr.DataArray(
            fraction.reshape(nc, nd, len(market_ids), n_year, n_group),
            dims=(*dims, "group"), coords={**coords, "group": comp["group"].values})})


def _split_parts(groups: xr.Dataset, opiate_shares: xr.DataArray,
                 assumptions: TypeAssumptions | None, seed: int) -> dict:
    """The arithmetic of ``split_market_groups`` as numpy arrays (chain, draw, market,
    ...): ``opiate``, ``synth`` and ``rest`` deaths by market and year, ``shares``
    (market, source, year) and ``split`` (market, synthetic source), with their labels."""
    from burden.registry.keys import SYNTHETIC_UNIDENTIFIED
    from burden.registry.markets import SYNTHETIC_CHAIN, SYNTHETIC_SOURCES

    a = assumptions or TypeAssumptions()
    total = groups["deaths"].transpose("chain", "draw", "market", "year")
    frac = groups["fraction"].transpose("chain", "draw", "market", "year", "group")
    markets = total["market"].values.tolist()
    missing = sorted(set(markets) - set(opiate_shares["market"].values.tolist()))
    if missing:
        raise ValueError(f"no opiate shares for markets {missing}")
    years = _common_years(total, opiate_shares)
    total, frac = _select(total, year=years), _select(frac, year=years)
    rng = np.random.default_rng([seed, 7])
    b = _draw_prior(total, a.both_to_opiate, 1.0, 1.0, rng).values[:, :, None, None]
    m = _draw_prior(total, a.mexico_share, *SYNTHETIC_CHAIN.beta(), rng).values
    # numpy from here: the same products as xarray's, without its copies (6,000 draws)
    group = {g: i for i, g in enumerate(frac["group"].values.tolist())}
    t, f = total.values, np.asarray(frac.values, dtype=np.float64)
    both = t * f[..., group["opiate_and_synthetic"]]
    opiate = t * f[..., group["opiate_only"]] + b * both
    synth = t * f[..., group["synthetic_only"]] + (1 - b) * both
    # tiny negatives of rounding where nothing is left (a market-year all illicit)
    rest = np.clip(t - opiate - synth, 0.0, None)
    shares = align_draws(total, _select(opiate_shares, year=years), seed)
    shares = _select(shares, market=markets).transpose("chain", "draw", "market", "source",
                                                       "year")
    north = np.isin(markets, list(SYNTHETIC_CHAIN.markets))[None, None, :]
    split = np.stack([np.where(north, m[..., None], 0.0),
                      np.where(north, 1 - m[..., None], 0.0),
                      np.where(north, 0.0, 1.0 + 0 * m[..., None])], axis=3)
    return {"total": t, "opiate": opiate, "synth": synth, "rest": rest,
            "shares": shares.values, "split": split, "markets": markets, "years": years,
            "sources": shares["source"].values,
            "synthetic_sources": [*SYNTHETIC_SOURCES, SYNTHETIC_UNIDENTIFIED],
            "chain": total["chain"].values, "draw": total["draw"].values,
            "describe": a.describe()}


def split_market_groups(groups: xr.Dataset, opiate_shares: xr.DataArray,
                        assumptions: TypeAssumptions | None = None, *, seed: int = 20171
                        ) -> xr.Dataset:
    """``attribute_by_type`` from the markets' deaths and their split by drug type
    (``market_groups``): the Dataset of ``illicit_opiate``, ``illicit_synthetic``,
    ``not_attributed`` and ``deaths`` by market; the not-attributed deaths are the
    market's deaths less the attributed ones, so the chains add up to ``deaths`` in every
    draw (to float64 rounding) whatever the precision of ``fraction``."""
    p = _split_parts(groups, opiate_shares, assumptions, seed)
    return _by_type_dataset(p, p["opiate"][:, :, :, None, :] * p["shares"],
                            p["synth"][:, :, :, None, :] * p["split"][..., None])


def _by_type_dataset(p: dict, opiate: np.ndarray, synthetic: np.ndarray) -> xr.Dataset:
    """The Dataset of ``split_market_groups`` from ``_split_parts`` and the two chains'
    deaths by source."""
    per_market = ("chain", "draw", "market", "year")
    out = xr.Dataset({
        "illicit_opiate": (("chain", "draw", "market", "source", "year"), opiate),
        "illicit_synthetic": (("chain", "draw", "market", "synthetic_source", "year"),
                              synthetic),
        "not_attributed": (per_market, p["rest"]),
        "deaths": (per_market, p["total"]),
    }, coords={"chain": p["chain"], "draw": p["draw"], "market": p["markets"],
               "year": p["years"], "source": p["sources"],
               "synthetic_source": p["synthetic_sources"]})
    out.attrs.update({"definition": DEATHS_DEFINITION, **p["describe"]})
    return out


def split_into_table(groups: xr.Dataset, opiate_shares: xr.DataArray,
                     assumptions: TypeAssumptions | None = None, *, seed: int = 20171,
                     with_world: bool = True, out: np.ndarray | None = None
                     ) -> tuple[xr.Dataset, xr.DataArray]:
    """``split_market_groups`` and its ``world_table`` in one pass, as
    ``read_attribution`` needs them: the opiate chain's deaths by source are written
    straight into the table, and the Dataset's ``illicit_opiate`` is a view of it, so
    the largest part (150 MB for the real fits) is made once. The values are those of
    the two calls (a World row may differ in the last bit: the order of its sum)."""
    p = _split_parts(groups, opiate_shares, assumptions, seed)
    synthetic = p["synth"][:, :, :, None, :] * p["split"][..., None]
    sources, table = _empty_table(p["total"].shape, list(p["sources"]),
                                  list(p["synthetic_sources"]), with_world, out)
    n_market = len(p["markets"])
    opi_at = _positions(list(range(len(p["sources"]))))  # the opiate sources come first
    opiate = table[:, :, :n_market, 0, opi_at]  # a view (basic indexing)
    np.multiply(p["opiate"][:, :, :, None, :], p["shares"], out=opiate)
    _fill_table(table, n_market, sources, with_world, [
        (1, list(p["synthetic_sources"]), synthetic),
        (2, [NOT_ATTRIBUTED], p["rest"][:, :, :, None, :])])
    if with_world:
        table[:, :, n_market, 0, opi_at] = opiate.sum(axis=2)
    return (_by_type_dataset(p, opiate, synthetic),
            _table_array(table, p["chain"], p["draw"], list(p["markets"]), sources,
                         p["years"], with_world))


def country_balance(deaths: xr.DataArray, composition: xr.DataArray,
                    opiate_shares_by_location: xr.DataArray,
                    assumptions: TypeAssumptions | None = None, *, seed: int = 20171
                    ) -> xr.Dataset:
    """``attribute_by_type`` with every location its own market (the opiate shares of its
    market given per location): attributed (every source, both chains) and not attributed
    deaths per location, year and draw, beside the deaths (for the check that they add
    up)."""
    locs = deaths["location"].values.tolist()
    out = attribute_by_type(deaths, composition, {c: c for c in locs},
                            opiate_shares_by_location.rename(location="market"),
                            assumptions, seed=seed).rename(market="location")
    attributed = out["illicit_opiate"].sum("source") + out["illicit_synthetic"].sum(
        "synthetic_source")
    return xr.Dataset({"attributed": attributed, "not_attributed": out["not_attributed"],
                       "deaths": out["deaths"]})


def _select(da, **labels):
    """``da.sel(**labels)``, or ``da`` itself where every dimension already holds exactly
    those labels in that order (``sel`` with a list copies the whole array: 0.2-0.5 s
    for the markets' shares)."""
    todo = {d: v for d, v in labels.items()
            if da.indexes[d].tolist() != list(np.asarray(v).tolist())}
    return da.sel(**todo) if todo else da


def _positions(idx: list[int]) -> slice | list[int]:
    """A slice where the positions are consecutive (a view, not a fancy-index copy)."""
    if idx and idx == list(range(idx[0], idx[0] + len(idx))):
        return slice(idx[0], idx[0] + len(idx))
    return idx


def world_table(by_type: xr.Dataset, with_world: bool = True,
                out: np.ndarray | None = None) -> xr.DataArray:
    """One array (chain, draw, market, supply_chain, source, year) of every part of the
    by-type attribution, not-attributed rows included, so that its sum over supply_chain,
    source and market is the deaths estimate in every draw; markets plus ``World`` (the
    sum of the markets' draws; left out when not ``with_world``). Sources: the opiate
    sources, then the synthetic ones not among them, then ``NOT_ATTRIBUTED``; a chain's
    rows of another chain's sources are 0. ``out``: an array of zeros of the table's
    shape to fill (a slice of a larger one, so that stacking tables copies nothing)."""
    opi = by_type["illicit_opiate"].transpose("chain", "draw", "market", "source", "year")
    syn = by_type["illicit_synthetic"].transpose("chain", "draw", "market",
                                                 "synthetic_source", "year")
    rest = by_type["not_attributed"].transpose("chain", "draw", "market", "year")
    opi_src = opi["source"].values.tolist()
    syn_src = syn["synthetic_source"].values.tolist()
    sources, table = _empty_table(rest.shape, opi_src, syn_src, with_world, out)
    _fill_table(table, rest.sizes["market"], sources, with_world, [
        (0, opi_src, opi.values), (1, syn_src, syn.values),
        (2, [NOT_ATTRIBUTED], rest.values[:, :, :, None, :])])
    return _table_array(table, rest["chain"].values, rest["draw"].values,
                        rest["market"].values.tolist(), sources, rest["year"].values,
                        with_world)


def _empty_table(shape: tuple[int, ...], opi_src: list[str], syn_src: list[str],
                 with_world: bool, out: np.ndarray | None) -> tuple[list[str], np.ndarray]:
    """The sources of a world table (opiate, then synthetic ones not among them, then
    ``NOT_ATTRIBUTED``) and its array of zeros (``out`` when given); ``shape`` is
    (chain, draw, market, year)."""
    sources = list(dict.fromkeys([*opi_src, *syn_src, NOT_ATTRIBUTED]))
    n_chain, n_draw, n_market, n_year = shape
    full = (n_chain, n_draw, n_market + int(with_world), len(CHAINS), len(sources), n_year)
    if out is not None and out.shape != full:
        raise ValueError(f"world_table: out has shape {out.shape}, the table {full}")
    return sources, (np.zeros(full) if out is None else out)


def _fill_table(table: np.ndarray, n_market: int, sources: list[str], with_world: bool,
                parts: list[tuple[int, list[str], np.ndarray]]) -> None:
    """Write each (supply chain, its sources, values (chain, draw, market, source,
    year)) into ``table``, and the markets' sum into its World row."""
    index = {s: i for i, s in enumerate(sources)}
    for chain, names, values in parts:
        where = _positions([index[s] for s in names])
        table[:, :, :n_market, chain, where] = values
        if with_world:  # the markets' sum, of the parts only (the zeros add nothing)
            table[:, :, n_market, chain, where] = values.sum(axis=2)


def _table_array(table: np.ndarray, chain, draw, markets: list[str], sources: list[str],
                 years, with_world: bool) -> xr.DataArray:
    from burden.registry.markets import WORLD_MARKET

    if with_world:
        markets = [*markets, WORLD_MARKET]
    # one plain (object) source index: xarray cannot join pandas' string dtype indexes
    return xr.DataArray(
        table, name="attributable_deaths",
        dims=("chain", "draw", "market", "supply_chain", "source", "year"),
        coords={"chain": chain, "draw": draw, "market": markets,
                "supply_chain": list(CHAINS), "source": np.array(sources, dtype=object),
                "year": years})


#: precision of the stored split by drug type (a derived array: float32 keeps 24 bits, a
#: relative error below 6e-8, far under the 3 significant figures the tables are read at)
FRACTION_DTYPE = "float32"


def market_members(mapping: Mapping[str, str]) -> dict[str, list[str]]:
    """Market -> the locations in it (sorted), from ``mapping`` (location -> market): a
    market region holds only its countries that are not markets of their own
    (``registry.markets.COUNTRY_MARKETS``), so the registry's North America (UNODC's
    region, with Greenland added) is Greenland alone."""
    members: dict[str, list[str]] = {}
    for loc, market in mapping.items():
        members.setdefault(market, []).append(loc)
    return {m: sorted(members[m]) for m in sorted(members)}


def check_all_listed(available: set[str], countries: list[str]) -> None:
    """Every country of the deaths fit is in the locations table that maps it to a market:
    else its deaths would be in no market, and the World short of them."""
    unlisted = sorted(available - set(countries))
    if unlisted:
        raise ValueError(f"deaths fit: countries {unlisted[:10]} (of {len(unlisted)}) are "
                         "not in its locations table, so no market would take their deaths")


def check_adds_up(market_deaths: xr.DataArray, world: xr.DataArray) -> None:
    """The markets' deaths (chain, draw, market, year) sum to the deaths fit's world draws,
    draw by draw (both float64 sums of the same country draws), before anything is
    written."""
    summed = market_deaths.sum("market").transpose(*world.dims).values
    if not np.allclose(summed, world.values, rtol=1e-7, atol=0.0):
        worst = float(np.max(np.abs(summed - world.values) / np.abs(world.values)))
        raise ValueError("attribution: the markets' deaths do not add up to the deaths "
                         f"fit's world draws (largest relative difference {worst:.2e})")


def attribute_from_saved(models_dir: Path | None = None, out: str | Path | None = None, *,
                         seed: int = 20171) -> Path:
    """Load the deaths, markets and composition fits, attribute every country's deaths by
    drug type (``attribute_by_type``) and write ``out`` (default
    ``models/attribution.nc``).

    The file stores what the attribution cannot get cheaply from the saved fits: each
    market's deaths (float64) and their split by drug type (``market_groups``, float32,
    ``FRACTION_DTYPE``), the deaths model's world draws over the same years (for the
    check that the parts add up), ``prior_driven`` (per market and year, the share of
    mean deaths in country-years whose composition is prior-driven) and the first draw of
    each chain of the market shares. ``read_attribution`` splits the markets' deaths by
    source with the markets fit's shares (``split_market_groups``), under the default
    assumptions and every scenario of ``SCENARIOS``. Only the country and world draws
    (``deaths_draws``) of the deaths fit and its locations table are used."""
    import json

    from burden import config
    from burden.fits import FITS, load_fit
    from burden.registry.keys import WORLD_ID
    from burden.registry.markets import market_of

    models_dir = models_dir or config.models_dir()
    deaths = load_fit("deaths", models_dir)
    markets, comp = load_fit("markets", models_dir), load_fit("composition", models_dir)
    locations = deaths.data.get("locations")
    if locations is None:
        from burden.registry.locations import hierarchy

        locations = hierarchy()
    # the country and world draws only: ``predict`` would build every level and copy
    # them into one array (``target_draws``: 4.2 s and 1.2 GB here, 2026-12-05)
    country_draws = deaths.deaths_draws("country")
    available = set(country_draws["location"].values.tolist())
    countries = [c for c in locations["iso3"].astype(str) if c in available]
    check_all_listed(available, countries)
    mapping = {}
    for loc in countries:
        try:
            mapping[loc] = market_of(loc, locations)
        except (KeyError, ValueError) as err:
            raise ValueError(f"deaths fit: location {loc!r} has no market: {err}") from None
    share_markets = sorted(set(mapping.values()))
    shares = markets.all_share_draws(share_markets)
    comp_years = set(comp.years.tolist())
    years = _common_years(country_draws["year"].sel(
        year=[y for y in country_draws.year.values.tolist() if y in comp_years]), shares)
    deaths_years = country_draws["year"].values
    log.info("attribution: years %d-%d, those the deaths fit (%d-%d), the composition and "
             "the market shares all cover", years[0], years[-1], int(deaths_years.min()),
             int(deaths_years.max()))
    # one copy of the countries' draws for those years (a view when nothing is left out)
    by_country = _select(country_draws.drop_vars("location_name", errors="ignore"),
                         location=countries, year=years)
    # at the deaths' draws already (market_groups' own resample then passes them through)
    composition = comp.group_draws(countries, years, resample=(
        by_country.sizes["chain"], by_country.sizes["draw"], seed))
    groups = market_groups(by_country, composition, mapping, seed=seed)
    world = deaths.deaths_draws("world").sel(location=WORLD_ID, year=years)
    world = world.drop_vars([c for c in world.coords if c not in ("chain", "draw", "year")])
    check_adds_up(groups["deaths"], world)
    flags = comp.prior_driven(countries, years).astype(float)
    mean_deaths = by_country.mean(("chain", "draw"))
    weights = mean_deaths.assign_coords(market=("location", [mapping[c] for c in
                                                             countries]))
    prior_share = ((weights * flags).groupby("market").sum()
                   / weights.groupby("market").sum()).rename("prior_driven_fraction")
    stored = groups.assign(fraction=groups["fraction"].astype(FRACTION_DTYPE))
    tree = xr.DataTree.from_dict({
        "market_groups": stored,
        "share_check": xr.Dataset({"share": shares.sel(year=years).isel(draw=[0])}),
        "world_deaths": xr.Dataset({"deaths": world}),
        "prior_driven": xr.Dataset({"prior_driven_fraction": prior_share}),
    })
    tree.attrs.update({
        "definition": DEATHS_DEFINITION, "seed": seed,
        "assumptions": json.dumps(TypeAssumptions().describe()),
        "scenarios": json.dumps({k: v.describe() for k, v in SCENARIOS.items()}),
        "share_markets": json.dumps(share_markets),
        "market_members": json.dumps(market_members(mapping)),
        **{f"{name}_model": str(FITS[name].path(models_dir))
           for name in ("deaths", "production", "markets", "composition")}})
    out = Path(out or models_dir / "attribution.nc")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    from burden.models.storage import encodings

    tree.to_netcdf(tmp, engine="netcdf4", encoding={
        node.path: encodings(node.to_dataset(inherit=False))
        for node in tree.subtree if node.has_data})
    tmp.replace(out)
    return out


def read_attribution(path: Path, models_dir: Path | None = None) -> dict:
    """The groups of a saved attribution file: ``by_type`` (Dataset of draws),
    ``world`` (the world table of ``world_table``), ``world_deaths`` (the deaths model's
    world draws), ``scenarios`` (draws by scenario of the USA; files written before
    the split was stored also hold the World), ``prior_driven``
    (fraction by market and year), ``assumptions`` and ``scenario_assumptions`` (dicts),
    ``definition`` and ``market_members`` (market -> its locations; empty for files
    written before 2026-12-07).

    ``by_type`` and ``scenarios`` are split from the stored markets' deaths with the
    shares of the markets fit in ``models_dir`` (default: the file's folder), which must
    be the fit the attribution used (its stored draws are compared; a refit markets model
    raises ValueError: run ``burden attribute`` again). Files written before the split
    was stored (with a ``by_type`` group) are read as they are."""
    import json

    path = Path(path)
    tree = xr.open_datatree(path, engine="netcdf4").load()
    seed = int(tree.attrs.get("seed", 20171))
    if "by_type" in tree:
        by_type = tree["by_type"].to_dataset()
        scenarios = tree["scenarios"].to_dataset()["attributable_deaths"]
        world = world_table(by_type)
    else:
        from burden.fits import load_fit

        groups = tree["market_groups"].to_dataset()
        markets_dir = Path(models_dir) if models_dir is not None else path.parent
        markets = load_fit("markets", markets_dir)
        shares = markets.all_share_draws(json.loads(tree.attrs["share_markets"]))
        stored = tree["share_check"].to_dataset()["share"]
        now = shares.sel(year=stored["year"].values, market=stored["market"].values,
                         source=stored["source"].values).isel(draw=[0])
        if now.shape != stored.shape or not np.allclose(
                now.transpose(*stored.dims).values, stored.values, rtol=1e-9, atol=0.0):
            raise ValueError(f"{path}: the market shares of {markets_dir / 'markets.nc'} "
                             "are not those the attribution used (the markets model was "
                             "fitted again): run `burden attribute`")
        # resampled to the deaths' draws once (later calls pass them through)
        shares = align_draws(groups["deaths"], shares.sel(year=groups["year"].values), seed)
        by_type, world = split_into_table(  # the default assumptions
            groups, shares, next(iter(SCENARIOS.values())), seed=seed)
        # the US only (what the sensitivity table reads); the draws of b and m depend on
        # the seed and the number of draws, not on the markets. Each scenario's table is
        # written into its slice of one array (xr.concat would copy them all again).
        us_groups, us_shares = groups.sel(market=[US]), shares.sel(market=[US])
        stacked, tables = None, []
        for k, a in enumerate(SCENARIOS.values()):
            _, table = split_into_table(us_groups, us_shares, a, seed=seed,
                                        with_world=False,
                                        out=None if stacked is None else stacked[k])
            if stacked is None:
                stacked = np.zeros((len(SCENARIOS), *table.shape))
                stacked[0] = table.values
            tables.append(table)
        scenarios = xr.DataArray(
            stacked, name=tables[0].name, dims=("scenario", *tables[0].dims),
            coords={"scenario": list(SCENARIOS), **tables[0].coords})
        # fixed-width text labels, as netCDF gives them back (an object index ordered the
        # sensitivity table's rows source-first instead of year-first)
        scenarios = scenarios.assign_coords(
            source=np.asarray(scenarios["source"].values.tolist(), dtype=str))
    return {"by_type": by_type, "world": world,
            "world_deaths": tree["world_deaths"].to_dataset()["deaths"],
            "scenarios": scenarios,
            "prior_driven": tree["prior_driven"].to_dataset()["prior_driven_fraction"],
            "assumptions": json.loads(tree.attrs["assumptions"]),
            "scenario_assumptions": json.loads(tree.attrs["scenarios"]),
            "definition": str(tree.attrs["definition"]),
            # files written before 2026-12-07 did not store it
            "market_members": json.loads(tree.attrs.get("market_members", "{}"))}
