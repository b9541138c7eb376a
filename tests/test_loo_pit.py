"""LOO-PIT (burden.validate.loo_pit, burden.plots.loo_pit) on models whose answer is known.

y_i ~ Normal(theta_i, 1), theta_i ~ Normal(0, 1): each observation has its own parameter,
so leaving it out matters. The exact posterior is theta_i | y_i ~ Normal(y_i / 2, 1/sqrt 2)
and the exact leave-one-out predictive of y_i is its prior predictive Normal(0, sqrt 2). With
posterior draws taken from the exact posterior (no sampler), the LOO-PIT must match
Phi(y_i / sqrt 2) (the importance weights at work), while the in-sample PIT is pulled
towards 0.5 (each y_i has informed its own theta_i).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pymc as pm
import pytest
import xarray as xr
from scipy import stats

from burden.plots.loo_pit import MIN_PANEL, OTHER, loo_pit_ecdf_data, plot_loo_pit
from burden.validate.loo_pit import loo_pit_table

N, DRAWS = 120, 4000


def _toy(y: np.ndarray, seed: int = 0) -> SimpleNamespace:
    """An estimator-like object: exact posterior draws, the model, sources by half."""
    rng = np.random.default_rng(seed)
    theta = y / 2 + rng.normal(size=(1, DRAWS, len(y))) / np.sqrt(2)
    with pm.Model(coords={"obs": np.arange(len(y))}) as model:
        th = pm.Normal("theta", 0.0, 1.0, dims="obs")
        pm.Normal("y", th, 1.0, observed=y, dims="obs")
    idata = xr.DataTree.from_dict({
        "posterior": xr.Dataset({"theta": (("chain", "draw", "obs"), theta)},
                                coords={"obs": np.arange(len(y))}),
        "observed_data": xr.Dataset({"y": ("obs", y)}, coords={"obs": np.arange(len(y))})})
    halves = np.where(np.arange(len(y)) < len(y) // 2, "first half", "second half")
    return SimpleNamespace(model=model, idata=idata,
                           observation_sources=lambda: {"y": halves})


@pytest.fixture(scope="module")
def calibrated():
    y = np.random.default_rng(1).normal(0.0, np.sqrt(2.0), N)  # drawn from the model
    est = _toy(y)
    with est.model:
        pp = pm.sample_posterior_predictive(est.idata, random_seed=2, progressbar=False)
    predictive = pp["posterior_predictive"].to_dataset()
    return y, est, predictive


def test_loo_pit_matches_the_exact_leave_one_out_predictive(calibrated):
    y, est, predictive = calibrated
    table = loo_pit_table(est, "toy", predictive)
    assert list(table["source"].unique()) == ["first half", "second half"]
    assert table["observation"].tolist() == list(range(N))
    exact = stats.norm.cdf(y / np.sqrt(2.0))
    # Monte Carlo error of a PIT from 4,000 weighted draws: a few hundredths
    assert np.abs(table["pit"].to_numpy() - exact).max() < 0.06
    # Pareto k: leaving out an extreme observation moves its theta most, so k rises with
    # |y| (here 14% of observations above 0.7)
    k = table["pareto_k"].to_numpy()
    assert np.median(k) < 0.7
    assert stats.spearmanr(np.abs(y), k).statistic > 0.3  # 0.44 here: k is noisy
    # the in-sample PIT (no weights) is pulled to the middle: this is what LOO corrects
    in_sample = (predictive["y"].values[0] <= y).mean(axis=0)
    assert np.abs(in_sample - 0.5).mean() < np.abs(exact - 0.5).mean() - 0.05


def test_loo_pit_from_thinned_draws_still_matches(calibrated):
    """``burden summarise`` keeps every k-th draw for the predictive checks
    (``summarise.CHECK_DRAWS``): LOO-PIT from half the draws, predictive and
    log-likelihood thinned alike, still matches the exact leave-one-out predictive."""
    from burden.summarise import CHECK_DRAWS, checks_thin
    from burden.validate.loo_pit import log_likelihood

    y, est, predictive = calibrated
    assert checks_thin(est) == -(-DRAWS // CHECK_DRAWS)
    loglik = log_likelihood(est, est.idata["posterior"].to_dataset())
    half = slice(None, None, 2)
    table = loo_pit_table(est, "toy", predictive.isel(draw=half),
                          loglik=loglik.isel(draw=half))
    assert np.abs(table["pit"].to_numpy() - stats.norm.cdf(y / np.sqrt(2.0))).max() < 0.08


def test_a_potential_has_no_loo_pit(calibrated):
    _, est, predictive = calibrated
    with pytest.raises(ValueError, match="no predictive draws or log-likelihood"):
        loo_pit_table(est, "toy", predictive.drop_vars("y").assign(z=predictive["y"]))


def test_wrong_number_of_source_labels_is_an_error(calibrated):
    _, est, predictive = calibrated
    bad = SimpleNamespace(model=est.model, idata=est.idata,
                          observation_sources=lambda: {"y": np.array(["a", "b"])})
    with pytest.raises(ValueError, match="2 labels for 120 observations"):
        loo_pit_table(bad, "toy", predictive)


def _table(pit: np.ndarray, source: str = "s", model: str = "m") -> pd.DataFrame:
    return pd.DataFrame({"model": model, "variable": "y", "source": source,
                         "observation": np.arange(len(pit)), "pit": pit,
                         "pareto_k": np.zeros(len(pit))})


def test_band_flags_intervals_too_narrow_and_pools_small_sources():
    rng = np.random.default_rng(5)
    table = pd.concat([
        _table(rng.uniform(size=400), "calibrated"),
        # too narrow: observations pile up in both tails of their predictive
        _table(rng.beta(0.3, 0.3, size=400), "too narrow"),
        _table(rng.uniform(size=MIN_PANEL - 1), "tiny a"),
        _table(rng.uniform(size=3), "tiny b")], ignore_index=True)
    data = loo_pit_ecdf_data(table)
    inside = data.groupby("source")["inside"].first()
    assert inside["calibrated"] and not inside["too narrow"]
    assert set(data["source"]) == {"calibrated", "too narrow", OTHER}
    assert data.loc[data["source"] == OTHER, "n"].iloc[0] == MIN_PANEL - 1 + 3
    fig = plot_loo_pit(data)
    titles = [ax.get_title() for ax in fig.axes]
    assert any("too narrow" in t and "OUTSIDE" in t for t in titles)
    assert any("calibrated" in t and "inside" in t for t in titles)


def test_panel_titles_name_the_data_sources_not_internal_variables():
    """The fits label some observations by variable or internal id (``obs_composition_4``,
    ``nchs_final drug share``): the panels carry the sources' readable names."""
    rng = np.random.default_rng(6)
    table = pd.concat([_table(rng.uniform(size=20), source, model) for model, source in [
        ("markets", "obs_composition_4"), ("certified", "nchs_final"),
        ("certified", "vsrr drug share nowcast"), ("composition", "obs_seizures"),
        ("deaths", "GBD 2017 round")]], ignore_index=True)
    data = loo_pit_ecdf_data(table)
    labels = data.groupby("source")["label"].first()
    assert labels["obs_composition_4"] == (
        "DEA Heroin Signature Program: yearly shares in 4 parts")
    assert labels["nchs_final"] == "NCHS final counts (US)"
    assert labels["vsrr drug share nowcast"] == (
        "VSRR provisional counts (US), by drug, nowcast years")
    assert labels["GBD 2017 round"] == "GBD 2017 round"
    titles = " ".join(ax.get_title() for ax in plot_loo_pit(data).axes)
    assert "_" not in titles and "UNODC seizures" in titles


def test_the_certified_fits_source_ids_and_their_names_come_from_one_registry():
    """The certified fit builds its sources' ids from ``registry.observations.KINDS`` (one
    suffix per observed variable, every variable covered) and the panels read the names
    of the same entries; the page prints no id with an underscore for these fits."""
    from burden.models.certified import LOWER_BOUND, OBSERVED
    from burden.registry import observations

    variables = {v for pair in OBSERVED.values() for v in pair} | {LOWER_BOUND}
    assert set(observations.suffixes("certified")) == variables
    for kind in observations.KINDS["certified"]:
        assert observations.label("certified", f"vsrr{kind.suffix}") == (
            "VSRR provisional counts (US)" + kind.label)
    for fit, source in [("markets", "obs_lower_bound"), ("markets", "obs_composition_2"),
                        ("composition", "obs_prevalence"), ("certified", "phac"),
                        ("production", "UNODC world_change"),
                        ("production", "US government area_share")]:
        assert "_" not in observations.label(fit, source)
    # an id is read for its own fit only; one held nowhere is printed as it is
    assert observations.label("deaths", "obs_prevalence") == "obs_prevalence"
    assert observations.label("deaths", "GBD 2019 round") == "GBD 2019 round"
