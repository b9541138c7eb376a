"""OpioidDeaths: contract, aggregation, US correction, persistence and parameter recovery.

One small model is fitted once per session on data simulated from the model itself
(burden.models.deaths_sim: a made-up 18-country world); every test reads that fit.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from burden.models.base import ConvergenceWarning, NotFittedError
from burden.models.deaths import OpioidDeaths
from burden.models.deaths_sim import simulate, template_tables

SIM_SEED = 3  # one fixed simulated data set (recovery is checked for this draw)
# small and fast: the API tests need draws, not precision
SAMPLER = {"draws": 200, "tune": 200, "chains": 2, "nuts_sampler": "nutpie",
           "random_seed": 11}
# the recovery fit: the package defaults (4 chains x 1,000 draws)
RECOVERY_SAMPLER = {"random_seed": 11}


@pytest.fixture(scope="session")
def simulated():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # notes (TWN has no population)
        return simulate(OpioidDeaths(), template_tables(), seed=SIM_SEED)


@pytest.fixture(scope="session")
def fitted(simulated):
    data, _, _ = simulated
    model = OpioidDeaths(sampler_config=SAMPLER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # notes (TWN has no population)
        model.fit(data, progressbar=False)
    return model


# ---- configuration and inputs ------------------------------------------------------------
def test_configs_merge_over_defaults():
    model = OpioidDeaths({"priors": {"sigma_gbd": 0.5}, "forecast_to": 2030}, {"draws": 10})
    assert model.model_config["priors"]["sigma_gbd"] == 0.5
    assert model.model_config["priors"]["tau_step"] == model.default_model_config["priors"][
        "tau_step"]
    assert model.model_config["forecast_to"] == 2030
    assert model.sampler_config["draws"] == 10
    assert model.sampler_config["nuts_sampler"] == "nutpie"
    with pytest.raises(ValueError, match="country_effects"):
        OpioidDeaths({"country_effects": "sideways"})
    with pytest.raises(ValueError, match="nuts_sampler"):
        OpioidDeaths(sampler_config={"nuts_sampler": "gibbs"})


def test_missing_table_and_unknown_country_are_named():
    tables = template_tables()
    with pytest.raises(ValueError, match="us_provisional"):
        OpioidDeaths().fit({k: v for k, v in tables.items() if k != "us_provisional"})
    tables["locations"] = tables["locations"][tables["locations"]["iso3"] != "X07"]
    with pytest.raises(ValueError, match="X07"):
        OpioidDeaths().build_model(tables)


def test_not_fitted_raises():
    with pytest.raises(NotFittedError):
        OpioidDeaths().summary()


def test_prior_predictive_before_fit():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        prior = OpioidDeaths().sample_prior_predictive(template_tables(), draws=50)
    obs = prior["prior_predictive"]["gbd_log_deaths"]
    assert obs.sizes["draw"] == 50
    assert np.isfinite(obs.values).all()
    assert float(obs.std()) > 0


def test_country_without_population_is_named_and_kept(fitted):
    notes = fitted.inputs().notes
    assert any("TWN" in n and "not in the World Bank table" in n for n in notes)
    table = fitted.summary("country")
    twn = table[table["location_id"] == "TWN"]
    assert twn.loc[twn["measure"] == "deaths", "mean"].notna().all()
    assert twn.loc[twn["measure"] == "rate_per_100k", "mean"].isna().all()


# ---- outputs -----------------------------------------------------------------------------
@pytest.mark.parametrize("parts, whole", [("country", "region"), ("region", "super_region"),
                                          ("super_region", "world")])
def test_aggregates_are_sums_of_draws(fitted, parts, whole):
    inp = fitted.inputs()
    small, big = fitted.deaths_draws(parts), fitted.deaths_draws(whole)
    if parts == "country":
        parent = dict(zip(inp.countries, np.asarray(inp.region_ids)[inp.country_region]))
    elif parts == "region":
        parent = dict(zip(inp.region_ids, np.asarray(inp.super_region_ids)[inp.region_super]))
    else:
        parent = dict.fromkeys(inp.super_region_ids, "WLD")
    summed = small.assign_coords(location=[parent[p] for p in small.location.values]) \
        .drop_vars("location_name", errors="ignore").groupby("location").sum()
    np.testing.assert_allclose(summed.sel(location=big.location.values).values, big.values,
                               rtol=1e-10)


def test_summary_table_shape_and_order(fitted):
    table = fitted.summary()
    assert list(table.columns) == ["location_id", "location_name", "location_level", "year",
                                   "measure", "mean", "lower", "upper"]
    assert set(table["location_level"]) == {"country", "region", "super_region", "world"}
    ok = table.dropna()
    assert (ok["lower"] <= ok["mean"]).all() and (ok["mean"] <= ok["upper"]).all()
    assert len(ok) > 0.95 * len(table)  # only TWN's rates are missing


def test_forecast_uncertainty_widens(fitted):
    inp = fitted.inputs()
    log_deaths = np.log(fitted.deaths_draws("country").values)
    spread = log_deaths.reshape(-1, *log_deaths.shape[2:]).std(axis=0)  # country x year
    last = int(np.nonzero(inp.years == inp.last_data_year)[0][0])
    widening = spread[:, -1] > spread[:, last]
    assert widening.mean() >= 0.9, f"only {widening.mean():.0%} of countries widen"


def test_predict_any_location_and_year(fitted):
    out = fitted.predict(["USA", "WLD", fitted.inputs().region_ids[0]], [2000, 2024])
    assert set(out["location_id"]) == {"USA", "WLD", fitted.inputs().region_ids[0]}
    assert set(out["year"]) == {2000, 2024}
    with pytest.raises(ValueError, match="outside the model span"):
        fitted.predict("USA", 2040)
    with pytest.raises(ValueError, match="unknown location"):
        fitted.predict("XXX", 2000)


def test_us_corrected_exceeds_reported_draw_by_draw(fitted):
    corrected = fitted.us_drug_deaths_draws(corrected=True)
    reported = fitted.us_drug_deaths_draws(corrected=False)
    assert corrected.dims == ("chain", "draw", "drug", "year")
    assert {"any_opioid", "heroin", "synthetic_opioids", "rx_opioids"} <= set(
        corrected.drug.values)
    assert (corrected.values > reported.values).all()
    # each opioid's deaths are a share of any-opioid deaths
    assert (corrected.sel(drug="heroin") < corrected.sel(drug="any_opioid")).all()
    table = fitted.us_correction_summary()
    assert set(table["series"]) == {"reported", "corrected"}
    assert list(table.columns) == ["year", "series", "mean", "lower", "upper"]


def test_draws_as_xarray_and_tidy(fitted):
    draws = fitted.deaths_draws("world")
    assert draws.dims == ("chain", "draw", "location", "year")
    tidy = draws.to_dataframe().reset_index()
    assert {"chain", "draw", "location", "year", "deaths"} <= set(tidy.columns)


# ---- diagnostics -------------------------------------------------------------------------
def test_diagnostics_cover_reported_quantities(fitted):
    diag = fitted.diagnostics()
    assert {"deaths_country", "deaths_world", "us_deaths_corrected"} <= set(diag["variable"])
    assert list(diag.columns) == ["variable", "size", "r_hat_max", "ess_bulk_min",
                                  "ess_tail_min"]


def test_short_fit_warns_loudly(fitted):
    short = OpioidDeaths(sampler_config=SAMPLER)
    short._data, short._inputs = fitted._data, fitted.inputs()
    short._idata = fitted.idata.isel(draw=slice(0, 8))
    with pytest.warns(ConvergenceWarning, match="DID NOT CONVERGE"):
        report = short.check_convergence(warn=True)
    assert not report["converged"]


# ---- persistence -------------------------------------------------------------------------
def test_save_load_round_trip(fitted, tmp_path):
    path = fitted.save(tmp_path / "deaths.nc")
    loaded = OpioidDeaths.load(path)
    meta = loaded.saved_metadata
    assert meta["package_version"]
    assert meta["random_seed"] == SAMPLER["random_seed"]
    assert set(meta["input_hashes"]) >= set(OpioidDeaths.data_tables)
    assert meta["model_config"]["forecast_to"] == fitted.model_config["forecast_to"]
    pd.testing.assert_frame_equal(loaded.summary("region"), fitted.summary("region"))


# ---- parameter recovery ------------------------------------------------------------------
@pytest.mark.slow
def test_parameter_recovery_90pct_intervals(simulated):
    """True values of the free parameters lie in their 90% intervals for >= 90% of them.

    Every element of every free parameter counts (levels, spline coefficients, steps, scales,
    the US block). Every parameter of the simulated data set is drawn from the priors (the
    setting in which Bayesian intervals are calibrated on average); the world is shaped like
    GBD's (7 super-regions, 21 regions, 42 countries). The expected share is 90%, so this
    checks one fixed simulated data set (SIM_SEED), fitted with the default sampler settings.
    """
    data, truth, _ = simulated
    model = OpioidDeaths(sampler_config=RECOVERY_SAMPLER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model.fit(data, progressbar=False)
    post = model.posterior
    inside = []
    for name, value in truth.items():
        draws = post[name].values.reshape(-1, *post[name].shape[2:])
        lo, hi = np.quantile(draws, [0.05, 0.95], axis=0)
        inside.append(((lo <= value) & (value <= hi)).ravel())
    inside = np.concatenate(inside)
    report = model.convergence_report()
    print(f"recovery: {inside.mean():.1%} of {inside.size} parameters in their 90% intervals; "
          f"max R-hat {report['r_hat_max']:.3f}, min bulk ESS {report['ess_bulk_min']:.0f}, "
          f"{report['divergences']} divergences")
    assert inside.mean() >= 0.90


# ---- vectorised diagnostics ----------------------------------------------------------------
def test_fast_diagnostics_match_arviz():
    import arviz as az
    import xarray as xr

    from burden.models import fast_diagnostics

    rng = np.random.default_rng(0)
    phi = np.linspace(0.0, 0.9, 12)  # from independent draws to strong autocorrelation
    noise = rng.normal(size=(4, 400, 12))
    draws = np.zeros_like(noise)
    for t in range(1, 400):
        draws[:, t] = phi * draws[:, t - 1] + noise[:, t]
    draws[1] += 0.3  # one chain off: R-hat must see it
    ours = fast_diagnostics.summarise(draws)
    da = xr.DataArray(draws, dims=("chain", "draw", "i"))
    np.testing.assert_allclose(ours["r_hat"], np.asarray(az.rhat(da)), rtol=1e-5)
    np.testing.assert_allclose(ours["ess_bulk"], np.asarray(az.ess(da, method="bulk")),
                               rtol=0.05)
    np.testing.assert_allclose(ours["ess_tail"],
                               np.asarray(az.ess(da, method="tail", prob=(0.05, 0.95))),
                               rtol=0.05)


# ---- real data: inputs only (the real fit is measured by analysis/benchmark_deaths.py) ----
@pytest.mark.realdata
def test_real_inputs_align(raw_file):
    from burden.data.cleaning import CleaningLog
    from burden.data.loaders import nida, owid_gbd, vsrr, worldbank
    from burden.models.deaths_data import prepare_inputs
    from burden.registry.locations import hierarchy

    data = {}
    for table, loader, source_id in [("gbd_deaths", owid_gbd, "owid_gbd_deaths"),
                                     ("us_deaths_by_drug", nida, "nida_deaths"),
                                     ("us_provisional", vsrr, "vsrr_provisional"),
                                     ("population", worldbank, "worldbank_population")]:
        path = raw_file(source_id)
        data[table] = loader.load(path, CleaningLog(source_id, path.name), source_id)
    inp = prepare_inputs(data, hierarchy(), forecast_to=2024, knot_spacing=5)
    assert len(inp.countries) == len(hierarchy())  # every GBD country has a region
    assert inp.last_data_year == 2017
    assert list(np.asarray(inp.countries)[~inp.has_population]) == ["TWN"]
    us = inp.us
    assert us["years"][0] == 1999
    assert sorted(us["years"][us["pct_year"]]) == [2015, 2016, 2017]
    # VSRR's percent specified rises over 2015-2017 in the file
    assert np.all(np.diff(us["pct_logit"][np.argsort(us["pct_year"])]) > 0)
