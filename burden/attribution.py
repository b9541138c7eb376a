"""Deaths attributable to each opiate source: deaths x market shares, draw by draw.

Works on DataArrays, not model objects, so it can be tested alone. Every aggregate is a sum of
draws; summaries come last.

Draw alignment: deaths and shares both carry (chain, draw). When their sizes match they are
paired as they are (independent fits, so any pairing is a valid joint draw); otherwise the
shares are resampled to the deaths' (chain, draw) with ``numpy.random.default_rng(seed)``
(without replacement when there are enough draws): see ``burden.models.markets.resample_draws``.

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

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from burden.draws import SAMPLE_DIMS, align_draws, interval_summary
from burden.registry.keys import NOT_ATTRIBUTED, US

OVERLAP_DRUG = "heroin_and_synthetic_opioids"


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
    years = sorted(set.intersection(*[set(a["year"].values.tolist()) for a in arrays]))
    if not years:
        raise ValueError("deaths and shares have no year in common")
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
    (market): the three chains add up to ``deaths`` in every draw.
    """
    from burden.models.composition_data import GROUPS
    from burden.registry.keys import SYNTHETIC_UNIDENTIFIED
    from burden.registry.markets import SYNTHETIC_CHAIN, SYNTHETIC_SOURCES

    a = assumptions or TypeAssumptions()
    locations = deaths["location"].values.tolist()
    unmapped = [loc for loc in locations if loc not in market_of]
    if unmapped:
        raise ValueError(f"no market for locations {unmapped[:10]} (of {len(unmapped)})")
    missing = sorted({market_of[loc] for loc in locations}
                     - set(opiate_shares["market"].values.tolist()))
    if missing:
        raise ValueError(f"no opiate shares for markets {missing}")
    no_comp = sorted(set(locations) - set(composition["location"].values.tolist()))
    if no_comp:
        raise ValueError(f"no composition for locations {no_comp[:10]}")
    if list(composition["group"].values) != list(GROUPS):
        raise ValueError(f"composition groups {composition['group'].values.tolist()} are "
                         f"not {list(GROUPS)}")
    years = _common_years(deaths, composition, opiate_shares)
    deaths = deaths.sel(year=years).drop_vars(
        [c for c in deaths.coords if c not in ("chain", "draw", "location", "year")])
    comp = align_draws(deaths, composition.sel(location=locations, year=years), seed)
    rng = np.random.default_rng([seed, 7])
    b = _draw_prior(deaths, a.both_to_opiate, 1.0, 1.0, rng)
    m = _draw_prior(deaths, a.mexico_share, *SYNTHETIC_CHAIN.beta(), rng)
    groups = deaths * comp  # (chain, draw, location, year, group)
    both = groups.sel(group="opiate_and_synthetic", drop=True)
    opiate = groups.sel(group="opiate_only", drop=True) + b * both
    synth = groups.sel(group="synthetic_only", drop=True) + (1 - b) * both
    rest = groups.sel(group="not_illicit", drop=True)
    markets = pd.Index([market_of[loc] for loc in locations], name="market")

    def by_market(x):
        return x.assign_coords(market=("location", markets)).groupby("market").sum()

    opiate_m, synth_m, rest_m = by_market(opiate), by_market(synth), by_market(rest)
    shares = align_draws(deaths, opiate_shares.sel(year=years), seed)
    shares = shares.sel(market=opiate_m["market"].values)
    chain_sources = [*SYNTHETIC_SOURCES, SYNTHETIC_UNIDENTIFIED]
    north = opiate_m["market"].isin(list(SYNTHETIC_CHAIN.markets))
    split = xr.concat([xr.where(north, m, 0.0), xr.where(north, 1 - m, 0.0),
                       xr.where(north, 0.0, 1.0 + 0 * m)],
                      dim=pd.Index(chain_sources, name="synthetic_source"))
    out = xr.Dataset({
        "illicit_opiate": (opiate_m * shares).transpose("chain", "draw", "market", "source",
                                                        "year"),
        "illicit_synthetic": (synth_m * split).transpose("chain", "draw", "market",
                                                         "synthetic_source", "year"),
        "not_attributed": rest_m.transpose("chain", "draw", "market", "year"),
        "deaths": by_market(deaths).transpose("chain", "draw", "market", "year"),
    })
    out.attrs.update({"definition": DEATHS_DEFINITION, **a.describe()})
    return out


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


def world_table(by_type: xr.Dataset) -> xr.DataArray:
    """One array (chain, draw, market, supply_chain, source, year) of every part of the
    by-type attribution, not-attributed rows included, so that its sum over supply_chain,
    source and market is the deaths estimate in every draw; markets plus ``World``."""
    from burden.registry.markets import WORLD_MARKET

    parts = [by_type["illicit_opiate"].expand_dims(supply_chain=["illicit_opiate"]),
             by_type["illicit_synthetic"].rename(synthetic_source="source").expand_dims(
                 supply_chain=["illicit_synthetic"]),
             by_type["not_attributed"].expand_dims(source=[NOT_ATTRIBUTED],
                                                   supply_chain=["not_attributed"])]
    # one plain (object) source index: xarray cannot join pandas' string dtype indexes
    sources = list(dict.fromkeys(s for p in parts for s in p["source"].values.tolist()))
    parts = [p.assign_coords(source=np.array(p["source"].values.tolist(), dtype=object))
             .reindex(source=np.array(sources, dtype=object), fill_value=0.0)
             for p in parts]
    table = xr.concat(parts, "supply_chain")
    world = table.sum("market").expand_dims(market=[WORLD_MARKET])
    return xr.concat([table, world], "market").transpose(
        "chain", "draw", "market", "supply_chain", "source", "year").rename(
        "attributable_deaths")


def attribute_from_saved(models_dir: Path | None = None, out: str | Path | None = None, *,
                         seed: int = 20171) -> Path:
    """Load the deaths, markets and composition fits, attribute every country's deaths by
    drug type (``attribute_by_type``) and write ``out`` (default
    ``models/attribution.nc``): a DataTree with groups ``by_type`` (the Dataset of
    ``attribute_by_type`` under the default assumptions), ``world_deaths`` (the deaths
    model's world draws over the same years, for the check), ``scenarios`` (the by-type
    attribution summed over markets, per scenario of ``SCENARIOS``) and
    ``prior_driven`` (per market and year, the share of mean deaths in country-years whose
    composition is prior-driven). Only ``predict()`` of the deaths fit and its locations
    table are used."""
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
    available = set(deaths.target_draws()["location"].values.tolist())
    countries = [c for c in locations["iso3"].astype(str) if c in available]
    by_country = deaths.predict(location=countries)
    mapping = {}
    for loc in countries:
        try:
            mapping[loc] = market_of(loc, locations)
        except (KeyError, ValueError) as err:
            raise ValueError(f"deaths fit: location {loc!r} has no market: {err}") from None
    shares = markets.all_share_draws(sorted(set(mapping.values())))
    years = [y for y in by_country.year.values.tolist() if y in set(comp.years.tolist())]
    composition = comp.group_draws(countries, years)
    scenarios = {}
    for name, a in SCENARIOS.items():
        result = attribute_by_type(by_country, composition, mapping, shares, a, seed=seed)
        if name == next(iter(SCENARIOS)):
            by_type = result
        scenarios[name] = world_table(result).sel(market=[US, "World"])
    years = by_type["year"].values.tolist()
    world = deaths.predict(location=WORLD_ID, years=years)
    world = world.drop_vars([c for c in world.coords if c not in ("chain", "draw", "year")])
    flags = comp.prior_driven(countries, years).astype(float)
    mean_deaths = by_country.sel(year=years).mean(("chain", "draw"))
    weights = mean_deaths.assign_coords(market=("location", [mapping[c] for c in
                                                             countries]))
    prior_share = ((weights * flags).groupby("market").sum()
                   / weights.groupby("market").sum()).rename("prior_driven_fraction")
    scen = xr.concat(list(scenarios.values()), dim=pd.Index(list(scenarios),
                                                            name="scenario"))
    tree = xr.DataTree.from_dict({
        "by_type": by_type,
        "world_deaths": xr.Dataset({"deaths": world}),
        "scenarios": xr.Dataset({"attributable_deaths": scen}),
        "prior_driven": xr.Dataset({"prior_driven_fraction": prior_share}),
    })
    tree.attrs.update({
        "definition": DEATHS_DEFINITION, "seed": seed,
        "assumptions": json.dumps(TypeAssumptions().describe()),
        "scenarios": json.dumps({k: v.describe() for k, v in SCENARIOS.items()}),
        **{f"{name}_model": str(FITS[name].path(models_dir))
           for name in ("deaths", "production", "markets", "composition")}})
    out = Path(out or models_dir / "attribution.nc")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tree.to_netcdf(tmp, engine="netcdf4")
    tmp.replace(out)
    return out


def read_attribution(path: Path) -> dict:
    """The groups of a saved attribution file: ``by_type`` (Dataset of draws),
    ``world`` (the world table of ``world_table``), ``world_deaths`` (the deaths model's
    world draws), ``scenarios`` (draws by scenario, USA and World), ``prior_driven``
    (fraction by market and year), ``assumptions`` and ``scenario_assumptions`` (dicts)
    and ``definition``."""
    import json

    tree = xr.open_datatree(path, engine="netcdf4").load()
    by_type = tree["by_type"].to_dataset()
    return {"by_type": by_type, "world": world_table(by_type),
            "world_deaths": tree["world_deaths"].to_dataset()["deaths"],
            "scenarios": tree["scenarios"].to_dataset()["attributable_deaths"],
            "prior_driven": tree["prior_driven"].to_dataset()["prior_driven_fraction"],
            "assumptions": json.loads(tree.attrs["assumptions"]),
            "scenario_assumptions": json.loads(tree.attrs["scenarios"]),
            "definition": str(tree.attrs["definition"])}
