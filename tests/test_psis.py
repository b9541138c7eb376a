"""The vectorised PSIS log weights equal arviz_stats' one-observation-at-a-time ones."""

import arviz_stats  # noqa: F401
import numpy as np
import pytest
import xarray as xr

from burden.validate.psis import gpd_fit, psislw, psislw_array, tail_length


def _loglik(seed: int, chains: int, draws: int, n: int) -> xr.DataArray:
    rng = np.random.default_rng(seed)
    # light and heavy tails (Student t with 2 degrees of freedom: k near 0.5 and above),
    # scales from small to large, and one column of rounded values (ties)
    ll = (rng.normal(size=(chains, draws, n)) * rng.gamma(1.0, 1.0, size=n)
          + rng.standard_t(2, size=(chains, draws, n)) * rng.uniform(0, 2, size=n))
    ll[:, :, 0] = np.round(ll[:, :, 0], 1)
    return xr.DataArray(ll, dims=("chain", "draw", "obs", ),
                        coords={"obs": np.arange(n) * 3})


@pytest.mark.parametrize("chains, draws", [(4, 500), (2, 60), (1, 100)])
def test_psislw_equals_arviz_stats(chains, draws):
    ll = _loglik(chains * draws, chains, draws, 300)
    ref_lw, ref_k = ll.azstats.psislw(r_eff=1.0, dim=["chain", "draw"])
    lw, k = psislw(ll)
    assert lw.dims == ref_lw.dims and k.dims == ref_k.dims
    np.testing.assert_array_equal(k["obs"], ref_k["obs"])
    np.testing.assert_allclose(lw.values, ref_lw.values, rtol=0, atol=1e-10)
    np.testing.assert_allclose(k.values, ref_k.values, rtol=0, atol=1e-12)
    # heavy tails were tested: some k above 0.7, and weights that were smoothed
    assert (k.values > 0.7).any() and (k.values < 0.5).any()


def test_psislw_keeps_extra_dimensions_and_normalises():
    rng = np.random.default_rng(3)
    ll = xr.DataArray(rng.normal(size=(2, 200, 3, 4)), dims=("chain", "draw", "a", "b"),
                      coords={"a": ["x", "y", "z"]})
    lw, k = psislw(ll)
    assert lw.dims == ("a", "b", "chain", "draw") and k.dims == ("a", "b")
    assert list(k["a"].values) == ["x", "y", "z"]
    total = np.exp(lw).sum(("chain", "draw"))
    np.testing.assert_allclose(total.values, 1.0, rtol=1e-12)


def test_psislw_errors_are_clear():
    constant_second = np.random.default_rng(0).normal(size=(3, 400))
    constant_second[1] = 0.0
    with pytest.raises(ValueError, match="all tail values .* observation 1 "):
        psislw_array(constant_second)
    with pytest.raises(ValueError, match="at least 5"):
        tail_length(20)
    with pytest.raises(ValueError, match=r"\(observations, draws\)"):
        psislw_array(np.zeros(400))


def test_gpd_fit_recovers_a_known_shape():
    # exceedances of a generalized Pareto with k = 0.3, sigma = 1 (inverse CDF, sorted)
    rng = np.random.default_rng(5)
    k_true = 0.3
    u = np.sort(rng.uniform(size=(3, 4000)), axis=1)
    x = ((1 - u) ** -k_true - 1) / k_true
    k, sigma = gpd_fit(x)
    np.testing.assert_allclose(k, k_true, atol=0.06)
    np.testing.assert_allclose(sigma, 1.0, atol=0.1)
    # a first quartile at the minimum: no fit (NaN), as arviz_stats
    flat = np.sort(np.r_[np.zeros(50), np.linspace(1, 2, 50)])[None, :]
    assert np.isnan(gpd_fit(flat)[0]).all()
