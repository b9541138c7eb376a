"""Posterior-draw summaries (burden.draws): the mean and interval of ``interval_dataset``
against xarray's own reductions, and the caller's draws left untouched."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from burden.draws import interval_dataset


def _draws(sample_last: bool, with_nan: bool) -> xr.DataArray:
    rng = np.random.default_rng(4)
    values = rng.lognormal(3.0, 1.0, size=(3, 250, 5, 4))
    if with_nan:
        values[..., 0, :] = np.nan  # a location without a rate: every draw missing
        values[1, :7, 2, 3] = np.nan  # a few draws missing in one cell
    draws = xr.DataArray(values, dims=("chain", "draw", "location", "year"),
                         coords={"location": list("abcde"), "year": np.arange(2020, 2024),
                                 "location_name": ("location", list("ABCDE"))})
    if sample_last:  # the pooled draws already last and contiguous: a view, not a copy
        moved = draws.transpose("location", "year", "chain", "draw")
        draws = moved.copy(data=np.ascontiguousarray(moved.values))
    return draws


@pytest.mark.parametrize("sample_last", [False, True])
@pytest.mark.parametrize("with_nan", [False, True])
def test_interval_dataset_is_xarray_mean_and_quantiles_and_leaves_the_draws(sample_last,
                                                                             with_nan):
    draws = _draws(sample_last, with_nan)
    before = draws.values.copy()
    got = interval_dataset(draws)
    stacked = draws.stack(sample=["chain", "draw"]).transpose(..., "sample")
    with np.errstate(all="ignore"):
        mean = stacked.mean("sample")
    # the same draws summed in another memory order: the last bits only
    np.testing.assert_allclose(got["mean"].values, mean.values, rtol=1e-13)
    assert np.array_equal(np.isnan(got["mean"].values), np.isnan(mean.values))
    for name, q in (("lower", 0.025), ("upper", 0.975)):
        want = stacked.quantile(q, dim="sample").drop_vars("quantile")
        np.testing.assert_allclose(got[name].values, want.values, rtol=1e-13)
        assert np.array_equal(np.isnan(got[name].values), np.isnan(want.values))
    assert got["mean"].dims == ("location", "year")
    assert list(got["location_name"].values) == list("ABCDE")
    # the quantiles partition a copy in place, never the caller's draws
    np.testing.assert_array_equal(draws.values, before)
