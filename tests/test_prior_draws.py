"""Prior draws for many draws at once (``burden.models.batched``): the same values and layout
as PyMC's draw-by-draw ``sample_prior_predictive`` with the same seed, and PyMC's own path
where a distribution cannot be drawn at once."""

from __future__ import annotations

import warnings

import numpy as np
import pymc as pm
import pytest

from burden.models.batched import (
    compiler_off,
    no_compile_mode,
    prior_draws,
    vectorised_prior_values,
)


def _pymc_draws(model, draws, var_names, seed):
    """PyMC's own prior draws, one call per draw (Python linker: nothing compiled)."""
    with compiler_off(), model, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the Potential's warning
        return pm.sample_prior_predictive(draws, var_names=var_names, random_seed=seed,
                                          compile_kwargs={"mode": no_compile_mode()})


def _toy_model(potential: bool = False) -> pm.Model:
    """A hierarchy of PyTensor's own random variables of several kinds (scalar and
    vector parameters, a multivariate one, discrete ones), Deterministics (one of data
    only), data and an observed variable."""
    coords = {"region": ["a", "b", "c"], "year": [2000, 2001, 2002, 2003], "cls": [0, 1, 2]}
    with pm.Model(coords=coords) as model:
        x = pm.Data("x", np.linspace(-1.0, 1.0, 4), dims="year")
        sigma = pm.HalfNormal("sigma", 1.0)
        mu = pm.Normal("mu", 0.0, 2.0)
        level = pm.Normal("level", mu, sigma, dims="region")
        slope = pm.StudentT("slope", nu=4, mu=0.0, sigma=0.5, dims="region")
        rate = pm.Gamma("rate", 2.0, 1.0)
        scale = pm.Exponential("scale", rate)
        p = pm.Beta("p", 2.0, 3.0, dims="region")
        w = pm.Dirichlet("w", np.ones(3), dims=("region", "cls"))
        k = pm.Binomial("k", 10, p, dims="region")
        pm.LogNormal("ln", level, scale, dims="region")
        eta = level[:, None] + slope[:, None] * x[None, :]
        pm.Deterministic("eta", eta, dims=("region", "year"))
        pm.Deterministic("share", w * p[:, None], dims=("region", "cls"))
        pm.Deterministic("x2", x * 2.0, dims="year")
        pm.Poisson("y", pm.math.exp(eta), observed=np.ones((3, 4), dtype="int64"),
                   dims=("region", "year"))
        if potential:
            pm.Potential("pull", -(mu ** 2) - k.sum())
    return model


@pytest.mark.parametrize(("var_names", "draws"), [
    (None, 300), (["eta", "w"], 300), (["x2"], 300),
    # as many draws as regions: a draw dimension lined up with the regions by mistake
    # would broadcast silently instead of failing
    (["level", "ln", "k"], 3)])
def test_prior_draws_at_once_are_pymc_draws_with_the_same_seed(var_names, draws):
    model = _toy_model()
    ours = prior_draws(model, draws, var_names=var_names, random_seed=11)
    theirs = _pymc_draws(model, draws, var_names, 11)
    assert sorted(ours.children) == sorted(theirs.children)
    for group in theirs.children:
        a, b = ours[group].to_dataset(), theirs[group].to_dataset()
        assert sorted(a.data_vars) == sorted(b.data_vars)
        for name in b.data_vars:
            assert a[name].dims == b[name].dims, name
            assert a[name].dtype == b[name].dtype, name
            for dim in b[name].dims:
                assert list(a[dim].values) == list(b[dim].values)
            np.testing.assert_allclose(a[name].values, b[name].values, rtol=0, atol=1e-12,
                                       err_msg=name)


def test_prior_draws_at_once_vary_between_draws_and_follow_the_prior():
    """Every draw is its own: not one value broadcast over the draws; another seed gives
    other draws."""
    values = vectorised_prior_values(_toy_model(), 4000, ["sigma", "level", "w"], 3)
    other = vectorised_prior_values(_toy_model(), 4000, ["sigma"], 4)
    assert not np.allclose(values["sigma"], other["sigma"])
    assert values["level"].shape == (4000, 3)
    assert values["w"].shape == (4000, 3, 3)
    assert np.unique(values["sigma"]).size == 4000
    # HalfNormal(1): mean sqrt(2/pi) = 0.798, sd 0.603, Monte Carlo se 0.0095
    assert abs(values["sigma"].mean() - np.sqrt(2 / np.pi)) < 0.04
    np.testing.assert_allclose(values["w"].sum(axis=-1), 1.0, atol=1e-12)


def test_the_composition_model_draws_its_prior_at_once_as_pymc_does():
    from burden.models.composition import OpioidComposition
    from burden.models.composition_sim import simulate
    from burden.models.deaths_sim import sim_locations

    tables, _ = simulate(sim_locations(), 102)
    est = OpioidComposition()
    model = est.build_model(est.prepare_data(tables))
    ours = vectorised_prior_values(model, 200, ["theta"], 5)
    assert ours is not None, "the composition fit's prior draws fell back to PyMC's loop"
    theirs = _pymc_draws(model, 200, ["theta"], 5)["prior"]["theta"].values[0]
    np.testing.assert_allclose(ours["theta"], theirs, rtol=0, atol=1e-12)


def test_symbolic_distributions_take_pymcs_own_path():
    with pm.Model(coords={"g": list("abcd")}) as model:
        sigma = pm.HalfNormal("sigma", 1.0)
        pm.ZeroSumNormal("z", sigma=sigma, dims="g")
        pm.CustomDist("c", 0.0, 1.0, dist=lambda m, s, size: pm.Normal.dist(m, s, size=size))
    assert vectorised_prior_values(model, 50, None, 1) is None
    ours = prior_draws(model, 50, random_seed=1)
    theirs = _pymc_draws(model, 50, None, 1)
    for name in ("sigma", "z", "c"):
        np.testing.assert_array_equal(ours["prior"][name].values, theirs["prior"][name].values)
    # a variable whose own graph is plain is still drawn at once
    assert vectorised_prior_values(model, 50, ["sigma"], 1) is not None


def test_draws_inside_deterministics_and_custom_random_functions_take_pymcs_path():
    """A draw inside a Deterministic is new at every PyMC draw (drawn at once it would be
    one value repeated); a CustomDist's random function may not take a batched size."""
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 1.0)
        pm.Deterministic("noisy", mu + pm.Normal.dist(0.0, 1.0, size=2))
        pm.CustomDist("c", mu, random=lambda m, rng=None, size=None: rng.normal(m, 1.0, size),
                      logp=lambda v, m: pm.logp(pm.Normal.dist(m, 1.0), v))
    assert vectorised_prior_values(model, 50, ["mu"], 1) is not None
    for names in (["noisy"], ["c"]):
        assert vectorised_prior_values(model, 50, names, 1) is None, names
    ours = prior_draws(model, 50, var_names=["noisy"], random_seed=1)["prior"]["noisy"]
    assert np.unique(ours.values[0, :, 0]).size == 50


def test_unknown_names_and_potentials_behave_as_in_pymc():
    model = _toy_model(potential=True)
    with pytest.warns(UserWarning, match="Potentials"):
        prior_draws(model, 10, var_names=["mu"], random_seed=1)
    with pytest.raises(KeyError, match="no_such_variable"), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # PyMC's own Potential warning
        prior_draws(model, 10, var_names=["no_such_variable"], random_seed=1)
