"""Posterior predictive draws for blocks of draws at once
(``burden.models.posterior_predictive``) against PyMC's ``sample_posterior_predictive``
and against the distributions they must come from, on a toy model with each kind of
observation the package's models use: a normal, a Student-t whose ``nu`` is a constant
(PyTensor's own batching rule fails on it), a right-censored normal and a Poisson count
without dims."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest
import xarray as xr
from scipy import stats

from burden.models.posterior_predictive import posterior_predictive

CHAINS, DRAWS = 2, 400
BOUND = 0.5


@pytest.fixture(scope="module")
def toy():
    rng = np.random.default_rng(3)
    coords = {"obs": np.arange(30)}
    with pm.Model(coords=coords) as model:
        mu = pm.Normal("mu", 0.0, 1.0)
        sigma = pm.HalfNormal("sigma", 1.0)
        x = pm.Data("x", rng.normal(size=30), dims="obs")
        rate = pm.Deterministic("rate", pm.math.softplus(mu + 1.0))
        pm.Normal("y", mu + x, sigma, observed=rng.normal(size=30), dims="obs")
        pm.StudentT("t", nu=4.0, mu=mu, sigma=sigma, observed=rng.normal(size=5))
        pm.Censored("bound", pm.Normal.dist(mu, sigma), lower=None, upper=BOUND,
                    observed=np.array([BOUND, -1.0, 0.2]))
        pm.Poisson("count", rate, observed=np.array([[1, 0, 3], [2, 2, 0]]))
        pm.Normal("fixed", 0.0, 2.0, observed=np.zeros(4))  # depends on no free variable
        prior = pm.sample_prior_predictive(CHAINS * DRAWS, random_seed=4)
    draws = prior["prior"].to_dataset()[["mu", "sigma"]]
    flat = draws.stack(s=("chain", "draw")).drop_vars(["s", "chain", "draw"])
    posterior = flat.coarsen(s=DRAWS).construct(s=("chain", "draw")).assign_coords(
        chain=np.arange(CHAINS), draw=np.arange(DRAWS))
    constant = xr.Dataset({"x": ("obs", model["x"].get_value())})
    return model, posterior, constant


def test_dims_coords_and_dtypes_are_pymcs(toy):
    model, posterior, constant = toy
    mine = posterior_predictive(model, posterior, 1, constant)
    with model:
        ref = pm.sample_posterior_predictive(
            xr.DataTree.from_dict({"posterior": posterior}), random_seed=1,
            progressbar=False)["posterior_predictive"].to_dataset()
    assert sorted(mine.data_vars) == sorted(ref.data_vars) == ["bound", "count", "fixed",
                                                               "t", "y"]
    for name in ref.data_vars:
        a, b = mine[name], ref[name]
        assert a.dims == b.dims and a.dtype == b.dtype, name
        for d in a.dims:
            np.testing.assert_array_equal(a[d].values, b[d].values)


def test_draws_come_from_each_observation_given_its_draw(toy):
    """Standardised by each draw's own parameters, the normal and Student-t draws follow
    their distributions; the censored ones are clipped at the bound as often as the
    normal exceeds it; the counts have their draws' rates as mean (z-tests at 5 sd)."""
    model, posterior, constant = toy
    pp = posterior_predictive(model, posterior, 7, constant)
    mu, sigma = posterior["mu"].values[..., None], posterior["sigma"].values[..., None]
    x = constant["x"].values
    y = ((pp["y"].values - mu - x) / sigma).ravel()
    assert stats.kstest(y, "norm").pvalue > 1e-3
    t = ((pp["t"].values - mu) / sigma).ravel()
    assert stats.kstest(t, stats.t(4.0).cdf).pvalue > 1e-3
    bound = pp["bound"].values
    assert bound.max() == BOUND
    at_bound = (bound == BOUND).mean()
    expected = stats.norm.sf((BOUND - mu) / sigma).mean()
    assert abs(at_bound - expected) < 5 * np.sqrt(expected * (1 - expected) / bound.size)
    fixed = pp["fixed"].values
    assert fixed.shape == (CHAINS, DRAWS, 4)
    assert stats.kstest(fixed.ravel() / 2.0, "norm").pvalue > 1e-3
    rate = np.log1p(np.exp(posterior["mu"].values + 1.0))[..., None, None]
    count = pp["count"].values
    assert count.shape == (CHAINS, DRAWS, 2, 3)
    resid = (count - rate).ravel()
    assert abs(resid.mean()) < 5 * np.sqrt(rate.mean() / resid.size)


def test_a_seed_gives_the_same_draws_and_blocks_change_nothing_else(toy):
    model, posterior, constant = toy
    a = posterior_predictive(model, posterior, 11, constant)
    b = posterior_predictive(model, posterior, 11, constant)
    c = posterior_predictive(model, posterior, 12, constant)
    small = posterior_predictive(model, posterior, 11, constant, block_bytes=1)
    for name in a.data_vars:
        np.testing.assert_array_equal(a[name].values, b[name].values)
        assert not np.array_equal(a[name].values, c[name].values), name
        assert small[name].shape == a[name].shape
    # one draw per block still draws each observation of each draw once
    assert np.unique(small["y"].values).size == small["y"].size


def test_the_models_own_generators_are_left_as_they_were(toy):
    model, posterior, constant = toy
    from pytensor.graph.traversal import ancestors
    from pytensor.tensor.random.type import RandomGeneratorType

    rngs = [v for v in ancestors(model.observed_RVs)
            if isinstance(v.type, RandomGeneratorType) and v.owner is None]
    states = [r.get_value().bit_generator.state for r in rngs]
    posterior_predictive(model, posterior, 3, constant)
    assert rngs and states == [r.get_value().bit_generator.state for r in rngs]


def test_nothing_is_compiled(toy, monkeypatch):
    from numba.core.dispatcher import Dispatcher

    def refuse(self, *args, **kwargs):
        raise AssertionError(f"Numba compiled {self.py_func.__name__}")

    monkeypatch.setattr(Dispatcher, "_compile_for_args", refuse)
    model, posterior, constant = toy
    assert posterior_predictive(model, posterior, 5, constant)["y"].notnull().all()


def test_what_would_make_the_draws_invalid_is_an_error(toy):
    model, posterior, constant = toy
    with pytest.raises(ValueError, match=r"lacks the free variables \['sigma'\]"):
        posterior_predictive(model, posterior.drop_vars("sigma"), 1, constant)
    with pytest.raises(ValueError, match="'x' does not hold the value it held at the fit"):
        posterior_predictive(model, posterior, 1, constant.assign(x=constant["x"] + 1.0))
    with model.copy() as with_potential:
        pm.Potential("penalty", -with_potential["mu"] ** 2)
    with pytest.raises(ValueError, match=r"has Potentials \(\['penalty'\]\)"):
        posterior_predictive(with_potential, posterior, 1, constant)


def test_a_sampler_built_once_gives_each_calls_own_draws(toy):
    """``predictive_sampler``: one graph for many calls (posterior SBC's worlds), each call
    seeded afresh, so its draws are a separate ``posterior_predictive`` call's whatever
    the calls before it; different seeds give different draws."""
    from burden.models.posterior_predictive import predictive_sampler

    model, posterior, constant = toy
    sample = predictive_sampler(model, constant)
    first, second, first_again = (sample(posterior.isel(draw=slice(0, 5)), seed)
                                  for seed in ([3, 2, 0], [3, 2, 1], [3, 2, 0]))
    alone = posterior_predictive(model, posterior.isel(draw=slice(0, 5)), [3, 2, 0],
                                 constant)
    for name in first.data_vars:
        np.testing.assert_array_equal(first[name].values, alone[name].values)
        np.testing.assert_array_equal(first_again[name].values, first[name].values)
    assert not np.array_equal(first["y"].values, second["y"].values)


def test_each_generator_draws_from_its_own_stream_of_the_seed(toy):
    """The seeding rule itself, so a change to it cannot pass by changing both paths:
    the generators of the observed variables' graph, in ``ancestors`` order, take the
    streams ``SeedSequence(seed).spawn(n)`` in that order. ``fixed`` (N(0, 2), no free
    variable) draws all its values in one call of its own generator."""
    from pytensor.graph.traversal import ancestors
    from pytensor.tensor.random.type import RandomGeneratorType

    model, posterior, constant = toy
    rngs = [v for v in ancestors(list(model.observed_RVs))
            if isinstance(v.type, RandomGeneratorType) and v.owner is None]
    k = rngs.index(model["fixed"].owner.inputs[0])
    some = posterior.isel(draw=slice(0, 5))
    drawn = posterior_predictive(model, some, [3, 2, 0], constant)["fixed"].values
    stream = np.random.SeedSequence([3, 2, 0]).spawn(len(rngs))[k]
    expected = np.random.default_rng(stream).normal(0.0, 2.0, size=(CHAINS * 5, 4))
    np.testing.assert_array_equal(drawn.reshape(CHAINS * 5, 4), expected)
