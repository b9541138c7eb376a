"""Attribution: deaths x shares draw by draw, the US split without double counting."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from burden.attribution import (
    DEFAULT_SCENARIOS,
    OVERLAP_DRUG,
    FentanylAssumptions,
    attribute,
    attribute_us,
    attribution_summary,
    overlap_from_nida,
    sensitivity_table,
    us_disjoint_groups,
    world_by_source,
)

YEARS = [2010, 2011, 2012]
SOURCES = ["AFG", "MMR", "MEX"]


def _deaths(chains=2, draws=50, seed=0):
    rng = np.random.default_rng(seed)
    values = rng.gamma(20.0, 5.0, size=(chains, draws, 3, len(YEARS)))
    return xr.DataArray(values, dims=("chain", "draw", "location", "year"),
                        coords={"chain": range(chains), "draw": range(draws),
                                "location": ["DEU", "FRA", "AUS"], "year": YEARS})


def _shares(chains=2, draws=50, markets=("Europe", "Oceania"), seed=1):
    rng = np.random.default_rng(seed)
    values = rng.dirichlet([3, 2, 1], size=(chains, draws, len(markets), len(YEARS)))
    return xr.DataArray(values.transpose(0, 1, 2, 4, 3),
                        dims=("chain", "draw", "market", "source", "year"),
                        coords={"chain": range(chains), "draw": range(draws),
                                "market": list(markets), "source": SOURCES, "year": YEARS})


MARKET_OF = {"DEU": "Europe", "FRA": "Europe", "AUS": "Oceania"}


def test_attribute_is_deaths_times_shares_draw_by_draw():
    deaths, shares = _deaths(), _shares()
    out = attribute(deaths, MARKET_OF, shares)
    assert out.dims == ("chain", "draw", "market", "source", "year")
    europe = deaths.sel(location=["DEU", "FRA"]).sum("location")
    xr.testing.assert_allclose(out.sel(market="Europe", source="AFG", drop=True),
                               europe * shares.sel(market="Europe", source="AFG", drop=True))
    # nothing lost: attributable deaths over sources and markets = all deaths, per draw
    xr.testing.assert_allclose(out.sum(["market", "source"]), deaths.sum("location"))


def test_attribute_resamples_when_draw_counts_differ():
    deaths, shares = _deaths(chains=2, draws=50), _shares(chains=4, draws=30)
    out = attribute(deaths, MARKET_OF, shares, seed=5)
    assert (out.sizes["chain"], out.sizes["draw"]) == (2, 50)
    xr.testing.assert_allclose(out.sum(["market", "source"]), deaths.sum("location"))
    xr.testing.assert_identical(out, attribute(deaths, MARKET_OF, shares, seed=5))


def test_attribute_rejects_unmapped_locations_and_missing_markets():
    with pytest.raises(ValueError, match="no market for locations"):
        attribute(_deaths(), {"DEU": "Europe"}, _shares())
    with pytest.raises(ValueError, match="no shares for markets"):
        attribute(_deaths(), {**MARKET_OF, "AUS": "Mars"}, _shares())
    later = _shares().assign_coords(year=[y + 10 for y in YEARS]).rename("shares")
    with pytest.raises(ValueError, match=r"no year in common \(input 1: 2010-2012, "
                                         r"shares: 2020-2022\)"):
        attribute(_deaths(), MARKET_OF, later)
    out = attribute(_deaths(), {"DEU": "Europe", "FRA": "Europe"}, _shares(),
                    exclude=("AUS",))
    assert list(out.market.values) == ["Europe"]


def _us(chains=2, draws=40, seed=2, with_overlap=True):
    rng = np.random.default_rng(seed)
    heroin = rng.uniform(1000, 2000, size=(chains, draws, len(YEARS)))
    synth = rng.uniform(500, 3000, size=heroin.shape)
    both = rng.uniform(0.1, 0.4, size=heroin.shape) * np.minimum(heroin, synth)
    rx = rng.uniform(1000, 3000, size=heroin.shape)
    anyop = heroin + synth - both + rx
    drugs = {"any_opioid": anyop, "heroin": heroin, "synthetic_opioids": synth,
             "rx_opioids": rx}
    if with_overlap:
        drugs[OVERLAP_DRUG] = both
    values = np.stack(list(drugs.values()), axis=2)
    return xr.DataArray(values, dims=("chain", "draw", "drug", "year"),
                        coords={"chain": range(chains), "draw": range(draws),
                                "drug": list(drugs), "year": YEARS})


def _heroin_shares(chains=2, draws=40):
    return _shares(chains, draws, markets=("USA",)).sel(market="USA", drop=True)


def test_us_groups_are_disjoint_and_add_up_to_any_opioid():
    us = _us()
    groups = us_disjoint_groups(us)
    xr.testing.assert_allclose(groups.sum("group"), us.sel(drug="any_opioid", drop=True))
    assert float(groups.min()) >= 0
    # heroin = heroin only + both: the overlap is counted once
    xr.testing.assert_allclose(
        groups.sel(group=["heroin_only", "heroin_and_synthetic"]).sum("group"),
        us.sel(drug="heroin", drop=True))


def test_us_overlap_from_fraction_when_draws_lack_it():
    us = _us(with_overlap=False)
    with pytest.raises(ValueError, match="overlap_fraction"):
        us_disjoint_groups(us)
    frac = xr.DataArray([0.1, 0.2, 0.3], dims="year", coords={"year": YEARS})
    groups = us_disjoint_groups(us, frac)
    xr.testing.assert_allclose(groups.sel(group="heroin_and_synthetic", drop=True),
                               us.sel(drug="heroin", drop=True) * frac)


def test_us_overlap_is_kept_within_its_logical_bounds():
    """Draws where heroin + synthetic - (fraction x heroin) would exceed any-opioid deaths
    get the smallest overlap that is possible (H + S - A): the groups still add up."""
    us = _us(with_overlap=False)
    anyop = us.sel(drug="any_opioid", drop=True)
    tight = us.copy()
    tight.loc[{"drug": "heroin"}] = 0.7 * anyop
    tight.loc[{"drug": "synthetic_opioids"}] = 0.6 * anyop
    groups = us_disjoint_groups(tight, overlap_fraction=0.0)
    xr.testing.assert_allclose(groups.sum("group"), anyop)
    np.testing.assert_allclose(groups.sel(group="heroin_and_synthetic"), 0.3 * anyop)
    assert float(groups.sel(group="not_attributed").max()) <= 1e-9 * float(anyop.max())


def test_us_impossible_counts_raise():
    us = _us()
    broken = us.copy()
    broken.loc[{"drug": "any_opioid"}] = 1.0
    with pytest.raises(ValueError, match="negative deaths"):
        us_disjoint_groups(broken)


def test_attribute_us_keeps_totals_and_follows_assumptions():
    us, shares = _us(), _heroin_shares()
    a = FentanylAssumptions({"MEX": 0.7, "CHN": 0.3}, both_to_heroin=0.25)
    out = attribute_us(us, shares, a)
    xr.testing.assert_allclose(out.sum(["supply_chain", "source"]),
                               us.sel(drug="any_opioid", drop=True))
    groups = us_disjoint_groups(us)
    fent = out.sel(supply_chain="fentanyl").sum("source")
    expected = (groups.sel(group="synthetic_only", drop=True)
                + 0.75 * groups.sel(group="heroin_and_synthetic", drop=True))
    xr.testing.assert_allclose(fent.drop_vars("supply_chain"), expected)
    chn = out.sel(supply_chain="fentanyl", source="CHN", drop=True)
    xr.testing.assert_allclose(chn, 0.3 * expected)
    heroin = out.sel(supply_chain="heroin", source="AFG", drop=True)
    xr.testing.assert_allclose(heroin, (us.sel(drug="heroin", drop=True)
                                        - 0.75 * groups.sel(group="heroin_and_synthetic",
                                                            drop=True))
                               * shares.sel(source="AFG", drop=True))


def test_fentanyl_assumptions_validate():
    with pytest.raises(ValueError, match="sum to 1"):
        FentanylAssumptions({"MEX": 0.7, "CHN": 0.2})
    with pytest.raises(ValueError, match="both_to_heroin"):
        FentanylAssumptions(both_to_heroin=1.5)


def test_sensitivity_table_moves_with_assumptions():
    table = sensitivity_table(_us(), _heroin_shares())
    assert set(table.scenario) == set(DEFAULT_SCENARIOS)
    mex = table[(table.source == "MEX") & (table.year == 2012)].set_index("scenario")["mean"]
    assert mex["fentanyl all Mexico"] > mex["default (MEX 80%, both 50/50)"] > \
        mex["fentanyl half China"]
    chn = table[(table.source == "CHN")].set_index(["scenario", "year"])["mean"]
    assert (chn.xs("fentanyl all Mexico") == 0).all()
    assert {"fentanyl_manufacture", "both_to_heroin", "lower", "upper"} <= set(table.columns)


def test_summaries_sum_draws_not_means():
    out = attribute(_deaths(), MARKET_OF, _shares())
    world = attribution_summary(out, by=())
    per_market = attribution_summary(out)
    assert set(per_market.market) == {"Europe", "Oceania"}
    merged = per_market.groupby(["source", "year"])
    np.testing.assert_allclose(world.set_index(["source", "year"])["mean"].sort_index(),
                               merged["mean"].sum().sort_index())
    # the interval is that of the summed draws (not a sum of the markets' intervals,
    # which is wider: the markets' draws are independent here)
    summed = out.sum("market").stack(sample=("chain", "draw"))
    for (source, year), row in world.set_index(["source", "year"]).iterrows():
        values = summed.sel(source=source, year=year).values
        np.testing.assert_allclose([row["lower"], row["upper"]],
                                   np.quantile(values, [0.025, 0.975]), rtol=1e-9)
    widths = (merged["upper"].sum() - merged["lower"].sum()).sort_index()
    world_widths = world.set_index(["source", "year"]).eval("upper - lower").sort_index()
    assert (world_widths < widths).all()
    us = attribute_us(_us(chains=2, draws=50), _heroin_shares(2, 50))
    total = world_by_source(out, us)
    assert "CHN" in total.source.values and "none" not in total.source.values


def test_draws_not_numbered_from_zero_still_pair_draw_by_draw():
    """Fits thinned or sliced carry draw labels other than 0..n-1: the shares take the
    deaths' labels, so no draw is dropped (an inner join) or zero-filled (an outer one)."""
    deaths = _deaths(draws=100).isel(draw=slice(None, None, 2))  # labels 0, 2, ..., 98
    out = attribute(deaths, MARKET_OF, _shares(), seed=3)
    assert out.sizes["draw"] == 50
    np.testing.assert_array_equal(out["draw"].values, deaths["draw"].values)
    xr.testing.assert_allclose(out.sum(["market", "source"]), deaths.sum("location"))
    us = _us(draws=50).assign_coords(draw=np.arange(1000, 1050))
    us_out = attribute_us(us, _heroin_shares(2, 40), seed=3)
    xr.testing.assert_allclose(us_out.sum(["supply_chain", "source"]),
                               us.sel(drug="any_opioid", drop=True))
    assert float(us_out.sel(supply_chain="heroin").sum()) > 0
    with pytest.raises(ValueError, match="different draw labels"):
        world_by_source(out, us_out)


def test_overlap_from_nida_table():
    rows = []
    for year, h, hs in [(2017, 15482.0, 8091.0), (2018, 14996.0, 9068.0)]:
        for drug, value in (("heroin", h), (OVERLAP_DRUG, hs)):
            rows.append({"year": year, "drug": drug, "group": "all", "sex": "both",
                         "measure": "deaths", "value": value, "source": "test"})
    frac = overlap_from_nida(pd.DataFrame(rows))
    np.testing.assert_allclose(frac.values, [8091 / 15482, 9068 / 14996])


@pytest.mark.realdata
def test_overlap_from_real_nida_table(raw_file):
    from burden.data.cleaning import CleaningLog
    from burden.data.loaders import nida

    path = raw_file("nida_deaths")
    table = nida.load(path, CleaningLog("nida_deaths", str(path)), "nida_deaths")
    frac = overlap_from_nida(table)
    assert ((frac > 0) & (frac < 1)).all()
    # the fentanyl era: a growing share of heroin deaths also involve synthetic opioids
    assert float(frac.sel(year=2019)) > 3 * float(frac.sel(year=2010))


def test_attribute_from_saved_adds_up_draw_by_draw(pipeline):
    """The session pipeline's attribution file (deaths by drug type, the composition fit):
    every market's chains add up to its countries' deaths, and the world table's total
    (every market, chain and source, the not-attributed rows included) equals the deaths
    model's world estimate, draw by draw; the definition is the deaths model's."""
    from burden.attribution import DEATHS_DEFINITION, SCENARIOS, read_attribution
    from burden.fits import load_fit
    from burden.registry.keys import WORLD_ID
    from burden.registry.markets import market_of

    saved = read_attribution(pipeline.models / "attribution.nc")
    # the saved deaths fit the attribution read (the same draws as the in-memory one,
    # its Deterministics recomputed on load)
    deaths = load_fit("deaths", pipeline.models)
    by_type = saved["by_type"]
    years = by_type["year"].values.tolist()
    locations = deaths.data["locations"]
    assert by_type.sizes["market"] >= 3
    # every market's members are stored, and the summary's members table says the same
    assert sorted(saved["market_members"]) == sorted(by_type["market"].values.tolist())
    table = pd.read_csv(pipeline.models / "attribution" / "markets.csv")
    assert table.groupby("market")["location_id"].apply(sorted).to_dict() == \
        saved["market_members"]
    for market in by_type["market"].values[:4]:
        members = [c for c in locations["iso3"] if market_of(c, locations) == market]
        assert members, market
        assert saved["market_members"][market] == sorted(members)
        expected = deaths.predict(location=members, years=years).sum("location")
        parts = (by_type["illicit_opiate"].sum("source")
                 + by_type["illicit_synthetic"].sum("synthetic_source")
                 + by_type["not_attributed"]).sel(market=market, drop=True)
        np.testing.assert_allclose(parts.transpose(*expected.dims).values, expected.values,
                                   rtol=1e-9)
    world = saved["world"].sel(market="World", drop=True).sum(["supply_chain", "source"])
    estimate = deaths.predict(location=WORLD_ID, years=years)
    np.testing.assert_allclose(world.transpose(*estimate.dims).values, estimate.values,
                               rtol=1e-9)
    np.testing.assert_allclose(saved["world_deaths"].values, estimate.values, rtol=1e-9)
    assert saved["definition"] == DEATHS_DEFINITION
    assert set(saved["scenario_assumptions"]) == set(SCENARIOS)
    # every attributable-deaths table names the estimand in every row
    for table in ("summary", "sensitivity"):
        rows = pd.read_csv(pipeline.models / "attribution" / f"{table}.csv")
        assert (rows["definition"] == DEATHS_DEFINITION).all(), table
    # the years after the deaths fit's data are flagged projected, as in its own summary
    summary = pd.read_csv(pipeline.models / "attribution" / "summary.csv")
    last = deaths.inputs().last_data_year
    np.testing.assert_array_equal(summary["projected"], summary["year"] > last)
    assert summary["projected"].any() and not summary["projected"].all()


def test_world_by_source_keeps_only_years_the_us_covers():
    """The deaths model runs 1990-2024 but the US drug split only where NCHS informs it: a
    world total must not silently drop the US in the other years."""
    out = attribute(_deaths(), MARKET_OF, _shares())
    us = attribute_us(_us(chains=2, draws=50), _heroin_shares(2, 50))
    us_short = us.sel(year=us.year.values[1:])
    total = world_by_source(out, us_short)
    assert list(total.year.values) == [y for y in out.year.values if y in us_short.year.values]


def test_sensitivity_rows_of_rare_deaths_are_kept_and_valid():
    """A source a scenario gives deaths in a few draws only (upper 0 < mean) keeps its
    row, and so does a source-year one scenario gives none (0, not a missing mark); each
    assumption as stored ("Beta(1, 1)", not its mean)."""
    from burden.result_schemas import SENSITIVITY
    from burden.summarise import sensitivity_summary

    values = np.zeros((2, 1, 200, 1, 1, 2, 1))  # scenario, chain, draw, market, chain, src
    values[0, 0, :, 0, 0, 0, 0] = 100.0  # MEX: deaths in every draw of both scenarios
    values[1, 0, :, 0, 0, 0, 0] = 100.0
    values[0, 0, :2, 0, 0, 1, 0] = 5.0  # CHN: 2 draws of 200 in the default, none else
    saved = {"scenarios": xr.DataArray(
        values, dims=("scenario", "chain", "draw", "market", "supply_chain", "source", "year"),
        coords={"scenario": ["default", "synthetic all Mexico"], "market": ["USA"],
                "supply_chain": ["illicit_synthetic"], "source": ["MEX", "CHN"],
                "year": [2008]}),
        "scenario_assumptions": {
            "default": {"mexico_share": "Beta(8, 2)", "both_to_opiate": "Beta(1, 1)"},
            "synthetic all Mexico": {"mexico_share": "1", "both_to_opiate": "Beta(1, 1)"}},
        "definition": "gbd_use_disorder"}
    table = SENSITIVITY.validate(sensitivity_summary(saved)).set_index(["scenario", "source"])
    assert len(table) == 4
    chn = table.loc[("default", "CHN")]
    assert chn["upper"] == 0 < chn["mean"] == pytest.approx(0.05)
    assert table.loc[("synthetic all Mexico", "CHN"), "mean"] == 0
    assert set(table["both_to_opiate"]) == {"Beta(1, 1)"}


def test_attribute_from_saved_refuses_unlisted_countries_and_totals_that_do_not_add_up():
    """Its two checks before writing: a country of the deaths fit missing from the
    locations table (no market would take its deaths), and markets whose deaths do not
    sum to the world draws (a country left out, draw by draw)."""
    from burden.attribution import check_adds_up, check_all_listed

    check_all_listed({"DEU", "FRA"}, ["DEU", "FRA"])
    with pytest.raises(ValueError, match=r"countries \['TWN'\] \(of 1\) are not in its "
                                         "locations table"):
        check_all_listed({"DEU", "TWN"}, ["DEU"])
    deaths = _deaths()
    by_market = deaths.assign_coords(
        market=("location", [MARKET_OF[c] for c in deaths.location.values])
    ).groupby("market").sum()
    world = deaths.sum("location")
    check_adds_up(by_market, world)
    short = by_market.copy()
    short.loc[{"market": "Oceania"}] = 0.0  # AUS's deaths in no market
    with pytest.raises(ValueError, match="do not add up to the deaths fit's world draws"):
        check_adds_up(short, world)


def test_market_members_groups_locations_by_market_sorted():
    """Market -> its locations, both sorted; a market region keeps only the countries that
    are not markets of their own (the registry's North America: Greenland)."""
    from burden.attribution import market_members
    from burden.registry.markets import market_of

    mapping = {c: market_of(c) for c in ("USA", "GRL", "CAN", "MEX", "FRA", "DEU")}
    assert market_members(mapping) == {
        "CAN": ["CAN"], "MEX": ["MEX"], "North America": ["GRL"], "USA": ["USA"],
        "Western and Central Europe": ["DEU", "FRA"]}
