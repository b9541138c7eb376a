"""MarketShares: signature data mapping, route priors, draws, summary, real HSP figures."""

from __future__ import annotations

import warnings
from typing import ClassVar

import numpy as np
import pandas as pd
import pymc as pm
import pytest
import xarray as xr

from burden.draws import resample_draws
from burden.errors import ConfigError
from burden.models import markets_data
from burden.models.markets import MarketShares, basis_of, prepare_signature, walk_design
from burden.models.production import SOURCES
from burden.registry.markets import (
    COUNTRY_MARKETS,
    ROUTE_PRIORS,
    SOURCE_REGIONS,
    US_REGIONS,
    market_of,
)

YEARS = [1998, 2016]
SAMPLER = {"draws": 300, "tune": 400, "chains": 2, "random_seed": 3}


def _sig(year, region, share=np.nan, basis="by weight", publication="p", lower=np.nan,
         upper=np.nan, destination="USA"):
    return {"destination": destination, "year": year, "source_region": region,
            "share_pct": share, "lower_pct": lower, "upper_pct": upper, "basis": basis,
            "publication": publication, "url": None, "verified": True, "note": None,
            "source": "test"}


class StubProduction:
    """Stands in for a fitted OpiumProduction: random production shares (Dirichlet)."""

    input_hashes: ClassVar[dict] = {}

    def __init__(self, chains=2, draws=150, years=YEARS, seed=0):
        rng = np.random.default_rng(seed)
        n_year = years[1] - years[0] + 1
        alpha = np.arange(1, len(SOURCES) + 1, dtype=float)
        values = rng.dirichlet(alpha, size=(chains, draws, n_year)).transpose(0, 1, 3, 2)
        self._shares = xr.DataArray(values, dims=("chain", "draw", "source", "year"),
                                    coords={"chain": range(chains), "draw": range(draws),
                                            "source": list(SOURCES),
                                            "year": np.arange(years[0], years[1] + 1)})

    def share_draws(self):
        return self._shares


# ---- signature rows ----------------------------------------------------------------------
def test_signature_rows_one_composition_per_year_every_row_logged():
    table = pd.DataFrame([
        _sig(2014, "Mexico", 80, publication="A"),
        _sig(2014, "Inconclusive (South America or Mexico)", 3, publication="A"),
        _sig(2014, "Mexico", 79, basis="by samples", publication="B"),
        _sig(2003, "Mexico", upper=5, basis="heroin seized and analysed (DEA chart)"),
        _sig(2012, "South America", lower=50),
        _sig(1993, "Southeast Asia", 68),
        _sig(2014, "Atlantis", 5),
        _sig(2014, "Mexico", 50, destination="CAN"),
    ])
    comps, usage = prepare_signature(table)
    assert usage["used"].tolist() == [True] * 5 + [False] * 3
    assert [c.year for c in comps] == [2003, 2012, 2014]  # one composition per year
    y2014 = comps[2]
    # two printings of one HSP figure enter once, as their mean (A on its conclusive part)
    assert y2014.points == {"mexico": pytest.approx((80 / 97 + 0.79) / 2)}
    assert sorted(y2014.publications) == ["A", "B"]
    assert "one of 2 printings" in usage.loc[0, "how"] and "once" in usage.loc[2, "how"]
    assert comps[0].bounds == [("mexico", "upper", pytest.approx(0.05))]
    assert comps[1].bounds == [("south_america", "lower", pytest.approx(0.5))]
    assert "outside" in usage.loc[5, "reason"] and "Atlantis" in usage.loc[6, "reason"]
    assert (usage.loc[~usage.used, "reason"] != "").all()
    assert (usage.loc[usage.used, "how"] != "").all()


def test_year_composition_normalised_filled_and_bounds_checked_against_points():
    table = pd.DataFrame([
        # every region given, summing to 102%: normalised; a printed 0 read as 0.25%
        _sig(2014, "Mexico", 80), _sig(2014, "South America", 21),
        _sig(2014, "Southwest Asia", 1), _sig(2014, "Southeast Asia", 0),
        # points that take it all: the other regions read as nil
        _sig(2016, "Mexico", 90), _sig(2016, "South America", 10),
        # a bound implied by the year's point, one that adds nothing, a looser duplicate
        _sig(2017, "Mexico", 92), _sig(2017, "Mexico", lower=90, publication="q"),
        _sig(2017, "South America", upper=9), _sig(2017, "Southwest Asia", upper=3),
        _sig(2017, "Southwest Asia", upper=2, publication="q"),
    ])
    comps, usage = prepare_signature(table)
    c14, c16, c17 = comps
    assert sum(c14.points.values()) == pytest.approx(1.0)
    assert c14.points["southeast_asia"] == pytest.approx(0.0025 / 1.0225)
    assert "normalised" in usage.loc[0, "how"]
    assert set(c16.points) == set(US_REGIONS) and c16.rest == []
    assert sum(c16.points.values()) == pytest.approx(1.0)
    assert c17.bounds == [("southwest_asia", "upper", pytest.approx(0.02))]
    reasons = usage.set_index("row")["reason"]
    assert "implied by the year's point" in reasons[7]
    assert "adds nothing" in reasons[8]  # the points leave 8% for the others, < 9%
    assert "tighter upper bound" in reasons[9]
    # the walk is pinned where points are printed, and at a single unreported region
    pinned = markets_data.pinned(comps, 2014, 4)
    assert pinned[0].all() and pinned[2].tolist() == [True, False, False]


def test_dirichlet_groups_sum_latent_shares_into_reported_parts():
    comps, _ = prepare_signature(pd.DataFrame([
        _sig(2012, "Mexico", 45), _sig(1999, "South America", 60), _sig(1999, "Mexico", 24),
        _sig(1999, "Southeast Asia", 10), _sig(1999, "Southwest Asia", 6)]))
    groups = markets_data.dirichlet_groups(comps, 1998)
    assert sorted(groups) == [2, 4]
    two = groups[2]  # Mexico and the rest
    assert two["year"].tolist() == [14] and two["value"].tolist() == [[0.45, 0.55]]
    np.testing.assert_array_equal(two["agg"][0], [[1, 0, 0, 0], [0, 1, 1, 1]])
    np.testing.assert_allclose(groups[4]["value"].sum(-1), 1.0)
    # as printed, for the rounding likelihood: half a whole percent per printed part, the
    # rest (no rounding of its own) 1 minus the printed parts
    np.testing.assert_allclose(two["printed"], [[0.45, 0.55]])
    np.testing.assert_allclose(two["half"], [[0.005, 0.0]])
    np.testing.assert_allclose(groups[4]["printed"], [[0.60, 0.24, 0.10, 0.06]])  # row order


def test_seizure_evidence_per_route_market_says_what_is_missing():
    seizures = pd.DataFrame({
        "iso3": ["DEU", "DEU", "IND", "FRA"], "year": [2019, 2021, 2020, 2020],
        "drug": ["Heroin", "Opium", "Heroin", "Tramadol"],
        "kilograms": [10.0, 2.0, 0.0, 5.0],
        "opioid_class": ["illicit_opiate", "illicit_opiate", "illicit_opiate",
                         "pharmaceutical"]})
    ev = markets_data.seizure_evidence(seizures).set_index("market")
    assert set(ev.index) == set(ROUTE_PRIORS)
    europe = ev.loc["Western and Central Europe"]
    assert (europe.heroin_kg, europe.opium_kg, europe.countries) == (10.0, 2.0, 1)
    assert europe.years == "2019-2021" and europe.has_opiate_seizures
    assert not ev.loc["South Asia", "has_opiate_seizures"]  # India seized 0 kg
    assert markets_data.seizure_evidence(None).empty


def test_basis_of():
    assert basis_of("by weight") == "weight"
    assert basis_of("by samples ('all heroin samples analysed')") == "samples"
    assert basis_of("wholesale seizures analysed (HSP); weight basis not stated on page") == \
        "unstated"


# ---- route registry ------------------------------------------------------------------------
def test_route_priors_are_cited_and_name_known_markets():
    from burden.registry.locations import MARKET_REGIONS

    assert ROUTE_PRIORS
    for market, route in ROUTE_PRIORS.items():
        assert market in MARKET_REGIONS or market in COUNTRY_MARKETS, market
        assert route.citation and route.url.startswith("http") and route.statement
        # a route names at least one main source region (an empty one is a subset of any)
        assert route.main and set(route.main) <= set(SOURCE_REGIONS), (market, route.main)
        assert 0 < route.main_share_mean < 1 and route.concentration > 0


def test_market_of_countries():
    assert market_of("USA") == "USA" and market_of("CAN") == "CAN"
    assert market_of("DEU") in ROUTE_PRIORS
    assert market_of("AUS") == "Oceania"


def test_resample_draws_pass_through_or_seeded_sample():
    da = xr.DataArray(np.arange(24.0).reshape(2, 4, 3), dims=("chain", "draw", "source"))
    assert resample_draws(da, 2, 4, seed=1).equals(
        da.assign_coords(chain=[0, 1], draw=np.arange(4)))
    out = resample_draws(da, 3, 2, seed=1)
    assert out.shape == (3, 2, 3)
    rows = {tuple(r) for r in da.values.reshape(8, 3)}
    assert {tuple(r) for r in out.values.reshape(6, 3)} <= rows
    assert len({tuple(r) for r in out.values.reshape(6, 3)}) == 6  # no repeats: 6 <= 8
    np.testing.assert_array_equal(out, resample_draws(da, 3, 2, seed=1))


# ---- the anchored walk ------------------------------------------------------------------------
def test_walk_design_gives_the_random_walk_covariance():
    """Anchors sampled directly, bridges between them and a walk after the last: the levels
    have the covariance of the plain walk, s0^2 + sigma^2 min(s, t), whatever the anchors."""
    n, s0, sigma = 27, 1.5, 0.6
    t = np.arange(n)
    want = s0**2 + sigma**2 * np.minimum.outer(t, t)
    for measured in ([1, 5, 14, 16, 18, 19, 20], [], [26], [0, 1, 2], [3, 10]):
        d = walk_design(n, measured)
        assert set(d.anchors) == {0, *measured}
        cov_a = s0**2 + sigma**2 * np.minimum.outer(t[d.anchors], t[d.anchors])
        to_all = np.vstack([np.eye(len(d.anchors)), d.interp])
        cov = to_all @ cov_a @ to_all.T
        cov[len(d.anchors):, len(d.anchors):] += sigma**2 * d.bridge @ d.bridge.T
        np.testing.assert_allclose(cov[np.ix_(d.order, d.order)], want, atol=1e-12)


def test_walk_is_centred_where_a_region_share_is_published():
    """Contrast k (region k + 1 against the ones before it) is centred in the years that
    publish a number for region k + 1 (Mexico's pins contrast 1), not at bounds."""
    est = MarketShares({"years": YEARS})
    comps, _ = prepare_signature(pd.DataFrame([
        *_small_signature().to_dict("records"),
        _sig(2003, "Mexico", upper=5), _sig(2012, "Mexico", 45),
        _sig(2012, "South America", lower=50)]))
    pinned = pd.DataFrame(est.pinned(comps), index=est.years, columns=["c1", "c2", "c3"])
    assert pinned.index[pinned.c1].tolist() == [1999, 2012, 2014]
    assert pinned.index[pinned.c2].tolist() == [1999, 2014]  # Southwest Asia
    assert pinned.index[pinned.c3].tolist() == [1999]  # Southeast Asia
    with pytest.raises(ConfigError, match="walk must be"):
        MarketShares({"years": YEARS, "walk": "centred"}).build_model(
            {"signature_shares": _small_signature()})


def test_anchored_and_noncentred_walks_have_the_same_prior(interpreted_graphs):
    """The two parameterisations are one model: prior draws of the US shares agree (mean
    and sd by region and year, 4,000 draws each: Monte Carlo se of a mean ~0.005)."""
    data = {"signature_shares": _small_signature()}
    draws = {}
    for walk in ("anchored", "noncentred"):
        model = MarketShares({"years": YEARS, "walk": walk}).build_model(data)
        with model:
            prior = pm.sample_prior_predictive(4000, var_names=["us_share"], random_seed=5)
        draws[walk] = prior["prior"]["us_share"]
    a, b = draws["anchored"], draws["noncentred"]
    assert float(abs(a.mean(("chain", "draw")) - b.mean(("chain", "draw"))).max()) < 0.03
    assert float(abs(a.std(("chain", "draw")) - b.std(("chain", "draw"))).max()) < 0.03
    # and the spread grows away from the first year as a walk's does
    assert float(a.sel(year=YEARS[1]).std()) > float(a.sel(year=YEARS[0]).std())


# ---- a fitted small model --------------------------------------------------------------------
def _small_signature() -> pd.DataFrame:
    return pd.DataFrame([
        _sig(1999, "South America", 60), _sig(1999, "Mexico", 24),
        _sig(1999, "Southeast Asia", 10), _sig(1999, "Southwest Asia", 6),
        _sig(2014, "Mexico", 79, basis="by samples"),
        _sig(2014, "Southwest Asia", 1, basis="by samples"),
    ])


@pytest.fixture(scope="session")
def fitted():
    est = MarketShares({"years": YEARS}, SAMPLER, production=StubProduction())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit({"signature_shares": _small_signature()}, progressbar=False)
    return est


@pytest.mark.slow
def test_us_shares_follow_data_and_sum_to_one(fitted):
    us = fitted.share_draws("USA")
    np.testing.assert_allclose(us.sum("source"), 1.0, rtol=1e-9)
    assert float(us.sel(source=["GTM", "ROW"]).max()) == 0.0  # HSP regions only
    regions = fitted.summary("source_region", markets=["USA"]).set_index(
        ["source_region", "year"])
    assert regions.loc[("south_america", 1999), "lower"] < 0.60 < \
        regions.loc[("south_america", 1999), "upper"]
    assert regions.loc[("mexico", 2014), "mean"] > 0.5
    # far from data the interval is wider than at a measured year
    width = regions["upper"] - regions["lower"]
    assert width[("mexico", 2006)] > width[("mexico", 1999)]


@pytest.mark.slow
def test_route_markets_are_prior_driven_and_user_changeable(fitted):
    europe = fitted.region_share_draws("Western and Central Europe")
    np.testing.assert_allclose(europe.sum("source_region"), 1.0, rtol=1e-9)
    main = europe.sel(source_region="southwest_asia").mean()
    assert abs(float(main) - ROUTE_PRIORS["Western and Central Europe"].main_share_mean) < 0.03
    table = fitted.summary()
    routed = table.loc[table.market != "USA", "prior_driven"]
    assert len(routed) > 0 and routed.all()
    assert set(table.columns) == {"market", "source", "year", "mean", "lower", "upper",
                                  "prior_driven"}
    changed = MarketShares({"years": YEARS, "route_overrides": {
        "Western and Central Europe": {"main_share_mean": 0.5}}})
    changed._idata = fitted.idata  # same posterior, another (user-chosen) route prior
    main_half = changed.region_share_draws("Western and Central Europe").sel(
        source_region="southwest_asia").mean()
    assert abs(float(main_half) - 0.5) < 0.03
    with pytest.raises(ConfigError, match="no route prior for 'Atlantis'"):
        MarketShares({"route_overrides": {"Atlantis": {"main_share_mean": 0.5}}})
    with pytest.raises(ConfigError, match="unknown keys \\['mean'\\]"):
        MarketShares({"route_overrides": {"Africa": {"mean": 0.5}}})
    # a market with no cited route draws from world production in proportion
    world = fitted.share_draws("Latin America and the Caribbean")
    np.testing.assert_allclose(world, fitted.production_share_draws().transpose(*world.dims))
    assert "route priors" in fitted.summary_text(years=(1999,))


@pytest.mark.slow
def test_save_load_round_trip(fitted, tmp_path):
    path = fitted.save(tmp_path / "markets.nc")
    again = MarketShares.load(path)
    xr.testing.assert_allclose(again.share_draws("USA"), fitted.share_draws("USA"))
    xr.testing.assert_allclose(again.share_draws("Oceania"), fitted.share_draws("Oceania"))
    assert again.all_share_draws(["USA", "Oceania"]).sizes["market"] == 2


@pytest.mark.slow
def test_us_years_must_match_the_production_draws(fitted):
    other = MarketShares({"years": YEARS})
    other._idata = fitted.idata.copy()
    shares = StubProduction(years=[1998, 2010]).share_draws()
    other._idata["production"] = xr.DataTree(dataset=xr.Dataset(
        {"production_share": resample_draws(shares, 2, 300, 1)}))
    with pytest.raises(ValueError, match="not the production draws'"):
        other.share_draws("USA")
    assert other.share_draws("Oceania").sizes["year"] == 13  # route markets need no US fit


def test_fit_needs_production():
    with pytest.raises(ValueError, match="OpiumProduction"):
        MarketShares({"years": YEARS}, SAMPLER).fit(
            {"signature_shares": _small_signature()}, progressbar=False)


# ---- the real HSP figures --------------------------------------------------------------------
@pytest.mark.realdata
def test_real_signature_fit_mexico_main_us_source_by_2015(markets_fit):
    """The session's markets fit on the packaged HSP figures (default sampler)."""
    est = markets_fit
    report = est.convergence_report()
    us = est.region_share_draws("USA").sel(year=2015)
    mexico = us.sel(source_region="mexico")
    others = us.drop_sel(source_region="mexico").max("source_region")
    # DEA: Mexico the main source of US heroin by 2015
    assert float(mexico.mean()) > 0.5
    assert float((mexico > others).mean()) > 0.8
    assert report["divergences"] == 0 and report["r_hat_max"] <= 1.01, report


@pytest.mark.slow
@pytest.mark.validation
def test_real_signature_fit_converges_on_three_seeds():
    """Issue 11: the default fit converges (R-hat <= 1.01, bulk ESS >= 400, no
    divergences) on seeds 1, 2 and 3. The version-3 non-centred walk failed seed 2 (R-hat
    1.013, docs/models/shares.md). The packaged HSP table, sampled as ``MarketShares.fit``
    samples it (the production draws it carries along for the split by country do not
    enter the sampling, so the session's production fit is not needed)."""
    from burden.data.cleaning import CleaningLog
    from burden.data.loaders import reference
    from burden.models.base import BayesianEstimator
    from burden.registry import published

    src = published.REFERENCE_SOURCES["reference_heroin_signature"]
    data = {"signature_shares": reference.load(src.path, CleaningLog(src.id, str(src.path)),
                                               src.id)}
    for seed in (1, 2, 3):
        est = MarketShares(sampler_config={"random_seed": seed})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            BayesianEstimator.fit(est, data, progressbar=False)
        report = est.convergence_report()
        assert report["converged"], (seed, report)


# ---- recovery ----------------------------------------------------------------------------
#: seeds of the simulated data sets (each a draw of every parameter from the priors)
RECOVERY_SEEDS = (201, 202, 203, 204, 205, 206)


@pytest.mark.slow
@pytest.mark.validation
def test_recovery_of_us_shares_over_data_sets_drawn_from_the_prior():
    """Six data sets, each drawn from the full prior (walk scale, concentration, design
    bias, the walk) with the real design: the packaged HSP table's years, parts and
    bounds. Each is refitted with the default sampler (one compilation: the observed
    values are pm.Data) and must converge. Measured: the true US market shares of the 4
    regions in the 7 years with HSP figures inside their 90% posterior intervals, pooled
    over the data sets (n = 6 x 28 = 168).

    Tolerance: calibrated intervals cover 90%; the test asserts the pooled coverage is at
    least the 0.1% quantile of Binomial(n, 0.9). The four shares of a year sum to 1 and one
    data set's values share its parameters, so the real spread is wider than binomial: a
    failure is a reason to look, and the per-set coverages are printed. The intervals
    must also be informative: narrower at those years than the prior's."""
    import nutpie
    from scipy import stats

    from burden.data.cleaning import CleaningLog
    from burden.data.loaders import reference
    from burden.models.fast_diagnostics import summarise
    from burden.registry import published

    src = published.REFERENCE_SOURCES["reference_heroin_signature"]
    table = reference.load(src.path, CleaningLog(src.id, src.filename), src.id)
    est = MarketShares()
    data = est.prepare_data({"signature_shares": table})
    comps, _ = est.signature(data)
    years = [c.year for c in comps]
    model = est.build_model(data)
    observed = [v.name for v in model.observed_RVs]
    compiled = nutpie.compile_pymc_model(model, backend="numba")
    cfg = est.sampler_config
    free = [v.name for v in model.free_RVs]
    inside, per_set, post_width = [], [], []
    for seed in RECOVERY_SEEDS:
        with model:
            sim = pm.sample_prior_predictive(1, random_seed=seed)
        truth = sim["prior"]["us_share"].isel(chain=0, draw=0).sel(year=years)
        values = {}
        for name in observed:
            # compositions come out printed as the HSP figures are (whole percent,
            # printed_dirichlet.random)
            v = np.asarray(sim["prior_predictive"][name].isel(chain=0, draw=0), float)
            values[f"{name}_data"] = v
        idata = nutpie.sample(compiled.with_data(**values), draws=cfg.draws, tune=cfg.tune,
                              chains=cfg.chains, seed=seed, target_accept=cfg.target_accept,
                              progress_bar=False, **cfg.nutpie_kwargs())
        post = idata.posterior
        draws = np.concatenate([post[n].values.reshape(cfg.chains, cfg.draws, -1)
                                for n in free], axis=-1)
        diag = summarise(draws)
        divergences = int(idata.sample_stats["diverging"].sum())
        report = (seed, float(diag["r_hat"].max()), float(diag["ess_bulk"].min()),
                  divergences)
        print("markets recovery fit (seed, max R-hat, min bulk ESS, divergences):", report)
        assert report[1] <= 1.01 and report[2] >= 400 and divergences == 0, report
        q = post["us_share"].sel(year=years).quantile([0.05, 0.95], dim=("chain", "draw"))
        lo, hi = q.sel(quantile=0.05), q.sel(quantile=0.95)
        hit = ((truth >= lo) & (truth <= hi)).values.ravel()
        inside.append(hit)
        per_set.append(float(hit.mean()))
        post_width.append(float((hi - lo).mean()))
    with model:
        prior = pm.sample_prior_predictive(2000, var_names=["us_share"], random_seed=1)
    pq = prior["prior"]["us_share"].sel(year=years).quantile([0.05, 0.95],
                                                              dim=("chain", "draw"))
    prior_width = float((pq.sel(quantile=0.95) - pq.sel(quantile=0.05)).mean())
    hits = np.concatenate(inside)
    assert hits.size == len(RECOVERY_SEEDS) * len(US_REGIONS) * len(years)
    floor = stats.binom.ppf(0.001, hits.size, 0.9) / hits.size
    print(f"markets recovery: 90% coverage per set {per_set}, pooled {hits.mean():.3f} "
          f"(floor {floor:.3f}, n={hits.size}); mean 90% width posterior "
          f"{np.mean(post_width):.3f}, prior {prior_width:.3f}")
    assert hits.mean() >= floor, (per_set, floor)
    assert np.mean(post_width) < prior_width


def test_signature_row_without_publication_is_used_not_dropped():
    comps, usage = prepare_signature(pd.DataFrame([_sig(2016, "Mexico", 80, publication=None)]))
    assert usage["used"].tolist() == [True]
    assert comps[0].points == {"mexico": pytest.approx(0.8)}
