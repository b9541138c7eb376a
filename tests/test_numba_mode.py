"""nutpie's Numba compilation without PyTensor's in-place Elemwise rewrite
(``burden.models.base.numba_mode_without``, ``NUMBA_EXCLUDED_REWRITES``): the rewrite is
left out while the package compiles and only then, and the draws are the same."""

from __future__ import annotations

import warnings

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest

from burden.models.base import NUMBA_EXCLUDED_REWRITES, NUMBA_FASTMATH, numba_mode_without


def _in_place_nodes(fn) -> int:
    return sum(1 for node in fn.maker.fgraph.apply_nodes
               if getattr(node.op, "destroy_map", None))


def _function():
    x, y = pt.dvector("x"), pt.dvector("y")
    # exp(cumsum(x)) * y: the elementwise part can overwrite the cumulative sum's buffer
    # (an intermediate; the inputs are protected)
    return pytensor.function([x, y], pt.exp(pt.cumsum(x)) * y, mode="NUMBA")


def test_the_rewrite_is_left_out_inside_only_and_restored_after_an_error():
    assert "inplace_elemwise" in NUMBA_EXCLUDED_REWRITES
    assert _in_place_nodes(_function()) > 0, "PyTensor no longer writes this in place"
    with numba_mode_without(NUMBA_EXCLUDED_REWRITES):
        inside = _function()
    assert _in_place_nodes(inside) == 0
    assert _in_place_nodes(_function()) > 0
    with pytest.raises(RuntimeError, match="inside"), numba_mode_without(("inplace",)):
        raise RuntimeError("inside")
    assert _in_place_nodes(_function()) > 0
    x, y = np.linspace(-2.0, 2.0, 7), np.linspace(1.0, 3.0, 7)
    np.testing.assert_array_equal(inside(x, y), _function()(x, y))


@pytest.mark.slow
def test_nutpie_draws_are_the_same_with_and_without_the_in_place_rewrite():
    """The rewrite only reuses memory: the same arithmetic, so the same draws."""
    import nutpie

    y = np.array([0.3, -1.2, 2.5, 0.8, 1.7])
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 1.0)
        slope = pm.Normal("slope", 0.0, 1.0)
        sigma = pm.HalfNormal("sigma", 1.0)
        pm.Normal("y", mu + slope * np.linspace(0.0, 1.0, 5), sigma, observed=y)
    names = [rv.name for rv in model.free_RVs]

    def draws(compiled) -> np.ndarray:
        trace = nutpie.sample(compiled, draws=50, tune=50, chains=1, seed=5,
                              progress_bar=False)
        return np.concatenate([trace.posterior[v].values.ravel() for v in names])

    with warnings.catch_warnings(), pytensor.config.change_flags(numba__fastmath=NUMBA_FASTMATH):
        warnings.simplefilter("ignore")
        with_rewrite = nutpie.compile_pymc_model(model, backend="numba", var_names=names)
        with numba_mode_without(NUMBA_EXCLUDED_REWRITES):
            without = nutpie.compile_pymc_model(model, backend="numba", var_names=names)
        np.testing.assert_array_equal(draws(without), draws(with_rewrite))
