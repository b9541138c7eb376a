"""Thinned draws (``SamplerConfig.thin``): every k-th draw of each chain of the draws the
sampler gave, kept in every group of posterior draws, numbered 0, 1, ... again, and saved
and loaded without changing a number."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from burden.models.base import thin_draws
from burden.models.config import ConfigError, SamplerConfig


def _tree(draws: int = 7) -> xr.DataTree:
    rng = np.random.default_rng(0)
    post = xr.Dataset({"a": (("chain", "draw", "x"), rng.normal(size=(2, draws, 3)))},
                      coords={"chain": [0, 1], "draw": np.arange(draws)}, attrs={"k": 1})
    stats = xr.Dataset({"diverging": (("chain", "draw"), np.zeros((2, draws), bool))},
                       coords={"chain": [0, 1], "draw": np.arange(draws)})
    warm = post.assign_coords(draw=np.arange(draws))
    return xr.DataTree.from_dict({"posterior": post, "sample_stats": stats,
                                  "warmup_posterior": warm})


def test_thin_keeps_every_kth_draw_from_the_first_and_renumbers():
    tree = _tree(7)
    a = tree["posterior"]["a"].values.copy()
    out = thin_draws(tree, 3)
    kept = out["posterior"].to_dataset()
    np.testing.assert_array_equal(kept["a"].values, a[:, [0, 3, 6]])
    assert kept["draw"].values.tolist() == [0, 1, 2]
    assert kept.attrs == {"k": 1}
    assert out["sample_stats"].to_dataset().sizes["draw"] == 3
    assert out["sample_stats"].attrs["divergences_sampled"] == 0
    assert out["warmup_posterior"].to_dataset().sizes["draw"] == 7  # tuning left whole
    assert thin_draws(_tree(5), 1)["posterior"].to_dataset().sizes["draw"] == 5


def test_thin_must_be_a_positive_whole_number():
    assert SamplerConfig.merge({"thin": 2}).thin == 2
    with pytest.raises(ConfigError, match="thin must be positive"):
        SamplerConfig.merge({"thin": 0})
    with pytest.raises(ConfigError, match="expected int"):
        SamplerConfig.merge({"thin": 1.5})
    assert "thin" not in SamplerConfig.merge({"thin": 2}).sample_kwargs()


def test_deaths_keep_every_second_draw_and_store_every_bit():
    """The deaths model's saved draws are thinned, not rounded (issue 12)."""
    from burden.models.deaths import OpioidDeaths

    assert OpioidDeaths.default_sampler.thin == 2
    assert OpioidDeaths.save_keep_bits is None


@pytest.mark.slow
def test_a_thinned_fit_is_every_kth_draw_of_the_same_fit_unthinned(tmp_path):
    """The same seed, thinned and not: the kept draws are the unthinned fit's every 2nd
    (thinning happens after sampling; the sampler runs the same), and the saved thinned
    fit loads with every number as fitted."""
    from burden.data.cleaning import CleaningLog
    from burden.data.loaders import reference
    from burden.models.production import OpiumProduction
    from burden.registry import published

    src = published.REFERENCE_SOURCES["reference_opium_production"]
    data = {"production_measurements": reference.load(
        src.path, CleaningLog(src.id, src.filename), src.id)}
    sampler = {"draws": 30, "tune": 30, "chains": 2, "random_seed": 5}
    fits = {}
    for thin in (1, 2):
        est = OpiumProduction(sampler_config={**sampler, "thin": thin})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a 30-draw fit does not converge: not the point
            est.fit(data, progressbar=False)
        fits[thin] = est
    full, thinned = fits[1].posterior, fits[2].posterior
    assert thinned.sizes["draw"] == 15 and thinned["draw"].values.tolist() == list(range(15))
    for name in full.data_vars:
        np.testing.assert_array_equal(thinned[name].values, full[name].values[:, ::2],
                                      err_msg=name)
    stats = fits[2].idata["sample_stats"].to_dataset()
    np.testing.assert_array_equal(
        stats["diverging"].values,
        fits[1].idata["sample_stats"].to_dataset()["diverging"].values[:, ::2])
    # a divergence in a dropped draw still counts
    assert fits[2].n_divergences() == fits[1].n_divergences()
    loaded = OpiumProduction.load(fits[2].save(tmp_path / "production.nc"))
    assert loaded.saved_metadata["sampler_config"]["thin"] == 2
    assert loaded.n_divergences() == fits[1].n_divergences()
    for name in thinned.data_vars:
        np.testing.assert_allclose(loaded.posterior[name].values, thinned[name].values,
                                   rtol=1e-12, atol=0, err_msg=name)
    pd.testing.assert_frame_equal(loaded.summary(), fits[2].summary())
