"""Composition of opioid deaths by drug type, and the attribution built on it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

from burden.attribution import (
    SCENARIOS,
    TypeAssumptions,
    attribute_by_type,
    country_balance,
    market_groups,
    split_into_table,
    split_market_groups,
    world_table,
)
from burden.data.cleaning import CleaningLog
from burden.models.composition import OpioidComposition
from burden.models.composition_data import (
    GROUPS,
    canada_block,
    joined,
    prevalence_ratio,
    seizure_shares,
    us_block,
    us_overlap_share,
    us_provisional_block,
)
from burden.models.fast_diagnostics import ESS_MIN, RHAT_MAX
from burden.registry.keys import NOT_ATTRIBUTED, SYNTHETIC_UNIDENTIFIED

YEARS = [2015, 2016, 2017]
LOCS = ["USA", "CAN", "DEU", "NGA"]
MARKET_OF = {"USA": "USA", "CAN": "CAN", "DEU": "Europe", "NGA": "Africa"}
MARKETS = ["USA", "CAN", "Europe", "Africa"]
OPIATE_SOURCES = ["AFG", "MMR", "MEX"]


def _deaths(chains=2, draws=40, seed=0):
    rng = np.random.default_rng(seed)
    return xr.DataArray(rng.gamma(20.0, 50.0, size=(chains, draws, len(LOCS), len(YEARS))),
                        dims=("chain", "draw", "location", "year"),
                        coords={"chain": range(chains), "draw": range(draws),
                                "location": LOCS, "year": YEARS})


def _composition(chains=2, draws=40, seed=1):
    rng = np.random.default_rng(seed)
    v = rng.dirichlet([2, 3, 1, 4], size=(chains, draws, len(LOCS), len(YEARS)))
    return xr.DataArray(v, dims=("chain", "draw", "location", "year", "group"),
                        coords={"chain": range(chains), "draw": range(draws),
                                "location": LOCS, "year": YEARS, "group": list(GROUPS)})


def _shares(chains=2, draws=40, markets=MARKETS, seed=2):
    rng = np.random.default_rng(seed)
    v = rng.dirichlet([3, 2, 1], size=(chains, draws, len(markets), len(YEARS)))
    return xr.DataArray(v.transpose(0, 1, 2, 4, 3),
                        dims=("chain", "draw", "market", "source", "year"),
                        coords={"chain": range(chains), "draw": range(draws),
                                "market": list(markets), "source": OPIATE_SOURCES,
                                "year": YEARS})


# ---- the composition summary ------------------------------------------------------------------
def test_summary_equals_the_summary_of_every_country_year_draw(composition_fit):
    """``summary`` summarises modelled shares once per location (they are constant over
    years) and measured years apart: the table must equal ``interval_summary`` of the full
    (chain, draw, location, year, group) draws, involving shares included; a subset of
    locations and years gives the same rows as the full table."""
    from burden.draws import interval_summary

    est = composition_fit
    table = est.summary()
    draws = est.group_draws()
    involving = xr.concat(
        [draws.sel(group=["opiate_only", "opiate_and_synthetic"]).sum("group"),
         draws.sel(group=["synthetic_only", "opiate_and_synthetic"]).sum("group")],
        dim=pd.Index(["involving_illicit_opiate", "involving_illicit_synthetic"],
                     name="group"))
    ref = interval_summary(xr.concat([draws, involving], "group").rename("share"))
    assert len(table) == len(ref)
    assert (table["location_id"].to_numpy() == ref["location"].to_numpy()).all()
    assert (table["year"].to_numpy() == ref["year"].to_numpy()).all()
    assert (table["group"].to_numpy() == ref["group"].to_numpy()).all()
    for col in ("lower", "upper"):  # order statistics: exactly the same
        np.testing.assert_array_equal(table[col].to_numpy(), ref[col].to_numpy())
    # means: the same draws summed in another order (last bits only)
    np.testing.assert_allclose(table["mean"].to_numpy(), ref["mean"].to_numpy(),
                               rtol=1e-12, atol=1e-15)
    # measured cells come from the measured draws, not the model
    measured = table[table["measured"]]
    assert set(measured["location_id"]) <= set(est.measured_draws())
    assert not measured.empty

    other = next(x for x in table["location_id"] if x != "USA")
    locs, years = ["USA", other, "USA"], [int(table["year"].iloc[-1])]  # repeats: once
    part = est.summary(locs, years)
    full = table.set_index(["location_id", "year", "group"])
    got = part.set_index(["location_id", "year", "group"])
    assert len(got) == 2 * len(years) * table["group"].nunique()
    pd.testing.assert_frame_equal(got, full.loc[got.index])
    with pytest.raises(ValueError, match="not in the fit"):
        est.summary(["XXX"])


def test_us_years_after_nida_are_measured_with_the_overlap_drawn_between_its_bounds(
        composition_fit):
    """The fit's US draws in the VSRR years: heroin-involved deaths (opiate only + both)
    are VSRR's heroin share up to Dirichlet noise, and the share of them that also involve
    a synthetic opioid spreads over its bounds (NIDA's last year to 1), drawn afresh each
    draw; those years are measured, not from the prior."""
    est = composition_fit
    block = next(b for b in est.measured_blocks() if b.iso3 == "USA")
    later = ~np.isnan(block.overlap_bounds[:, 0])
    assert later.any()
    us = est.measured_draws()["USA"]
    quantiles = []
    for year, counts, (lo, hi) in zip(block.years[later], block.counts[later],
                                      block.overlap_bounds[later]):
        d = us.sel(year=year)
        heroin = d.sel(group=["opiate_only", "opiate_and_synthetic"]).sum("group")
        share = counts[GROUPS.index("opiate_only")] / counts.sum()
        assert float(heroin.mean()) == pytest.approx(share, rel=0.02)
        q = (d.sel(group="opiate_and_synthetic") / heroin).values.ravel()
        assert lo - 0.02 < q.min() < lo + 0.1 and hi - 0.1 < q.max() <= hi + 1e-9
        quantiles.append((q - lo) / (hi - lo))
    # one overlap a draw, at the same quantile of its range in every year (up to the
    # Dirichlet noise of the counts): years correlate, not drawn independently
    if len(quantiles) > 1:
        assert np.corrcoef(quantiles[0], quantiles[-1])[0, 1] > 0.8
    table = est.summary(["USA"], [int(y) for y in block.years[later]])
    assert table["measured"].all() and not table["prior_driven"].any()


def test_group_draws_resampled_first_are_the_resampled_group_draws(composition_fit):
    """``group_draws(resample=...)`` (the attribution's: resampled before the years are
    spread) gives exactly ``resample_draws`` of the full draws, measured cells included,
    for fewer draws (without replacement) and more (with)."""
    from burden.draws import resample_draws

    est = composition_fit
    post = est.posterior
    known = est.modelled_draws()["location"].values.tolist()
    measured = [c for c in est.measured_draws() if c in known]
    assert measured  # the fixture has measured countries: their cells are checked too
    locations = [*measured, *[c for c in known if c not in measured][:3]]
    years = est.years.tolist()[-12:]
    total = post.sizes["chain"] * post.sizes["draw"]
    for chains, n_draw in ((2, total // 2 - 3), (3, total)):
        expected = resample_draws(est.group_draws(locations, years), chains, n_draw, 11)
        got = est.group_draws(locations, years, resample=(chains, n_draw, 11))
        assert got.sizes["chain"] == chains and got.sizes["draw"] == n_draw
        np.testing.assert_array_equal(got.values, expected.values)


def test_posterior_predictive_knows_the_data_of_the_fit(composition_fit):
    """The data-centred effects depend on the evidence containers: the predictive draws
    are of the fit's data, and other data in a container is an error, not a warning."""
    pp = composition_fit.sample_posterior_predictive(thin=10)
    observed = {rv.name for rv in composition_fit.built_model().observed_RVs}
    assert observed and observed <= set(pp["posterior_predictive"].data_vars)
    assert observed <= set(pp["observed_data"].data_vars)  # as PyMC returns them
    # the check has teeth: with other data in a container the draws are refused
    import pymc as pm

    model, name = composition_fit.built_model(), "prevalence_logit"
    saved = model[name].get_value()
    try:
        pm.set_data({name: saved + 1.0}, model=model)
        with pytest.raises(ValueError, match="'prevalence_logit' does not hold the value"):
            composition_fit.sample_posterior_predictive(thin=10)
    finally:
        pm.set_data({name: saved}, model=model)


# ---- attribution by drug type -------------------------------------------------------------
def test_every_country_year_draw_attributed_plus_not_attributed_equals_deaths():
    deaths = _deaths()
    shares = _shares().sel(market=[MARKET_OF[c] for c in LOCS])
    shares = shares.assign_coords(market=LOCS).rename(market="location")
    for a in SCENARIOS.values():
        out = country_balance(deaths, _composition(), shares, a)
        total = out["attributed"] + out["not_attributed"]
        xr.testing.assert_allclose(total.transpose(*out["deaths"].dims), out["deaths"])
        # and the not-attributed part is exactly the no-illicit-opioid group
        expected = (deaths * _composition().sel(group="not_illicit", drop=True))
        xr.testing.assert_allclose(
            out["not_attributed"].sel(location=LOCS).transpose(*expected.dims), expected)


def test_each_markets_opiate_deaths_follow_that_markets_shares_draw_by_draw():
    """The opiate chain of a market is its opiate deaths times its own shares, draw by
    draw, whatever the order of the markets in the shares (given here reversed)."""
    deaths, comp, shares = _deaths(), _composition(), _shares()
    out = attribute_by_type(deaths, comp, MARKET_OF, shares.isel(market=slice(None, None, -1)))
    opiate = out["illicit_opiate"]
    for market in MARKETS:
        expected = opiate.sel(market=market).sum("source") * shares.sel(market=market)
        xr.testing.assert_allclose(opiate.sel(market=market),
                                   expected.transpose(*opiate.sel(market=market).dims))


def test_by_type_chains_follow_their_markets_and_the_world_table_adds_up():
    deaths, comp = _deaths(), _composition()
    out = attribute_by_type(deaths, comp, MARKET_OF, _shares())
    parts = (out["illicit_opiate"].sum("source") + out["illicit_synthetic"].sum(
        "synthetic_source") + out["not_attributed"])
    xr.testing.assert_allclose(parts.transpose(*out["deaths"].dims), out["deaths"])
    synth = out["illicit_synthetic"]
    # North America: Mexico and China; elsewhere the unidentified source only
    assert float(synth.sel(market=["Europe", "Africa"], synthetic_source=["MEX", "CHN"])
                 .max()) == 0.0
    assert float(synth.sel(market=["USA", "CAN"], synthetic_source=SYNTHETIC_UNIDENTIFIED)
                 .max()) == 0.0
    # the Mexican share is a prior carried through the draws, not one number
    us = synth.sel(market="USA", year=2016)
    mex_share = (us.sel(synthetic_source="MEX") / us.sum("synthetic_source")).values
    assert mex_share.std() > 0.03 and 0.6 < mex_share.mean() < 0.95
    table = world_table(out)
    world = table.sel(market="World").sum(["supply_chain", "source"])
    xr.testing.assert_allclose(world.drop_vars("market"),
                               deaths.sum("location").transpose(*world.dims))
    assert NOT_ATTRIBUTED in table["source"].values


def test_market_groups_are_the_sums_of_their_locations_draw_by_draw():
    """``market_groups`` (numpy, a block of draws at a time) against the plain xarray sums:
    more composition draws than deaths draws (resampled), a block boundary inside the
    draws, locations out of the composition's order, a year out of the composition's
    years, and a market-year with no deaths in some draws (all not attributed there)."""
    from burden.attribution import align_draws

    deaths = _deaths(chains=2, draws=300, seed=5)
    deaths.loc[{"location": "NGA", "year": 2016}] = 0.0  # Africa's only location
    deaths = deaths.sel(location=["NGA", "USA", "DEU", "CAN"])
    extra = deaths.isel(year=[0]).assign_coords(year=[2014])
    deaths = xr.concat([extra, deaths], "year")
    comp = _composition(chains=3, draws=400, seed=6)
    out = market_groups(deaths, comp, MARKET_OF, seed=4)

    d = deaths.sel(year=YEARS)
    c = align_draws(d, comp.sel(location=d["location"].values, year=YEARS), 4)
    market = ("location", [MARKET_OF[x] for x in d["location"].values])
    total = d.assign_coords(market=market).groupby("market").sum()
    groups = (d * c).assign_coords(market=market).groupby("market").sum()
    nothing = xr.DataArray([0.0] * (len(GROUPS) - 1) + [1.0], dims="group",
                           coords={"group": list(GROUPS)})
    fraction = (groups / total).fillna(0.0).where(total > 0, nothing)
    fraction = fraction.transpose(*groups.dims)
    np.testing.assert_allclose(out["deaths"].transpose(*total.dims).values, total.values,
                               rtol=1e-13)
    np.testing.assert_allclose(
        out["fraction"].transpose(*fraction.dims).values, fraction.values, rtol=1e-12,
        atol=1e-15)
    assert out["market"].values.tolist() == sorted(MARKETS)
    africa = out["fraction"].sel(market="Africa", year=2016)
    assert (africa.sel(group=GROUPS[-1]) == 1.0).all()
    assert (africa.sel(group=list(GROUPS[:-1])) == 0.0).all()
    np.testing.assert_allclose(out["fraction"].sum("group"), 1.0, rtol=1e-12)


def test_split_into_table_gives_the_split_and_its_world_table_in_one_pass():
    deaths, comp = _deaths(), _composition()
    groups = market_groups(deaths, comp, MARKET_OF, seed=3)
    a = TypeAssumptions()
    expected = split_market_groups(groups, _shares(), a, seed=3)
    by_type, table = split_into_table(groups, _shares(), a, seed=3)
    xr.testing.assert_identical(by_type, expected)
    # the markets' rows exactly; the World row is the same sum, perhaps in another order
    full = world_table(expected)
    markets = full.isel(market=slice(None, -1))  # the World row is last
    xr.testing.assert_identical(table.isel(market=slice(None, -1)), markets)
    xr.testing.assert_allclose(table, full, rtol=1e-14, atol=0.0)
    # the opiate chain is a view of the table (the table is the only copy)
    assert np.shares_memory(by_type["illicit_opiate"].values, table.values)
    # written into a given array (the scenarios' stack) without a copy
    target = np.zeros((2, *markets.shape))
    _, into = split_into_table(groups, _shares(), a, seed=3, with_world=False,
                               out=target[1])
    assert np.shares_memory(into.values, target)
    np.testing.assert_array_equal(target[1], markets.values)
    assert not target[0].any()
    with pytest.raises(ValueError, match="out has shape"):
        split_into_table(groups, _shares(), a, seed=3, out=target[1])


def test_scenarios_fix_the_priors():
    deaths, comp = _deaths(), _composition()
    mex = attribute_by_type(deaths, comp, MARKET_OF, _shares(),
                            TypeAssumptions(mexico_share=1.0))
    assert float(mex["illicit_synthetic"].sel(synthetic_source="CHN").max()) == 0.0
    opi = attribute_by_type(deaths, comp, MARKET_OF, _shares(),
                            TypeAssumptions(both_to_opiate=1.0))
    expected = (deaths * comp.sel(group=["opiate_only", "opiate_and_synthetic"]).sum(
        "group")).sel(location="DEU", drop=True)
    got = opi["illicit_opiate"].sel(market="Europe", drop=True).sum("source")
    xr.testing.assert_allclose(got.transpose(*expected.dims), expected)
    with pytest.raises(ValueError, match="mexico_share"):
        TypeAssumptions(mexico_share=1.5)


def test_attribute_by_type_rejects_missing_inputs():
    with pytest.raises(ValueError, match="no market"):
        attribute_by_type(_deaths(), _composition(), {"USA": "USA"}, _shares())
    with pytest.raises(ValueError, match="no opiate shares"):
        attribute_by_type(_deaths(), _composition(), MARKET_OF,
                          _shares(markets=["USA", "CAN", "Europe"]))
    with pytest.raises(ValueError, match="no composition"):
        attribute_by_type(_deaths(), _composition().sel(location=LOCS[:3]), MARKET_OF,
                          _shares())


# ---- measured blocks on the real files ------------------------------------------------------
def _real(raw_file, source_id, loader):
    path = raw_file(source_id)
    return loader.load(path, CleaningLog(source_id, str(path)), source_id)


def test_us_block_from_real_nida_table_adds_up_and_pre_era_t404_is_pharmaceutical(
        raw_file):
    from burden.data.loaders import nida
    from burden.models.composition_data import us_synthetic_baseline

    table = _real(raw_file, "nida_deaths", nida)
    block = us_block(table)
    w = table[(table.measure == "deaths") & (table.group == "all") & (table.sex == "both")]
    anyop = w[w.drug == "any_opioid"].set_index("year")["value"]
    assert np.allclose(block.counts.sum(axis=1), anyop.loc[block.years].to_numpy())
    assert (block.counts >= 0).all()
    m, _sd = us_synthetic_baseline(table, (2010, 2012))
    s = w[w.drug == "synthetic_opioids"].set_index("year")["value"]
    # the baseline is the 2010-2012 level of T40.4 deaths (NIDA), and T40.4 deaths were
    # near it before 2013 and far above it from 2015 (the illicit-fentanyl era)
    assert np.exp(m) == pytest.approx(np.exp(np.log(s.loc[2010:2012]).mean()))
    assert s.loc[2005:2012].max() < 1.5 * np.exp(m) < s.loc[2015]


def test_us_provisional_block_from_real_vsrr_file_splits_into_disjoint_groups(raw_file):
    """After the NIDA table's last year (2019), the US block takes VSRR's December counts
    (12 months ending December: the calendar year; predicted where VSRR flags the month
    underreported), with the share of heroin deaths that also involve a synthetic opioid
    bounded by NIDA 2019's (8,746 of 14,019) and 1; at both bounds the groups are
    disjoint, non-negative and add up to VSRR's any-opioid deaths."""
    from burden.data.loaders import nida, vsrr

    nida_table = _real(raw_file, "nida_deaths", nida)
    vsrr_table = _real(raw_file, "vsrr_national", vsrr)
    block = us_provisional_block(vsrr_table, nida_table)
    assert us_overlap_share(nida_table) == (2019, pytest.approx(8746 / 14019))
    dec = vsrr_table[vsrr_table["month"] == 12]
    full_years = sorted(dec.loc[dec["year"] > 2019, "year"].unique())
    assert block.years.tolist() == full_years and full_years[0] == 2020
    assert 2025 not in full_years  # VSRR's 2025 ends before December in this release
    for i, year in enumerate(block.years):
        rows = dec[dec["year"] == year].set_index("indicator")
        pick = {k: rows.loc[k, "predicted_value"] if rows.loc[k, "underreported"]
                else rows.loc[k, "value"] for k in ("heroin", "synthetic_opioids",
                                                    "any_opioid")}
        for q in block.overlap_bounds[i]:
            c = block.with_overlap(np.full(len(block.years), q))[i]
            assert (c >= 0).all() and c.sum() == pytest.approx(pick["any_opioid"])
            heroin = c[GROUPS.index("opiate_only")] + c[GROUPS.index("opiate_and_synthetic")]
            synthetic = (c[GROUPS.index("synthetic_only")]
                         + c[GROUPS.index("opiate_and_synthetic")])
            assert heroin == pytest.approx(pick["heroin"])
            assert synthetic == pytest.approx(pick["synthetic_opioids"])
    # VSRR 2023 (reported, 12 months ending December 2023): 4,062 heroin-involved of
    # 80,719 opioid deaths, so at most 5.0% involve an illicit opiate
    i = block.years.tolist().index(2023)
    assert block.counts[i, GROUPS.index("opiate_only")] == 4062
    assert block.counts[i].sum() == 80719
    us = joined(us_block(nida_table), block)
    assert us.years.tolist() == list(range(1999, 2020)) + full_years
    assert np.isnan(us.overlap_bounds[:21]).all() and not np.isnan(us.overlap_bounds[21:]).any()
    # a counted year is unchanged by with_overlap
    assert np.array_equal(us.with_overlap(np.ones(len(us.years)))[:21], us.counts[:21])


def _vsrr_rows(year=2020, month=12, **values):
    parts = {"heroin": 5_000.0, "synthetic_opioids": 50_000.0, "any_opioid": 60_000.0,
             **values}
    return pd.DataFrame([{"year": year, "month": month, "indicator": k, "value": v,
                          "predicted_value": v, "underreported": False}
                         for k, v in parts.items() if v is not None])


def _nida_rows():
    return pd.DataFrame([{"year": 2019, "drug": d, "group": "all", "sex": "both",
                          "measure": "deaths", "value": v}
                         for d, v in (("any_opioid", 49_860.0), ("heroin", 14_019.0),
                                      ("synthetic_opioids", 36_359.0),
                                      ("heroin_and_synthetic_opioids", 8_746.0))])


@pytest.mark.parametrize(("table", "message"), [
    (_vsrr_rows().drop(columns="underreported"), r"lacks columns \['underreported'\]"),
    (_vsrr_rows(any_opioid=None), r"December of \[2020\] lacks \['any_opioid'\]"),
    (pd.concat([_vsrr_rows(2020), _vsrr_rows(2021, heroin=None)]),
     r"December of \[2021\] lacks \['heroin'\]"),
    (_vsrr_rows(synthetic_opioids=4_000.0, any_opioid=9_000.0),
     r"cannot be split.*synthetic >= heroin.*2020: heroin 5,000, synthetic 4,000, any.*"),
    (_vsrr_rows(any_opioid=51_000.0), r"cannot be split.*2020: heroin 5,000"),
    (_vsrr_rows(heroin=-1.0), r"cannot be split.*heroin >= 0.*2020: heroin -1"),
    (_vsrr_rows(heroin=float("nan")), r"December counts missing.*2020 heroin value"),
    (_vsrr_rows().assign(underreported=True, predicted_value=float("nan")),
     r"December counts missing.*2020 heroin predicted_value"),
])
def test_us_provisional_block_refuses_counts_it_cannot_split(table, message):
    with pytest.raises(ValueError, match=message):
        us_provisional_block(table, _nida_rows())


def test_us_provisional_block_reads_only_december_after_the_nida_years():
    table = pd.concat([_vsrr_rows(2019), _vsrr_rows(2020, month=6, heroin=1.0),
                       _vsrr_rows(2020), _vsrr_rows(2021, month=6)])
    table.loc[(table["year"] == 2020) & (table["month"] == 12)
              & (table["indicator"] == "heroin"), ["underreported", "predicted_value"]] = (
        True, 5_500.0)
    block = us_provisional_block(table, _nida_rows())
    assert block.years.tolist() == [2020]  # 2019 is NIDA's; 2021 has no December
    assert block.counts[0].tolist() == [5_500.0, 50_000.0, 0.0, 60_000.0 - 55_500.0]
    assert block.overlap_bounds.tolist() == [[pytest.approx(8746 / 14019), 1.0]]
    with pytest.raises(ValueError, match="later years"):
        joined(block, us_block(_nida_rows()))


def test_canada_block_from_real_phac_file(raw_file):
    from burden.data.loaders import phac

    table = _real(raw_file, "phac_harms", phac)
    block = canada_block(table)
    assert block.years.min() == 2018  # the first year with percent by origin
    deaths = table[(table.location_id == "CAN") & (table.measure == "deaths")
                   & (table.category == "all_opioids") & table.quarter.isna()
                   & (table.unit == "number")].set_index("year")["value"]
    assert np.allclose(block.counts.sum(axis=1), deaths.loc[block.years].to_numpy())
    shares = block.counts / block.counts.sum(axis=1, keepdims=True)
    # PHAC: most Canadian opioid deaths involve non-pharmaceutical opioids, mostly fentanyl
    assert (shares[:, GROUPS.index("synthetic_only")] > 0.5).all()


def test_prevalence_ratio_and_seizure_shares_record_what_they_use():
    prev = pd.DataFrame([
        {"iso3": i, "year": 2015, "drug_group": "Opioids and Opiates", "drug": d,
         "sex": "both", "prevalence_pct": v}
        for i, d, v in [("DEU", "Opiates", 0.2), ("DEU", "Opioids", 0.4),
                        ("GBR", "Opiates", 0.9), ("GBR", "Opioids", 0.3),
                        ("FRA", "Opiates", 0.1)]])
    obs, usage = prevalence_ratio(prev, ["DEU", "GBR", "FRA"])
    assert obs.set_index("iso3")["ratio"].to_dict() == {"DEU": 0.5, "GBR": 0.98}
    assert "clipped" in usage.set_index("record").loc["GBR 2015", "how"]
    assert not usage.set_index("record").loc["FRA 2015", "used"]
    seiz = pd.DataFrame({"iso3": ["DEU", "DEU", "FRA"], "kilograms": [3.0, 1.0, 0.1],
                         "opioid_class": ["illicit_opiate", "pharmaceutical",
                                          "illicit_opiate"]})
    obs, usage = seizure_shares(seiz, ["DEU", "FRA"], min_kg=1.0)
    assert obs.set_index("iso3").loc["DEU", "illicit_opiate"] == pytest.approx(0.75)
    assert "FRA" not in obs["iso3"].values
    assert "< 1 kg" in usage.set_index("record").loc["FRA", "reason"]


# ---- parameterisation ---------------------------------------------------------------------------
def test_data_centred_and_noncentred_effects_have_the_same_prior():
    """The two parameterisations are one model: prior draws of every country's class shares
    agree (mean and sd by country and class, 4,000 draws each: Monte Carlo se of a
    difference of means ~0.007), on a simulated data set whose surveys are precise
    (sigma_prev 0.04), where the data-centred form is far from the non-centred one."""
    from burden.models.batched import prior_draws
    from burden.models.composition_sim import simulate
    from burden.models.deaths_sim import sim_locations

    tables, truth = simulate(sim_locations(), 102)
    assert truth["sigma_prev"] < 0.05
    draws = {}
    for form in ("data_centred", "noncentred"):
        est = OpioidComposition({"country_effects": form})
        model = est.build_model(est.prepare_data(tables))
        # PyMC's draws, drawn at once: 1.2 s for the test against 11.1 s drawn by a Numba
        # sampler compiled with an empty cache (pytest --durations, one process,
        # 2026-12-05 19:18-19:40 UTC, docs/performance.md)
        prior = prior_draws(model, 4000, var_names=["theta"], random_seed=5)
        draws[form] = prior["prior"]["theta"]
    a, b = draws["data_centred"], draws["noncentred"]
    assert float(abs(a.mean(("chain", "draw")) - b.mean(("chain", "draw"))).max()) < 0.03
    assert float(abs(a.std(("chain", "draw")) - b.std(("chain", "draw"))).max()) < 0.03
    assert float(b.std(("chain", "draw")).min()) > 0.2  # wide: the check has teeth


def test_unknown_country_effects_is_refused():
    from burden.errors import ConfigError
    from burden.models.composition_sim import simulate
    from burden.models.deaths_sim import sim_locations

    tables, _ = simulate(sim_locations(), 101)
    est = OpioidComposition({"country_effects": "centred"})
    with pytest.raises(ConfigError, match="country_effects"):
        est.build_model(est.prepare_data(tables))


# ---- recovery ---------------------------------------------------------------------------------
#: seeds of the simulated data sets (each a draw of every parameter from the priors)
RECOVERY_SEEDS = (101, 102, 103, 104, 105)


#: divergences allowed in a recovery fit: 0.1% of its 8,000 draws. Not 0: on data set 102
#: (precise surveys, sigma_prev 0.044) the fit has a few divergences in about half of all
#: sampler seeds, at small sigma_country[illicit_opiate] (0.01-0.15, its posterior's lower
#: 1-5%): at 1,000 draws a chain, 8 in 5 of 10 seeds with the code of 2026-11-30 13:30 and
#: 6 in 4 of 10 with the code before it (which had none on the seed this test uses: luck).
#: An open defect of the model, docs/models/composition.md ("Recovery"); R-hat and ESS
#: must still hold.
RECOVERY_MAX_DIVERGENCES = 8


@pytest.mark.slow
@pytest.mark.validation
def test_composition_recovers_simulated_shares():
    """Simulated data sets (parameters drawn from the priors, data from the likelihood, 42
    countries in 21 regions), refitted: the share of true country compositions (country x
    class) inside their 90% posterior intervals, pooled over the data sets. Calibrated
    intervals cover 90%; the test asserts the pooled coverage is at least the 0.1%
    quantile of Binomial(n, 0.9) (n = values checked). Values within a data set share
    hyperparameters, so their coverages are positively correlated and the binomial band
    is narrower than the true spread: a failure here is a reason to look, and the per-set
    coverages are printed."""
    from burden.models.composition_sim import simulate
    from burden.models.deaths_sim import sim_locations

    locations = sim_locations()
    inside, total, per_set = 0, 0, []
    for seed in RECOVERY_SEEDS:
        tables, truth = simulate(locations, seed)
        # the real fit's sampler (nutpie, 4 x 2000): with PyMC's sampler at 2 x 500 the
        # fits did not converge (R-hat 1.015-1.030, measured 2026-11-29)
        model = OpioidComposition(sampler_config={"random_seed": seed})
        model.fit(tables, progressbar=False)
        report = model.convergence_report()
        theta = model.posterior["theta"].stack(sample=("chain", "draw"))
        lo = theta.quantile(0.05, "sample").values
        hi = theta.quantile(0.95, "sample").values
        hit = (truth["theta"] >= lo) & (truth["theta"] <= hi)
        inside += int(hit.sum())
        total += hit.size
        per_set.append(float(hit.mean()))
        print(f"composition recovery seed {seed}: 90% coverage {hit.mean():.3f}, max R-hat "
              f"{report['r_hat_max']:.4f} ({report['worst_r_hat']}), min bulk ESS "
              f"{report['ess_bulk_min']:.0f} ({report['worst_ess']}), "
              f"{report['divergences']} divergences, sigma_prev {truth['sigma_prev']:.3f}")
        # R-hat and ESS by the project's rule; divergences: a few, not none (see
        # RECOVERY_MAX_DIVERGENCES)
        assert report["r_hat_max"] <= RHAT_MAX and report["ess_bulk_min"] >= ESS_MIN, (
            seed, report)
        assert report["divergences"] <= RECOVERY_MAX_DIVERGENCES, (seed, report)
    floor = stats.binom.ppf(0.001, total, 0.9) / total
    print(f"composition recovery: 90% coverage per set {per_set}, pooled "
          f"{inside / total:.3f} (floor {floor:.3f}, n={total})")
    assert inside / total >= floor, (per_set, floor)
