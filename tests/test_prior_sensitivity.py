"""Power-scaling prior sensitivity (burden.validate.prior_sensitivity) where the answer is
known: y_i ~ Normal(mu, 1), mu ~ Normal(0, s0), posterior draws taken from the exact
conjugate posterior (no sampler)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pymc as pm
import pytest
import xarray as xr

from burden.models.config import Prior
from burden.validate.prior_sensitivity import THRESHOLD, diagnosis, prior_sensitivity_table


def _toy(prior_sd: float, n: int, seed: int = 0) -> SimpleNamespace:
    rng = np.random.default_rng(seed)
    y = rng.normal(2.0, 1.0, n)
    precision = 1 / prior_sd**2 + n
    mean, sd = y.sum() / precision, 1 / np.sqrt(precision)
    mu = mean + sd * rng.normal(size=(2, 2000))
    with pm.Model() as model:
        m = Prior("Normal", mu=0.0, sigma=prior_sd).create("mu")
        pm.Normal("y", m, 1.0, observed=y)
    idata = xr.DataTree.from_dict({"posterior": xr.Dataset({"mu": (("chain", "draw"), mu)})})
    return SimpleNamespace(model=model, idata=idata)


def _row(est):
    mu = est.idata["posterior"].to_dataset()["mu"]
    return prior_sensitivity_table(est, "toy", headlines={"mu": mu}).iloc[0]


def test_a_prior_that_decides_the_answer_is_flagged():
    # one observation against a prior sd of 0.1: the posterior is nearly the prior
    row = _row(_toy(prior_sd=0.1, n=1))
    assert row["prior_sensitivity"] > THRESHOLD > row["likelihood_sensitivity"]
    assert row["diagnosis"].startswith("prior-driven")


def test_data_that_decide_the_answer_are_not_flagged():
    row = _row(_toy(prior_sd=10.0, n=200))
    assert row["prior_sensitivity"] < THRESHOLD < row["likelihood_sensitivity"]
    assert row["diagnosis"] == "ok"


def test_only_configured_priors_are_power_scaled():
    with pm.Model() as model:
        pm.Normal("structural", 0.0, 1.0)  # not a configured Prior: not scaled
        pm.Normal("y", 0.0, 1.0, observed=[0.0])
    est = SimpleNamespace(model=model, idata=xr.DataTree.from_dict({"posterior": xr.Dataset(
        {"structural": (("chain", "draw"), np.zeros((1, 10)))})}))
    with pytest.raises(ValueError, match="no configured prior"):
        prior_sensitivity_table(est, "toy", headlines={
            "s": est.idata["posterior"].to_dataset()["structural"]})


def _two_priors(strong: str, seed: int = 0) -> SimpleNamespace:
    """y ~ Normal(a, 1) and z ~ Normal(b, 1), a and b configured priors Normal(0, sd), with
    exact (conjugate, independent) posterior draws: the ``strong`` one has prior sd 0.1 and
    one observation (its prior decides it), the other sd 10 and 200 observations."""
    rng = np.random.default_rng(seed)
    setting = {v: (0.1, 1) if v == strong else (10.0, 200) for v in ("a", "b")}
    draws, observed = {}, {}
    for v, (prior_sd, n) in setting.items():
        observed[v] = rng.normal(2.0, 1.0, n)
        precision = 1 / prior_sd**2 + n
        draws[v] = (observed[v].sum() / precision
                    + rng.normal(size=(2, 2000)) / np.sqrt(precision))
    with pm.Model() as model:
        for v, (prior_sd, _) in setting.items():
            pm.Normal(f"y_{v}", Prior("Normal", mu=0.0, sigma=prior_sd).create(v), 1.0,
                      observed=observed[v])
    posterior = xr.Dataset({v: (("chain", "draw"), d) for v, d in draws.items()})
    return SimpleNamespace(model=model, idata=xr.DataTree.from_dict({"posterior": posterior}))


@pytest.mark.parametrize("strong", ["a", "b"])
def test_the_largest_single_prior_is_the_one_that_decides_the_output(strong):
    # the output a + b depends on both; only the strong prior moves it
    est = _two_priors(strong)
    post = est.idata["posterior"].to_dataset()
    row = prior_sensitivity_table(est, "toy", headlines={"a + b": post["a"] + post["b"]}
                                  ).iloc[0]
    assert row["largest_prior"] == strong
    assert row["largest_prior_sensitivity"] > THRESHOLD


@pytest.mark.parametrize(("prior", "likelihood", "expected"), [
    (0.01, 0.2, "ok"), (0.2, 0.01, "prior-driven (strong prior, weak likelihood)"),
    (0.2, 0.2, "prior-data conflict"), (0.01, 0.01, "weak likelihood")])
def test_diagnosis(prior, likelihood, expected):
    assert diagnosis(prior, likelihood) == expected


def test_the_summed_log_likelihood_gives_arviz_own_sensitivities():
    # psense reads only the per-draw total of the log-likelihood group: two variables, one
    # of them two-dimensional, summed first, give what arviz_stats gives on the full group
    import arviz_stats

    from burden.validate.prior_sensitivity import total_log_density

    rng = np.random.default_rng(3)
    draws = {"mu": (("chain", "draw"), rng.normal(size=(2, 500)))}
    loglik = xr.Dataset({
        "y": (("chain", "draw", "obs"), rng.normal(-1.0, 0.3, size=(2, 500, 7))),
        "z": (("chain", "draw", "row", "col"), rng.normal(-2.0, 0.2, size=(2, 500, 3, 4)))})
    full = xr.DataTree.from_dict({"posterior": xr.Dataset(draws), "log_likelihood": loglik})
    summed = xr.DataTree.from_dict({"posterior": xr.Dataset(draws), "log_likelihood":
                                    xr.Dataset({"total": total_log_density(loglik)})})
    expected = arviz_stats.psense(full, group="likelihood")["mu"]
    assert float(arviz_stats.psense(summed, group="likelihood")["mu"]) == pytest.approx(
        float(expected), rel=1e-9)
    assert total_log_density(loglik).dims == ("chain", "draw")
