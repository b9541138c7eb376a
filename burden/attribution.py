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
from dataclasses import asdict, dataclass, field
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


def attribute_from_saved(models_dir: Path | None = None, out: str | Path | None = None, *,
                         assumptions: FentanylAssumptions | None = None,
                         seed: int = 20171) -> Path:
    """Load the deaths and markets fits, attribute the world's and the US's deaths and
    write ``out`` (default ``models/attribution.nc``): a DataTree with groups ``markets``
    (non-US markets by source), ``us`` (the US by supply chain), ``world`` (the world by
    source) and ``sensitivity`` (the US under each scenario of ``DEFAULT_SCENARIOS``); its
    attrs hold the assumptions used and the fits it read."""
    import json

    from burden import config
    from burden.fits import FITS, load_fit
    from burden.registry.markets import market_of

    models_dir = models_dir or config.models_dir()
    deaths, markets = load_fit("deaths", models_dir), load_fit("markets", models_dir)
    by_country = deaths.deaths_draws(level="country")
    mapping = {}
    locations = deaths.data.get("locations")  # the hierarchy the deaths model was fit with
    for loc in by_country["location"].values.tolist():
        try:
            mapping[loc] = market_of(loc, locations)
        except (KeyError, ValueError) as err:
            raise ValueError(f"deaths fit: location {loc!r} has no market: {err}") from None
    shares = markets.all_share_draws(sorted(set(mapping.values()) - {US}))
    world = attribute(by_country, mapping, shares, exclude=(US,), seed=seed)
    us_drugs, overlap = us_inputs(deaths)
    a = assumptions or FentanylAssumptions()
    us_shares = markets.share_draws(US)
    us = attribute_us(us_drugs, us_shares, a, overlap_fraction=overlap, seed=seed)
    sensitivity = sensitivity_table(us_drugs, us_shares, overlap_fraction=overlap, seed=seed)
    tree = xr.DataTree.from_dict({
        "markets": xr.Dataset({"attributable_deaths": world}),
        "us": xr.Dataset({"attributable_deaths": us}),
        "world": xr.Dataset({"attributable_deaths": world_by_source(world, us)}),
        "sensitivity": xr.Dataset.from_dataframe(sensitivity),
    })
    tree.attrs.update({"fentanyl_assumptions": json.dumps(asdict(a)), "seed": seed,
                       **{f"{name}_model": str(FITS[name].path(models_dir))
                          for name in ("deaths", "production", "markets")}})
    out = Path(out or models_dir / "attribution.nc")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tree.to_netcdf(tmp, engine="netcdf4")
    tmp.replace(out)
    return out


def us_inputs(deaths) -> tuple[xr.DataArray, xr.DataArray | None]:
    """Corrected US deaths by drug from a deaths fit and, when its draws lack the heroin and
    synthetic overlap, the overlap fraction from its NIDA table (years cut to match)."""
    us_drugs = deaths.us_drug_deaths_draws(corrected=True)
    overlap = None
    if OVERLAP_DRUG not in us_drugs["drug"].values:
        overlap = overlap_from_nida(deaths.data["us_deaths_by_drug"])
        us_drugs = us_drugs.sel(year=[y for y in us_drugs.year.values
                                      if y in overlap.year.values])
    return us_drugs, overlap


def read_attribution(path: Path) -> dict[str, xr.DataArray | pd.DataFrame | dict]:
    """The groups of a saved attribution file: ``markets``, ``us``, ``world`` (draws),
    ``sensitivity`` (table) and ``assumptions`` (dict)."""
    import json

    tree = xr.open_datatree(path, engine="netcdf4").load()
    out: dict = {name: tree[name].to_dataset()["attributable_deaths"]
                 for name in ("markets", "us", "world")}
    out["sensitivity"] = tree["sensitivity"].to_dataset().to_dataframe().reset_index(drop=True)
    out["assumptions"] = json.loads(tree.attrs["fentanyl_assumptions"])
    return out
