"""OpiumProduction: measurement mapping, parameter recovery, results, real published figures."""

from __future__ import annotations

import warnings

import arviz_stats as azs
import numpy as np
import pandas as pd
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest

from burden.models.logistic import LOGISTIC_PER_SD
from burden.models.production import (
    SOURCES,
    OpiumProduction,
    find_republications,
    prepare_measurements,
    rounding_unit,
    same_within_rounding,
    series_of,
)

SMALL_SOURCES = ["AFG", "MMR", "MEX", "ROW"]
SMALL_YEARS = [2000, 2011]
SMALL_SAMPLER = {"draws": 400, "tune": 500, "chains": 4, "random_seed": 7}


def _row(country, iso3, year, measure, value=np.nan, lower=np.nan, upper=np.nan,
         publisher="UNODC", verified=True, note=None):
    return {"country": country, "iso3": iso3, "year": year, "measure": measure,
            "value": value, "lower": lower, "upper": upper, "publisher": publisher,
            "publication": "test", "url": None, "verified": verified, "note": note,
            "source": "test"}


CIA = "US Government (CIA World Factbook)"


# ---- measurement mapping ---------------------------------------------------------------
def test_rows_map_to_kinds_members_and_bounds():
    table = pd.DataFrame([
        _row("Afghanistan", "AFG", 2017, "production_t", 9000),
        _row("Afghanistan", "AFG", 2009, "cultivation_ha", 123000, 102000, 137000),
        _row("Lao PDR", "LAO", 2015, "production_t", lower=84, upper=176,
             publisher="US Government (CIA World Factbook)"),
        _row("Pakistan", "PAK", 2009, "cultivation_ha", upper=2000),
        _row("South-East Asia (region)", None, 2008, "production_t", 424),
        _row("World", "WLD", 2023, "production_pct_change", -75),
        _row("Myanmar", "MMR", 2007, "share_of_world", 5, verified=False),
        _row("Afghanistan", "AFG", 2016, "heroin_manufacture_t", 400),
        _row("Narnia", None, 2010, "production_t", 10),
        _row("Afghanistan", "AFG", 1990, "production_t", 1000),
    ])
    m = prepare_measurements(table)
    usage = m.usage
    assert usage["used"].tolist() == [True] * 7 + [False] * 3
    assert "conversion ratio" in usage.loc[7, "reason"]
    assert "Narnia" in usage.loc[8, "reason"]
    assert "outside" in usage.loc[9, "reason"]
    assert list(m.kind) == ["production", "area", "production", "area", "production",
                            "world_change", "share"]
    # a published range widens the error; a range alone is read at its geometric mean
    assert m.extra_sd[1] == pytest.approx(np.log(137000 / 102000) / (2 * 1.96))
    assert m.log_value[2] == pytest.approx(np.log(np.sqrt(84 * 176)))
    assert m.series[2] == 1 and m.series[0] == 0
    assert m.bound[3] == "upper" and m.bound_log[3] == pytest.approx(np.log(2000))
    sea = [SOURCES.index(s) for s in ("MMR", "LAO", "THA")]
    assert m.members[4].sum() == 3 and m.members[4, sea].sum() == 3
    assert m.log_value[5] == pytest.approx(np.log(0.25))
    assert m.log_value[6] == pytest.approx(np.log(0.05)) and m.memory[6] == 1


def test_rounding_unit_and_same_within_rounding():
    assert rounding_unit(6400) == 100 and rounding_unit(328304) == 1
    assert rounding_unit(19.8) == pytest.approx(0.1) and rounding_unit(130000) == 10000
    # "400 metric tons" can be the survey's 405 t rounded; 6,300 and 6,400 cannot be one
    # number rounded, nor can 82,171 and 82,172 (a revision, kept as two measurements)
    assert same_within_rounding(400, 405) and same_within_rounding(74000, 74100)
    assert same_within_rounding(328000, 328304)
    assert not same_within_rounding(6300, 6400)
    assert not same_within_rounding(82171, 82172)
    assert not same_within_rounding(8200, 7400)


def test_republished_figures_are_counted_once():
    table = pd.DataFrame([
        _row("Afghanistan", "AFG", 2017, "production_t", 9000,
             publisher="UNODC & Afghan Ministry of Counter Narcotics"),
        _row("Afghanistan", "AFG", 2017, "production_t", 9000, publisher=CIA),  # copy
        _row("Afghanistan", "AFG", 2014, "production_t", 6400),
        _row("Afghanistan", "AFG", 2014, "production_t", 6300, publisher=CIA),  # own estimate
        _row("Afghanistan", "AFG", 2007, "production_t", 8200),
        _row("Afghanistan", "AFG", 2007, "production_t", 7400),  # a revision
        _row("Myanmar", "MMR", 2020, "production_t", 405, verified=False),
        _row("Myanmar", "MMR", 2020, "production_t", 400),  # verified press rounding
        _row("Afghanistan", "AFG", 2010, "cultivation_ha", 123000),
        _row("Afghanistan", "AFG", 2010, "cultivation_ha", 123000, 104000, 145000),
        _row("Mexico", "MEX", 2015, "cultivation_ha", 28000, publisher="US DEA"),
        _row("Mexico", "MEX", 2015, "cultivation_ha", 28000, publisher=CIA),
        _row("Mexico", "MEX", 2015, "cultivation_ha", 24800, 21500, 28100),
        _row("Mexico", "MEX", 2015, "cultivation_ha", 24800, 21000, 28100),  # other range
        _row("Mexico", "MEX", 2016, "cultivation_ha", 28000),  # other year
        _row("Mexico", "MEX", 2015, "production_t", 28000),  # other quantity
        _row("Myanmar", "MMR", 2019, "cultivation_ha", 20200, publisher=CIA),
        _row("Myanmar", "MMR", 2019, "cultivation_ha", 20200, publisher="UNODC"),
    ])
    dropped = find_republications(table)
    # the copier's row goes, the original stays; UNODC is never taken for a copy of the US
    assert sorted(dropped) == [1, 6, 8, 11, 16]
    assert "row 0" in dropped[1] and CIA in dropped[1]
    assert "row 7" in dropped[6]  # verified over recalled
    assert "row 9" in dropped[8]  # the row with the published range is kept
    assert "row 10" in dropped[11]  # the US government's one estimate, twice
    assert "row 17" in dropped[16]  # UNODC's row kept even when the CIA's comes first
    usage = prepare_measurements(table).usage
    assert not usage.loc[list(dropped), "used"].any()
    assert usage.loc[list(dropped), "reason"].str.startswith("republication of row").all()
    assert usage.drop(index=list(dropped))["used"].all()


def test_real_table_republications_name_a_used_row():
    table = _real_tables()["production_measurements"]
    usage = prepare_measurements(table).usage
    republished = usage[usage["reason"].str.startswith("republication", na=False)]
    # the packaged table repeats figures (survey and WDR annex, CIA copying UNODC): at
    # least the CIA's copies of UNODC's AFG 2017 production and area are among them
    assert len(republished) >= 2
    kept = republished["reason"].str.extract(r"row (\d+)")[0].astype(int)
    assert usage.loc[kept, "used"].all()
    afg17 = table.index[(table.iso3 == "AFG") & (table.year == 2017)
                        & (table.publisher == CIA) & table.measure.isin(
                            ["production_t", "cultivation_ha"])]
    assert len(afg17) == 2 and set(afg17) <= set(republished.index)


def test_bounds_are_censored_observations_not_potentials(interpreted_graphs):
    table = pd.DataFrame([
        _row("Afghanistan", "AFG", 2017, "production_t", 9000),
        _row("Pakistan", "PAK", 2009, "cultivation_ha", upper=2000),
        _row("World", "WLD", 2012, "cultivation_ha", 236000,
             note="'over 236,000 hectares' (lower bound)"),
        _row("Afghanistan", "AFG", 2017, "share_of_world_area", 75,
             note="'more than 75 per cent' (lower bound)"),
    ])
    m = prepare_measurements(table)
    assert m.bound.tolist() == ["", "upper", "lower", "lower"]
    assert m.bound_log[2] == pytest.approx(np.log(236000))
    assert m.bound_log[3] == pytest.approx(np.log(0.75))
    model = OpiumProduction({"sources": ["AFG", "PAK", "ROW"], "years": [2008, 2017]}
                            ).build_model({"production_measurements": table})
    assert model.potentials == []
    assert {v.name for v in model.observed_RVs} == {"obs_log_value", "obs_bound"}
    # predictive draws of a bounded row: clipped at the bound on the censored side
    with model, warnings.catch_warnings():
        warnings.simplefilter("error")  # no PyMC warning (e.g. about Potentials)
        prior = pm.sample_prior_predictive(200, random_seed=3)
    draws = prior["prior_predictive"]["obs_bound"].values.reshape(-1, 3)
    assert (draws[:, 0] >= np.log(2000) - 1e-9).all()  # "less than": left-censored
    assert (draws[:, 1] <= np.log(236000) + 1e-9).all()  # "over": right-censored
    assert (draws[:, 0] == np.log(2000)).any() and (draws[:, 0] > np.log(2000)).any()


def test_bounds_have_logistic_errors_with_exact_tails():
    """A bound's error is Logistic with the Normal's variance; its log-likelihood falls
    linearly, not quadratically, past the bound, and stays finite there on both sides."""
    from scipy import stats

    mu, sd = 0.3, 0.01
    s = sd * LOGISTIC_PER_SD
    assert (np.pi * s) ** 2 / 3 == pytest.approx(sd ** 2)
    value = pt.dscalar("value")
    for bound, side in ((12.0, "over"), (-12.0, "less than")):
        upper = bound if side == "over" else None
        lower = bound if side == "less than" else None
        dist = pm.Censored.dist(pm.Logistic.dist(mu, s), lower=lower, upper=upper)
        logp = pm.logp(dist, value)
        f = pytensor.function([value], [logp, pytensor.grad(logp, value)])
        got, grad = f(bound)
        expected = (stats.logistic.logsf(bound, mu, s) if side == "over"
                    else stats.logistic.logcdf(bound, mu, s))
        # ~2,100 scale units past the bound: PyMC's log(1 - exp(log-CDF)) gives -inf there
        # (burden.models.logistic registers the exact tail)
        assert got == pytest.approx(expected, rel=1e-12)
        assert np.isfinite(grad) and abs(grad) == pytest.approx(1 / s, rel=1e-9)


def test_yield_varies_by_year_and_rejects_unknown_dynamics():
    table = pd.DataFrame([_row("Afghanistan", "AFG", 2015, "production_t", 3300),
                          _row("Afghanistan", "AFG", 2015, "yield_kg_per_ha", 18)])
    for dynamics in ("hierarchy", "walk"):
        est = OpiumProduction({"sources": ["AFG", "ROW"], "years": [2013, 2017],
                               "yield_dynamics": dynamics})
        prior = est.sample_prior_predictive({"production_measurements": table}, draws=20)
        log_yield = prior["prior"]["log_yield_year"]
        assert log_yield.sizes["year"] == 5
        assert float(log_yield.std("year").min()) > 0  # not one yield for every year
    with pytest.raises(ValueError, match="yield_dynamics"):
        OpiumProduction({"yield_dynamics": "smooth"}).build_model(
            {"production_measurements": table})


def _each_error_scale_moved(model, output, fixed=None):
    """{(series, quantity): (output before, output after)} when that one ``obs_sigma``
    moves from 0.1 to 0.3, every other value at the model's initial point (or ``fixed``)."""
    value_var = model.rvs_to_values[model["obs_sigma"]]
    inputs = [v for v in model.value_vars if v is not value_var]
    f = pytensor.function([value_var, *inputs], output, on_unused_input="ignore")
    point = {**model.initial_point(), **(fixed or {})}
    rest = [point[v.name] for v in inputs]
    base = np.full((2, 2), np.log(0.1))  # obs_sigma is sampled on the log scale
    before = f(base, *rest)
    out = {}
    for series, quantity in ((0, 0), (0, 1), (1, 0), (1, 1)):
        changed = base.copy()
        changed[series, quantity] = np.log(0.3)
        out[(series, quantity)] = (before, f(changed, *rest))
    return out


def test_each_series_and_quantity_has_its_own_error_scale(interpreted_graphs):
    """Version 7: a row's error scale is its publisher family's for its quantity (area or
    production), so a US area figure's log-likelihood moves with the US area scale only."""
    table = pd.DataFrame([
        _row("Afghanistan", "AFG", 2015, "production_t", 3300),  # UNODC production
        _row("Afghanistan", "AFG", 2015, "cultivation_ha", 183000),  # UNODC area
        _row("Afghanistan", "AFG", 2015, "production_t", 3800, publisher=CIA),  # US prod.
        _row("Afghanistan", "AFG", 2015, "cultivation_ha", 201000, publisher=CIA),  # US area
        _row("Afghanistan", "AFG", 2016, "share_of_world_area", 80),  # UNODC area (share)
        _row("Afghanistan", "AFG", 2016, "yield_kg_per_ha", 40),  # UNODC production side
    ])
    model = OpiumProduction({"sources": ["AFG", "ROW"], "years": [2014, 2017]}
                            ).build_model({"production_measurements": table})
    assert model.named_vars_to_dims["obs_sigma"] == ("series", "error_quantity")
    assert list(model.coords["series"]) == ["unodc", "us"]
    assert list(model.coords["error_quantity"]) == ["production", "area"]
    obs = model["obs_log_value"]
    elementwise = model.logp(vars=[obs], sum=False)[0]
    # which rows' log-likelihood moves when one (series, quantity) scale moves
    moved = {key: np.flatnonzero(~np.isclose(after, before))
             for key, (before, after) in _each_error_scale_moved(model, elementwise).items()}
    kinds = prepare_measurements(table, ("AFG", "ROW"), (2014, 2017)).kind
    assert kinds.tolist() == ["production", "area", "production", "area", "area_share",
                              "yield"]
    assert moved[(0, 0)].tolist() == [0, 5]  # UNODC production and yield
    assert moved[(0, 1)].tolist() == [1, 4]  # UNODC area and area share
    assert moved[(1, 0)].tolist() == [2]  # US production
    assert moved[(1, 1)].tolist() == [3]  # US area


def test_partial_yield_centring_weighs_a_unodc_area_and_production_pair():
    """``yield_centring = "partial"``: a pinned year's weight is its step's variance against
    the error a UNODC area and production pair leaves on its yield (2 floor^2 + both UNODC
    scales^2), so at fixed sampled values the yields move with either UNODC scale and
    with neither US scale (before 2026-12-04 the weight ignored the area scale)."""
    table = pd.DataFrame([
        _row("Afghanistan", "AFG", 2015, "production_t", 3300),
        _row("Afghanistan", "AFG", 2015, "cultivation_ha", 183000),
        _row("Afghanistan", "AFG", 2016, "production_t", 4800),
        _row("Afghanistan", "AFG", 2016, "cultivation_ha", 201000),
        _row("Afghanistan", "AFG", 2016, "production_t", 5000, publisher=CIA),
    ])
    model = OpiumProduction({"sources": ["AFG", "ROW"], "years": [2014, 2017],
                             "yield_centring": "partial"}
                            ).build_model({"production_measurements": table})
    assert list(model.coords["log_yield_free_at"]) == ["AFG 2015", "AFG 2016"]
    [log_yield] = model.replace_rvs_by_values([model["log_yield_year"]])
    moved = {key: not np.allclose(after, before) for key, (before, after) in
             _each_error_scale_moved(model, log_yield,
                                     {"log_yield_free": np.array([3.5, 4.0])}).items()}
    assert moved == {(0, 0): True, (0, 1): True, (1, 0): False, (1, 1): False}


def test_constant_yield_centring_moves_with_no_error_scale():
    """``yield_centring = "constant"``: every pinned year has the weight
    ``yield_centring_weight``, so at fixed sampled values the yields move with no error
    scale (the partial weight moves with both UNODC ones, the test above), and a weight of 1
    gives the centred levels: the sampled values themselves."""
    table = pd.DataFrame([
        _row("Afghanistan", "AFG", 2015, "production_t", 3300),
        _row("Afghanistan", "AFG", 2015, "cultivation_ha", 183000),
        _row("Afghanistan", "AFG", 2016, "production_t", 4800),
        _row("Afghanistan", "AFG", 2016, "cultivation_ha", 201000),
    ])
    free = {"log_yield_free": np.array([3.5, 4.0])}
    base = {"sources": ["AFG", "ROW"], "years": [2014, 2017], "yield_centring": "constant"}
    for weight in (0.5, 1.0):
        model = OpiumProduction({**base, "yield_centring_weight": weight}
                                ).build_model({"production_measurements": table})
        [log_yield] = model.replace_rvs_by_values([model["log_yield_year"]])
        moved = _each_error_scale_moved(model, log_yield, free)
        assert not any(not np.allclose(after, before) for before, after in moved.values())
        before, _ = moved[(0, 0)]
        afg_2015_2016 = np.asarray(before)[0, 1:3]
        assert np.allclose(afg_2015_2016, free["log_yield_free"]) == (weight == 1.0)


def test_floors_yield_centring_moves_with_the_yield_scale_alone():
    """``yield_centring = "floors"``: w = s^2 / (s^2 + 2 floor^2), so at fixed sampled
    values the yields move with no error scale, and a free level x~ maps to anchor +
    s^(1 - w) (x~ - anchor) with that weight."""
    table = pd.DataFrame([
        _row("Afghanistan", "AFG", 2015, "production_t", 3300),
        _row("Afghanistan", "AFG", 2015, "cultivation_ha", 183000),
    ])
    model = OpiumProduction({"sources": ["AFG", "ROW"], "years": [2014, 2017],
                             "yield_centring": "floors"}
                            ).build_model({"production_measurements": table})
    [log_yield] = model.replace_rvs_by_values([model["log_yield_year"]])
    s = 0.1  # w = 0.01 / 0.015 = 2/3, so x - anchor = 0.1^(1/3) (x~ - anchor)
    free = {"log_yield_free": np.array([3.5]), "yield_year_sd_log__": np.log(s)}
    moved = _each_error_scale_moved(model, log_yield, free)
    assert not any(not np.allclose(after, before) for before, after in moved.values())
    anchor = float(model.initial_point()["log_yield_kg_ha"][0])
    w = s ** 2 / (s ** 2 + 2 * 0.05 ** 2)  # ProductionConfig.obs_sd_floor's default
    before, _ = moved[(0, 0)]
    assert np.isclose(np.asarray(before)[0, 1], anchor + s ** (1 - w) * (3.5 - anchor))


def test_series_of_publishers():
    assert series_of("US Government (CIA World Factbook)") == "us"
    assert series_of("US DEA") == "us"
    assert series_of("UNODC & Afghan Ministry of Counter Narcotics") == "unodc"
    assert series_of("UNDCP (as quoted by AP)") == "unodc"


def test_student_t_steps_only_between_measured_years():
    table = pd.DataFrame([
        _row("Afghanistan", "AFG", 2000, "cultivation_ha", 82171),
        _row("Afghanistan", "AFG", 2001, "production_t", 185),
        _row("Afghanistan", "AFG", 2003, "yield_kg_per_ha", 40),  # a yield is not a level
        _row("Afghanistan", "AFG", 2004, "cultivation_ha", 131000),  # after a gap
        _row("Myanmar", "MMR", 2002, "share_of_world", 20),
        _row("Myanmar", "MMR", 2003, "cultivation_ha", 62200),
        _row("World", "WLD", 2004, "production_t", 1596),  # an aggregate confirms no one
    ])
    est = OpiumProduction({"sources": SMALL_SOURCES, "years": SMALL_YEARS})
    shock = est.measured_steps(est.measurements({"production_measurements": table}))
    assert shock.shape == (len(SMALL_SOURCES), SMALL_YEARS[1] - SMALL_YEARS[0])
    expected = np.zeros_like(shock)
    expected[0, 2001 - 2001] = expected[1, 2003 - 2001] = True
    np.testing.assert_array_equal(shock, expected)
    into_measured = OpiumProduction({"sources": SMALL_SOURCES, "years": SMALL_YEARS,
                                     "shock_needs_both_years": False})
    shock = into_measured.measured_steps(
        into_measured.measurements({"production_measurements": table}))
    expected[0, 2004 - 2001] = expected[1, 2002 - 2001] = True
    np.testing.assert_array_equal(shock, expected)
    everywhere = OpiumProduction({"sources": SMALL_SOURCES, "years": SMALL_YEARS,
                                  "shocks_only_when_measured": False})
    assert everywhere.measured_steps(
        everywhere.measurements({"production_measurements": table})).all()


def _walk_table() -> pd.DataFrame:
    """Measurements with every shape of walk: a gap (MMR 2003-2007), a source measured from
    2002 on only (MEX), yields pinned in some years, ROW never measured."""
    rows = [_row("Afghanistan", "AFG", y, m, 100.0 + y)
            for y in range(2000, 2012) for m in ("cultivation_ha", "production_t")]
    rows += [_row("Myanmar", "MMR", y, "cultivation_ha", 50.0 + y) for y in (2001, 2002, 2003, 2008)]
    rows += [_row("Myanmar", "MMR", 2003, "production_t", 7.0)]
    rows += [_row("Mexico", "MEX", y, "cultivation_ha", 10.0 + y) for y in (2004, 2005, 2009)]
    rows += [_row("Mexico", "MEX", 2009, "yield_kg_per_ha", 25.0)]
    return pd.DataFrame(rows)


def _prior_log_draws(model, log_name: str, draws: int = 4000) -> np.ndarray:
    """(draws, columns) prior draws of ``log_name`` (a log quantity) and of log area, every
    element a column (seed 5)."""
    with model, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # CustomDist's random in object mode
        prior = pm.sample_prior_predictive(draws, var_names=[log_name, "area_ha"],
                                           random_seed=5)
    return np.concatenate([prior["prior"][log_name].values.reshape(draws, -1),
                           np.log(prior["prior"]["area_ha"].values.reshape(draws, -1))],
                          axis=1)


def _quantile_gap(a: np.ndarray, b: np.ndarray) -> float:
    """Largest gap between the 10%, 50% and 90% points of two samples, column by column,
    in units of the second's interquartile range."""
    iqr = np.subtract(*np.quantile(b, [0.75, 0.25], axis=0))
    q = [0.1, 0.5, 0.9]
    return float((np.abs(np.quantile(a, q, axis=0) - np.quantile(b, q, axis=0)) / iqr).max())


def test_mixed_and_innovation_walks_have_the_same_prior(interpreted_graphs):
    """The two parameterisations of the area and yield walks are one model: prior draws of
    log area and log yield agree by source and year (10%, 50%, 90% points, 4,000 draws
    each: Monte Carlo se ~0.03 of the interquartile range; tolerance 0.15)."""
    data = {"production_measurements": _walk_table()}
    draws = {}
    for form in ("mixed", "innovations"):
        est = OpiumProduction({"sources": SMALL_SOURCES, "years": SMALL_YEARS,
                               "walk_form": form})
        model = est.build_model(data)
        free = {v.name for v in model.free_RVs}
        if form == "mixed":  # levels where data pin them are free, a gap is a bridge
            assert {"log_area_free", "log_yield_free", "area_innovation"} <= free
            assert any(label.startswith("MMR 2003-2008") for label in
                       model.coords["area_innovation_at"])
        draws[form] = _prior_log_draws(model, "log_yield_year")
    a, b = draws["mixed"], draws["innovations"]
    gap = _quantile_gap(a, b)
    assert gap < 0.15, gap
    # and the spread grows along a walk without data (ROW, the last columns)
    assert a[:, -1].std() > a[:, -(SMALL_YEARS[1] - SMALL_YEARS[0] + 1)].std()


def test_mixed_walk_log_density_is_the_walk_prior(interpreted_graphs):
    """The free levels' density and the bridges and tails of innovations give the walk's own
    density of the levels, up to a constant (the Jacobian, constant for fixed sigma): the
    difference of the model's log density between two points equals the difference of the
    walk's log density (Student-t and Normal steps) of their levels."""
    from scipy import stats

    from burden.models.production_walk import walk_design, walk_levels

    free = np.zeros((3, 9), dtype=bool)
    free[0, [1, 2, 3, 6]] = True  # a Student-t run, a bridge over 4-5 and a tail
    free[1, [4]] = True  # anchor 4: a tail back to year 0 and a tail forward
    shock = np.zeros((3, 8), dtype=bool)
    shock[0, [1, 2]] = True  # 1->2 and 2->3
    anchor = np.array([1, 4, 0])
    sigma, nu, init = np.array([0.3, 0.5, 0.2]), 3.0, np.array([1.0, -2.0, 0.5])
    design = walk_design(free, anchor, shock)
    with pm.Model() as model:
        anchors = pm.Normal("anchors", 0.0, 3.0, shape=3)
        levels = pm.Deterministic("levels", walk_levels(
            design, anchors, pt.as_tensor(sigma), nu, free_name="free",
            innovation_name="z", sources=["a", "b", "c"], years=list(range(9))))
    walk_terms = model.logp(vars=[model["free"], model["z"]])
    [level_graph] = model.replace_rvs_by_values([levels])
    fn = pytensor.function(model.value_vars, [walk_terms, level_graph],
                           on_unused_input="ignore")
    names = [v.name for v in model.value_vars]

    def logp(point):
        return fn(*[point[n] for n in names])[0]

    def level_fn(point):
        return fn(*[point[n] for n in names])[1]

    def walk_logp(x):
        total = 0.0
        for s in range(3):
            for y in range(8):
                dist = (stats.t(nu, scale=sigma[s]) if shock[s, y]
                        else stats.norm(scale=sigma[s]))
                total += dist.logpdf(x[s, y + 1] - x[s, y])
        return total

    rng = np.random.default_rng(0)
    points, walk = [], []
    for _ in range(3):
        point = {"anchors": init, "free": rng.normal(size=design.free_pos.size),
                 "z": rng.normal(size=design.n_z)}
        points.append(float(logp(point)))
        walk.append(walk_logp(level_fn(point)))
        assert np.allclose(level_fn(point)[np.arange(3), anchor], init)
    np.testing.assert_allclose(np.diff(points), np.diff(walk), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("centring", [[1.0, 1.0, 1.0], [0.0, 0.3, 0.7]])
def test_partially_centred_walk_is_a_change_of_variables(centring, interpreted_graphs):
    """Partial centring (``walk_levels(centring=w)``) changes only the coordinates of the
    free levels: at the same levels x, the log density in the sampled coordinates x~ =
    anchor + (x - anchor) / sigma ** (1 - w) is the centred one plus the log Jacobian,
    sum over free levels of (1 - w) log sigma, and the levels map back exactly."""
    from burden.models.production_walk import walk_design, walk_levels

    free = np.zeros((3, 9), dtype=bool)
    free[0, [1, 2, 3, 6]] = True
    free[1, [4]] = True
    free[2, [2, 5]] = True
    shock = np.zeros((3, 8), dtype=bool)
    shock[0, [1, 2]] = True
    anchor = np.array([1, 4, 0])
    sigma, nu = np.array([0.3, 0.05, 0.2]), 3.0
    w = np.asarray(centring)
    design = walk_design(free, anchor, shock)

    def compiled(cent):
        with pm.Model() as model:
            anchors = pm.Normal("anchors", 0.0, 3.0, shape=3)
            levels = pm.Deterministic("levels", walk_levels(
                design, anchors, pt.as_tensor(sigma), nu, free_name="free",
                innovation_name="z", sources=["a", "b", "c"], years=list(range(9)),
                centring=None if cent is None else pt.as_tensor(cent)))
        [level_graph] = model.replace_rvs_by_values([levels])
        names = [v.name for v in model.value_vars]
        fn = pytensor.function(model.value_vars, [model.logp(), level_graph],
                               on_unused_input="ignore")
        return lambda point: fn(*[point[n] for n in names])

    centred, partial = compiled(None), compiled(w)
    rng = np.random.default_rng(1)
    src = design.free_source
    for _ in range(3):
        point = {"anchors": rng.normal(size=3), "free": rng.normal(size=design.free_pos.size),
                 "z": rng.normal(size=design.n_z)}
        logp_c, levels_c = centred(point)
        a = point["anchors"][src]
        tilde = {**point, "free": a + (point["free"] - a) / sigma[src] ** (1.0 - w[src])}
        logp_p, levels_p = partial(tilde)
        np.testing.assert_allclose(levels_p, levels_c, rtol=1e-12, atol=1e-12)
        jacobian = float(np.sum((1.0 - w[src]) * np.log(sigma[src])))
        np.testing.assert_allclose(logp_p, logp_c + jacobian, rtol=1e-10, atol=1e-10)


def test_production_config_rejects_an_unknown_yield_centring():
    from burden.errors import ConfigError

    with pytest.raises(ConfigError, match="yield_centring"):
        OpiumProduction({"yield_centring": "halfway"})
    with pytest.raises(ConfigError, match="'floors'"):
        OpiumProduction({"yield_centring": "floor"})
    with pytest.raises(ConfigError, match="yield_centring_weight"):
        OpiumProduction({"yield_centring": "constant", "yield_centring_weight": 1.5})
    with pytest.raises(ConfigError, match="anchor_centring"):
        OpiumProduction({"anchor_centring": "partial"})


def test_non_centred_anchors_are_the_same_prior(interpreted_graphs):
    """``anchor_centring = "non-centred"`` samples each area walk's anchor standardised
    (``anchor_std``) and keeps ``anchor_log_ha`` as a Deterministic: the same model, so
    prior draws of log area agree with the centred form's by source and year (10%, 50%,
    90% points of 4,000 draws; tolerance 0.15 of the interquartile range, as for the walk
    forms above), ROW's middle-year anchor included."""
    data = {"production_measurements": _walk_table()}
    draws = {}
    for form in ("centred", "non-centred"):
        est = OpiumProduction({"sources": SMALL_SOURCES, "years": SMALL_YEARS,
                               "anchor_centring": form})
        model = est.build_model(data)
        free = {v.name for v in model.free_RVs}
        assert ("anchor_std" in free) == (form == "non-centred")
        assert ("anchor_log_ha" in free) == (form == "centred")
        draws[form] = _prior_log_draws(model, "anchor_log_ha")
    a, b = draws["non-centred"], draws["centred"]
    gap = _quantile_gap(a, b)
    assert gap < 0.15, gap
    # ROW's anchor (last source) is wider than a measured source's: its sd grows with
    # its walk scale
    assert a[:, len(SMALL_SOURCES) - 1].std() > a[:, 0].std()


@pytest.mark.parametrize("anchor_centring", ["non-centred", "centred"])
def test_area_walk_log_density_is_the_walk_prior(anchor_centring, interpreted_graphs):
    """The whole area walk of a model (anchors, ROW's middle-year anchor and conditional
    first year, free levels, bridges, tails) has the walk's log density of log area: the
    first-level prior in each source's anchor year (1998 for ROW), then Student-t steps
    between measured years and Normal steps elsewhere (differences between points at fixed
    rw_sigma, where the Jacobian is constant: with non-centred anchors it is the anchors'
    prior sds, which depend on rw_sigma only)."""
    from scipy import stats

    est = OpiumProduction({"sources": SMALL_SOURCES, "years": SMALL_YEARS,
                           "anchor_centring": anchor_centring})
    data = {"production_measurements": _walk_table()}
    model = est.build_model(data)
    m = est.measurements(data)
    assert model["anchor_year"].get_value()[-1] > SMALL_YEARS[0]  # ROW: the middle year
    anchor = "anchor_log_ha" if anchor_centring == "centred" else "anchor_std"
    walk_vars = [model[n] for n in (anchor, "start_innovation", "log_area_free",
                                    "area_innovation")]
    [log_area] = model.replace_rvs_by_values([pt.log(model["area_ha"])])
    fn = pytensor.function(model.value_vars, [model.logp(vars=walk_vars), log_area],
                           on_unused_input="ignore")
    names = [v.name for v in model.value_vars]
    shock, first = est.measured_steps(m), est.anchor_years(m)
    init = est.model_config.priors.initial_log_ha
    sigma = np.array([0.3, 0.2, 0.5, 0.4])
    rng = np.random.default_rng(1)
    ip = model.initial_point()
    model_logp, walk_logp = [], []
    for _ in range(3):
        point = {n: rng.normal(size=np.shape(ip[n])) for n in names}
        if anchor_centring == "centred":  # standardised anchors are N(0, 1) already
            point["anchor_log_ha"] = point["anchor_log_ha"] + 8.0
        point["rw_sigma_log__"] = np.log(sigma)
        total, x = fn(*[point[n] for n in names])
        model_logp.append(float(total))
        walk = 0.0
        for s in range(len(SMALL_SOURCES)):
            walk += stats.norm(init["mu"], init["sigma"]).logpdf(x[s, first[s]])
            for y in range(x.shape[1] - 1):
                dist = (stats.t(est.model_config.rw_nu, scale=sigma[s]) if shock[s, y]
                        else stats.norm(scale=sigma[s]))
                walk += dist.logpdf(x[s, y + 1] - x[s, y])
        walk_logp.append(walk)
    np.testing.assert_allclose(np.diff(model_logp), np.diff(walk_logp), rtol=1e-9, atol=1e-8)


def test_prior_predictive_before_fit():
    table = pd.DataFrame([_row("Afghanistan", "AFG", 2001, "production_t", 185),
                          _row("World", "WLD", 2001, "production_t", 1596)])
    model = OpiumProduction({"sources": SMALL_SOURCES, "years": SMALL_YEARS})
    prior = model.sample_prior_predictive({"production_measurements": table}, draws=50)
    prod = prior["prior"]["production_t"]
    assert prod.sizes["source"] == len(SMALL_SOURCES) and (prod > 0).all()
    assert not model.is_fitted


# ---- parameter recovery on data simulated from the model -------------------------------
TRUE_FIXED = {  # test inputs (the "truth" of the simulation), not claims about the world
    "rw_sigma": np.array([0.3, 0.2, 0.4, 0.25]),
    # series (UNODC, US) x quantity (production, area), version 7
    "obs_sigma": np.array([[0.08, 0.10], [0.12, 0.20]]),
    "memory_sigma": 0.2,
    "us_bias": np.array([0.15, -0.1]),
    "yield_year_sd": 0.15,
}


def _design() -> pd.DataFrame:
    """A measurement design like the real table: production and area most years, some US
    rows, a few memory rows, yields, world totals and shares."""
    rows = []
    for year in range(2000, 2012):
        for iso3 in ("AFG", "MMR", "MEX"):
            rows.append(_row(iso3, iso3, year, "cultivation_ha", 1.0))
            if year % 3 != 0:
                rows.append(_row(iso3, iso3, year, "production_t", 1.0,
                                 verified=year % 4 != 1))
            if year % 4 == 2:
                rows.append(_row(iso3, iso3, year, "production_t", 1.0,
                                 publisher="US Government (CIA World Factbook)"))
                rows.append(_row(iso3, iso3, year, "cultivation_ha", 1.0,
                                 publisher="US Government (CIA World Factbook)"))
        if year % 2 == 0:
            rows.append(_row("World", "WLD", year, "production_t", 1.0))
        if year % 3 == 1:
            rows.append(_row("Afghanistan", "AFG", year, "share_of_world", 1.0))
            rows.append(_row("Afghanistan", "AFG", year, "yield_kg_per_ha", 1.0))
            rows.append(_row("Myanmar", "MMR", year, "yield_kg_per_ha", 1.0))
        if year % 5 == 0:
            rows.append(_row("Mexico", "MEX", year, "yield_kg_per_ha", 1.0))
    table = pd.DataFrame(rows)
    # placeholder values, all different, so that no row reads as another's republication
    table["value"] = 100.5 + 10.0 * np.arange(len(table))
    return table


def _simulate(seed: int = 11):
    design = _design()
    est = OpiumProduction({"sources": SMALL_SOURCES, "years": SMALL_YEARS})
    model = est.build_model({"production_measurements": design})
    fixed = pm.do(model, {k: np.asarray(v, dtype=float) for k, v in TRUE_FIXED.items()})
    with fixed:
        draw = pm.sample_prior_predictive(1, random_seed=seed)
    truth = draw["prior"].to_dataset().isel(chain=0, draw=0)
    simulated = draw["prior_predictive"]["obs_log_value"].values.ravel()
    m = est.measurements({"production_measurements": design})
    assert m.usage["used"].all() and (m.bound == "").all()
    table = design.copy()
    table["value"] = np.where(m.kind == "share", 100.0, 1.0) * np.exp(simulated)
    return table, truth


#: simulated data sets of the recovery test (one fit each)
RECOVERY_SEEDS = (11, 12, 13, 14, 15)
#: what the recovery test checks: production, yields (country means and by year), the
#: random-walk scales and every error and bias parameter
RECOVERED = ("production_t", "log_yield_kg_ha", "log_yield_year", *TRUE_FIXED)


def _fit_simulated(seed: int):
    table, truth = _simulate(seed)
    est = OpiumProduction({"sources": SMALL_SOURCES, "years": SMALL_YEARS},
                          {**SMALL_SAMPLER, "random_seed": seed})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit({"production_measurements": table}, progressbar=False)
    return est, truth


def _inside_90(est, truth) -> tuple[int, int]:
    """(true values inside their central 90% posterior interval, values checked)."""
    post, inside, total = est.posterior, 0, 0
    for name in RECOVERED:
        draws = post[name].stack(sample=("chain", "draw"))
        lo = draws.quantile(0.05, "sample").values
        hi = draws.quantile(0.95, "sample").values
        true = np.asarray(truth[name]) if name in truth else np.asarray(TRUE_FIXED[name])
        inside += int(((true >= lo) & (true <= hi)).sum())
        total += true.size
    return inside, total


@pytest.fixture(scope="session")
def recovery():
    """The first simulated data set's fit (the API tests below use it)."""
    return _fit_simulated(RECOVERY_SEEDS[0])


@pytest.mark.slow
@pytest.mark.validation  # recovery over data sets, as markets' and composition's
def test_parameter_recovery(recovery):
    # Five simulated data sets, pooled. A calibrated model puts 90% of true values inside
    # 90% intervals on average; the pooled share of n values has binomial sd
    # sqrt(0.9 x 0.1 / n) if the values were independent (they are not: values of one
    # replicate are correlated, which widens the spread, so 3 binomial sd is the least
    # tolerance). Fails for a miscalibrated model: over-confident (too few inside) or
    # needlessly wide (too many).
    counts = [_inside_90(*recovery)]
    counts += [_inside_90(*_fit_simulated(seed)) for seed in RECOVERY_SEEDS[1:]]
    inside, total = (sum(c[i] for c in counts) for i in (0, 1))
    share, sd = inside / total, np.sqrt(0.9 * 0.1 / total)
    per_seed = [f"{a}/{b}" for a, b in counts]
    print(f"recovery: {inside}/{total} = {share:.3f} inside 90% intervals "
          f"(binomial sd {sd:.3f}); per seed {per_seed}")
    assert abs(share - 0.90) <= 3 * sd, (share, sd, per_seed)


@pytest.mark.slow
def test_fitted_results_are_consistent(recovery, tmp_path):
    est, _ = recovery
    report = est.convergence_report()
    assert report["divergences"] == 0 and report["r_hat_max"] <= 1.05
    shares = est.share_draws()
    np.testing.assert_allclose(shares.sum("source"), 1.0, rtol=1e-9)
    summary = est.summary()
    assert set(summary["measure"]) == {"production_t", "share"}
    assert (summary["lower"] <= summary["mean"]).all()
    assert (summary["mean"] <= summary["upper"]).all()
    world = summary[(summary.source == "WLD") & (summary.measure == "production_t")]
    sources = summary[(summary.source != "WLD") & (summary.measure == "production_t")]
    # the world is the sum of draws: its mean equals the sum of the source means
    np.testing.assert_allclose(world.set_index("year")["mean"],
                               sources.groupby("year")["mean"].sum(), rtol=1e-9)
    assert "world" in est.summary_text(years=(2005,))
    path = est.save(tmp_path / "production.nc")
    again = OpiumProduction.load(path)
    np.testing.assert_allclose(again.production_draws(), est.production_draws())
    assert again.model_config.sources == tuple(SMALL_SOURCES)
    assert again.model_config == est.model_config


@pytest.mark.slow
def test_predict_extends_with_wider_intervals(recovery):
    est, _ = recovery
    pred = est.predict(years=[2011, 2014])
    width = np.log(pred.quantile(0.975, ("chain", "draw"))
                   / pred.quantile(0.025, ("chain", "draw")))
    assert (width.sel(year=2014) > width.sel(year=2011)).all()
    np.testing.assert_allclose(est.predict(years=[2011]),
                               est.production_draws().sel(year=[2011]))
    assert est.predict(years=2014, source="AFG").dims == ("chain", "draw")
    with pytest.raises(ValueError, match="before"):
        est.predict(years=[1990])


# ---- the real published figures --------------------------------------------------------
def _real_tables() -> dict[str, pd.DataFrame]:
    from burden.data.cleaning import CleaningLog
    from burden.data.loaders import reference
    from burden.registry import published

    src = published.REFERENCE_SOURCES["reference_opium_production"]
    log = CleaningLog(src.id, str(src.path))
    return {"production_measurements": reference.load(src.path, log, src.id)}


@pytest.fixture(scope="session")
def real_fit(production_fit):
    """The session's production fit on the packaged published figures (default sampler)."""
    return production_fit


@pytest.mark.slow
@pytest.mark.realdata
def test_real_fit_means_stay_inside_intervals_that_widen_without_data(real_fit):
    # The defect this guards against: heavy-tailed shocks compounding after a sparse
    # source's last measurement put the 2024 world mean above its 97.5% point.
    s = real_fit.summary()
    outside = s[(s["mean"] < s["lower"]) | (s["mean"] > s["upper"])]
    assert outside.empty, outside.to_string()
    # after a source's last own measurement its interval widens year by year, up to the
    # Monte Carlo error of the 2.5% and 97.5% points, and widens over the whole stretch.
    # A fixed allowance (0.05 in the log width, from PAK's 3.72 -> 3.70 dip in 2019-2020
    # on 2026-11-29) failed on a new machine's draws (LAO 2019-2020: 2.07 -> 2.02, CI of
    # afbc639, 2026-12-05): a dip may be three of its Monte Carlo standard errors, from
    # ArviZ's quantile MCSE of the log draws (the two years' four quantiles taken as
    # independent, which overstates the error of a difference of correlated years). In a
    # fit on that machine the allowed dips were 0.11-0.31 and the widths changed by -0.01
    # to +0.55 a year (COL, GTM, LAO, PAK, THA; a scratch copy of this test, 08:26 UTC)
    m = real_fit.measurements()
    level = np.isin(m.kind, ["production", "area", "share", "area_share"])
    prod = s[s.measure == "production_t"].set_index(["source", "year"])
    width = np.log(prod["upper"] / prod["lower"])
    log_draws = np.log(real_fit.production_draws())
    mcse_sq = sum(azs.mcse(log_draws, method="quantile", prob=q) ** 2 for q in (0.025, 0.975))
    checked = 0
    for i, source in enumerate(real_fit.sources):
        rows = level & (m.members.sum(1) == 1) & (m.members[:, i] > 0)
        if not rows.any():
            continue
        last = int(real_fit.years[m.year_idx[rows].max()])
        if last <= 2021:
            w = width.xs(source, level="source").loc[last:]
            err = mcse_sq.sel(source=source, year=w.index.to_numpy()).to_numpy()
            allowed = 3 * np.sqrt(err[1:] + err[:-1])
            assert (np.diff(w.to_numpy()) > -allowed).all(), (
                source, last, w.round(2).tolist(), allowed.round(3).tolist())
            assert w.iloc[-1] > w.iloc[0] + 0.1, (source, last, w.round(2).tolist())
            checked += 1
    assert checked >= 3  # COL, PAK, GTM, THA stop measuring before 2017


@pytest.mark.slow
@pytest.mark.realdata
def test_real_fit_converges_and_matches_published_statements(real_fit):
    report = real_fit.convergence_report()
    assert report["divergences"] == 0
    assert report["r_hat_max"] <= 1.01, report
    s = real_fit.summary().set_index(["source", "year", "measure"])
    # UNODC: Afghanistan above 80% of world production in 2017 and 2018 (posterior mean
    # above 80% and most, i.e. more than half, of the posterior above it). Until model
    # version 4 this asked for three quarters; with yields varying by year the world total
    # is less certain (2018: 80.7% [73.9-85.4], P(> 80%) 0.64, measured 2026-11-29), and a
    # statement that names no uncertainty does not say how sure to be
    shares = real_fit.share_draws().sel(source="AFG")
    for year in (2017, 2018):
        assert s.loc[("AFG", year, "share"), "mean"] > 0.80
        assert float((shares.sel(year=year) > 0.80).mean()) > 0.5
    # Myanmar about 5% in 2017 ("near": mean within 1.5 points, interval covers 5%)
    mmr = s.loc[("MMR", 2017, "share")]
    assert abs(mmr["mean"] - 0.05) < 0.015 and mmr["lower"] <= 0.05 <= mmr["upper"]
    # the 2001 and 2023 bans are shocks, not smoothed away
    afg = s.xs(("AFG", "production_t"), level=("source", "measure"))
    assert afg["mean"][2001] < 0.2 * afg["mean"][2000]
    assert afg["mean"][2023] < 0.2 * afg["mean"][2022]
    # ... and close to the published ban-year figures (rows of the table, not constants)
    table = _real_tables()["production_measurements"]
    for year in (2001, 2023):
        pub = table[(table.iso3 == "AFG") & (table.year == year)
                    & (table.measure == "production_t") & table.verified]["value"]
        assert afg.loc[year, "lower"] <= pub.max() * 1.15
        assert afg.loc[year, "upper"] >= pub.min() / 1.15
    # no data after 2020 for Mexico: its interval widens
    mex = s.xs(("MEX", "production_t"), level=("source", "measure"))
    width = np.log(mex["upper"] / mex["lower"])
    assert width[2024] > width[2019]
    usage = real_fit.measurement_usage()
    # every row is used unless it has a reason; republications are counted once (the
    # packaged table: 353 rows, 40 republications, 299 used on 2026-11-29)
    repub = usage["reason"].str.startswith("republication of row")
    assert repub.sum() > 0 and not usage.loc[repub, "used"].any()
    assert usage["used"].sum() > 0.8 * (len(usage) - repub.sum())
    # the packaged table's heroin_manufacture_t rows (14 in reference_opium_production.csv)
    # cannot be used (no conversion ratio): there are unused rows, and each says why
    heroin = table.index[table["measure"] == "heroin_manufacture_t"]
    unused = usage.index[~usage["used"]]
    assert len(heroin) > 0 and set(heroin) <= set(unused)
    assert usage.loc[unused, "reason"].str.len().gt(0).all()


@pytest.mark.slow
@pytest.mark.realdata
def test_real_fit_follows_surveys_year_by_year(real_fit):
    """Yield varies by year: a low-yield survey year is followed, not averaged away."""
    table = _real_tables()["production_measurements"]
    s = real_fit.summary().set_index(["source", "year", "measure"])
    # Afghanistan 2015: UNODC/MCN survey 3,300 t (183,000 ha at a low yield)
    survey = table[(table.iso3 == "AFG") & (table.year == 2015)
                   & (table.measure == "production_t")]["value"]
    assert len(survey) == 1
    afg = s.loc[("AFG", 2015, "production_t")]
    assert afg["lower"] <= survey.iloc[0] <= afg["upper"], afg
    # Myanmar 2020-2023 inside their published uncertainty: a published range holds the
    # posterior mean; a figure without a range lies inside the 95% interval
    area = real_fit.posterior["area_ha"].sel(source="MMR")
    prod = real_fit.production_draws().sel(source="MMR")
    usage = real_fit.measurement_usage()
    rows = table[(table.iso3 == "MMR") & table.year.between(2020, 2023)
                 & table.measure.isin(["production_t", "cultivation_ha"])
                 & usage["used"].to_numpy()]
    assert len(rows) >= 6
    for r in rows.itertuples():
        draws = (area if r.measure == "cultivation_ha" else prod).sel(year=r.year)
        if pd.notna(r.lower):
            assert r.lower <= float(draws.mean()) <= r.upper, r
        else:
            lo, hi = np.quantile(draws.values, [0.025, 0.975])
            assert lo <= r.value <= hi, (r.year, r.measure, r.value, lo, hi)


@pytest.mark.slow
@pytest.mark.realdata
def test_real_fit_predictive_check_covers_published_rows_and_bounds(real_fit):
    from burden import summarise

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # e.g. PyMC's warning about Potentials
        ppc = summarise._ppc(real_fit, "production",
                             summarise._posterior_predictive(real_fit))
    usage = real_fit.measurement_usage()
    # one row per used published row: the point values and the bounds
    assert len(ppc) == int(usage["used"].sum())
    bounds = ppc[ppc["variable"] == "obs_bound"]
    assert len(bounds) == int(usage["how"].str.contains("bound").sum()) >= 1
    assert ppc["inside"].mean() >= 0.90, ppc[~ppc["inside"]].to_string()
