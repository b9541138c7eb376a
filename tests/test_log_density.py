"""Pointwise log densities on whole arrays of draws (burden.validate.log_density) against
PyMC's own ``compute_log_likelihood`` / ``compute_log_prior``, on a model with each kind
of term the package's models use: transformed scales, a Dirichlet (an event dimension the
density drops), a censored likelihood, an observation without dims, a softplus,
broadcasting that PyMC writes as ``fill``, and the two graph forms whose rewrites
``batched_function`` leaves out (``SLOW_REWRITES``): a product with a 0/1 selection matrix
and an increment of a subtensor."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import pytest
import xarray as xr

from burden.validate.log_density import log_densities, log_density, log_likelihood, log_prior

CHAINS, DRAWS = 2, 40


@pytest.fixture(scope="module")
def toy():
    rng = np.random.default_rng(3)
    coords = {"obs": np.arange(30), "group": ["a", "b", "c"], "part": ["x", "y", "z", "w"]}
    with pm.Model(coords=coords) as model:
        mu = pm.Normal("mu", 0.0, 1.0)
        sigma = pm.HalfNormal("sigma", 1.0)
        share = pm.Dirichlet("share", np.ones(4), dims=("group", "part"))
        rate = pm.Deterministic("rate", pm.math.softplus(mu + share[:, 0].sum()))
        pm.Normal("y", mu, sigma, observed=rng.normal(size=30), dims="obs")
        pm.Censored("bound", pm.Normal.dist(mu, sigma), lower=None, upper=0.5,
                    observed=np.array([0.5, -1.0, 0.2]))
        pm.Poisson("count", rate, observed=np.array([[1, 0, 3], [2, 2, 0]]))
        # a 0/1 selection matrix (groups of 5 observations) and an increment of a subtensor
        selected = pt.dot(np.eye(3)[[0, 1, 1, 2, 0]], share[:, 1])
        shifted = pt.inc_subtensor(selected[[0, 3]], share[:2, 2])
        pm.Normal("selected", shifted, sigma, observed=rng.normal(0.3, 0.1, size=5))
        prior = pm.sample_prior_predictive(CHAINS * DRAWS, random_seed=4)
    draws = prior["prior"].to_dataset()[["mu", "sigma", "share"]]
    posterior = (draws.rename({"chain": "c"}).stack(s=("c", "draw")).drop_vars(["s", "c", "draw"])
                 .rename({"s": "flat"}).assign_coords(flat=np.arange(CHAINS * DRAWS)))
    posterior = posterior.coarsen(flat=DRAWS).construct(flat=("chain", "draw")).assign_coords(
        chain=np.arange(CHAINS), draw=np.arange(DRAWS))
    return SimpleNamespace(model=model), posterior


def _pymc(model, posterior, kind, names=None):
    tree = xr.DataTree.from_dict({"posterior": posterior})
    fn = pm.stats.compute_log_likelihood if kind == "likelihood" else pm.stats.compute_log_prior
    with model:
        out = fn(tree, var_names=names, extend_inferencedata=False, progressbar=False)
    return out.to_dataset() if isinstance(out, xr.DataTree) else out


@pytest.mark.parametrize("kind", ["likelihood", "prior"])
def test_values_dims_and_coords_are_pymcs(toy, kind):
    est, posterior = toy
    mine = log_likelihood(est, posterior) if kind == "likelihood" else log_prior(
        est, posterior, ["mu", "sigma", "share"])
    ref = _pymc(est.model, posterior, kind, None if kind == "likelihood"
                else ["mu", "sigma", "share"])
    assert sorted(mine.data_vars) == sorted(ref.data_vars)
    for name in ref.data_vars:
        a, b = ref[name], mine[name]
        assert a.dims == b.dims, name
        for d in a.dims:
            np.testing.assert_array_equal(a[d].values, b[d].values)
        np.testing.assert_allclose(b.values, a.values, rtol=1e-10, atol=1e-12, err_msg=name)
    if kind == "prior":  # the Dirichlet's density has one value per group, not per part
        assert mine["share"].dims == ("chain", "draw", "group")
    else:  # the censored observation at its bound has the log CDF, not the density
        assert np.all(mine["bound"].values[..., 0] != mine["bound"].values[..., 2])


def test_graphs_are_built_without_creation_traces():
    """Inside ``compiler_off`` PyTensor keeps no creation trace of new nodes (walking the
    stack for each was 4 of 22 s of a summary) and the setting is restored after."""
    import pytensor

    from burden.models.batched import compiler_off

    before = pytensor.config.traceback__limit
    with compiler_off():
        assert pytensor.config.traceback__limit == 0
        assert pt.vector("x").exp().tag.trace == []
    assert pytensor.config.traceback__limit == before
    assert pt.vector("x").exp().tag.trace[0]  # the line that built it


def test_both_densities_from_one_graph_are_each_alone(toy):
    """``log_densities`` (one graph for the likelihood and the prior, as ``summarise``
    uses) gives exactly the values of each computed on its own."""
    est, posterior = toy
    both = log_densities(est, posterior, {"likelihood": None, "prior": ["sigma", "share"]})
    alone = {"likelihood": log_likelihood(est, posterior),
             "prior": log_prior(est, posterior, ["sigma", "share"])}
    for kind, ref in alone.items():
        assert sorted(both[kind].data_vars) == sorted(ref.data_vars), kind
        for name in ref.data_vars:
            assert both[kind][name].dims == ref[name].dims
            np.testing.assert_array_equal(both[kind][name].values, ref[name].values)
    with pytest.raises(ValueError, match="'posterior'"):
        log_densities(est, posterior, {"likelihood": None, "posterior": None})


def test_blocks_of_draws_give_the_same_values(toy):
    est, posterior = toy
    whole = log_likelihood(est, posterior)
    one_by_one = log_density(est, posterior, "likelihood", block_bytes=1)
    for name in whole.data_vars:
        np.testing.assert_array_equal(whole[name].values, one_by_one[name].values)


def test_bad_requests_are_named(toy):
    est, posterior = toy
    with pytest.raises(ValueError, match=r"\['nope'\] are not free variables"):
        log_prior(est, posterior, ["nope"])
    with pytest.raises(ValueError, match=r"\['mu'\] are not observed variables"):
        log_density(est, posterior, "likelihood", ["mu"])
    with pytest.raises(ValueError, match=r"lacks the free variables \['sigma'\]"):
        log_likelihood(est, posterior.drop_vars("sigma"))
    with pytest.raises(ValueError, match="kind must be"):
        log_density(est, posterior, "posterior")


@pytest.fixture
def numba_compiles_fail(monkeypatch):
    """Any Numba compilation raises (a function already compiled in this process would
    be reused, so the functions under test must be new graphs)."""
    from numba.core.dispatcher import Dispatcher

    def refuse(self, *args, **kwargs):
        raise AssertionError(f"Numba compiled {self.py_func.__name__}")

    monkeypatch.setattr(Dispatcher, "_compile_for_args", refuse)


def test_log_density_compiles_nothing(toy, numba_compiles_fail):
    est, posterior = toy
    assert np.isfinite(log_likelihood(est, posterior)["y"].values).all()


def test_predictive_draws_without_compiling_are_pymcs(toy, monkeypatch):
    """``no_compile_mode`` gives the same random draws as PyMC's default (Numba) mode, and
    compiles nothing."""
    from numba.core.dispatcher import Dispatcher

    from burden.models.batched import compiler_off, no_compile_mode

    est, posterior = toy
    tree = xr.DataTree.from_dict({"posterior": posterior})
    with est.model:
        ref = pm.sample_posterior_predictive(tree, random_seed=5, progressbar=False)
    calls = []
    original = Dispatcher._compile_for_args

    def counted(self, *args, **kwargs):
        calls.append(self.py_func.__name__)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Dispatcher, "_compile_for_args", counted)
    with compiler_off(), est.model:
        mine = pm.sample_posterior_predictive(tree, random_seed=5, progressbar=False,
                                              compile_kwargs={"mode": no_compile_mode()})
    assert calls == []
    for name in ("y", "bound", "count"):
        np.testing.assert_allclose(mine["posterior_predictive"][name].values,
                                   ref["posterior_predictive"][name].values, rtol=1e-12)
