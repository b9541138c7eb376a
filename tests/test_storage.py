"""Compact saved fits (``burden.models.storage``): what a saved fit keeps, that loading it
gives the draws the result tables use, and that a changed model is caught on load.

The session ``pipeline`` saved every fit compactly and summarised it from the file, so its
result tables were made without the dropped groups."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from burden.fits import load_fit
from burden.models import batched, storage

FITS = ("deaths", "production", "markets", "composition")


def _free_and_deterministic(est) -> tuple[list[str], list[str]]:
    model = est.build_model(est.data)
    return [v.name for v in model.free_RVs], [v.name for v in model.deterministics]


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def _prior_as_posterior(est, data: dict, chains: int = 2, draws: int = 40):
    """``est`` 'fitted' with prior draws in place of a posterior (no sampler: a fast
    test of save and load on the real model graph and data)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        prior = est.sample_prior_predictive(data, draws=chains * draws, random_seed=5)
    prior = prior["prior"].to_dataset().isel(chain=0, drop=True)
    post = xr.concat([prior.isel(draw=slice(i * draws, (i + 1) * draws)).assign_coords(
        draw=np.arange(draws)) for i in range(chains)], dim="chain").assign_coords(
        chain=np.arange(chains)).transpose("chain", "draw", ...)
    stats = xr.Dataset({"diverging": (("chain", "draw"), np.zeros((chains, draws), bool))},
                       coords={"chain": np.arange(chains), "draw": np.arange(draws)})
    est._data = est.prepare_data(data)
    est.input_hashes = {"note": "prior draws, not a fit"}
    est._idata = xr.DataTree.from_dict({"posterior": post, "sample_stats": stats,
                                        "warmup_posterior": post})
    est._attach_fit_data()
    return est


@pytest.mark.parametrize("which", ["production", "deaths"])
def test_round_trip_of_prior_draws(which, deaths_simulated, tmp_path):
    """Save and load without a sampler: the free variables come back as stored (rounded
    to the model's ``save_keep_bits``), the Deterministics recomputed from them in the
    saved order, dims and coords, no warmup; configs and hashes travel with the file."""
    if which == "production":
        from burden.data.cleaning import CleaningLog
        from burden.data.loaders import reference
        from burden.models.production import OpiumProduction
        from burden.registry import published

        src = published.REFERENCE_SOURCES["reference_opium_production"]
        data = {"production_measurements": reference.load(
            src.path, CleaningLog(src.id, src.filename), src.id)}
        est = _prior_as_posterior(OpiumProduction(), data)
    else:
        from burden.models.deaths import OpioidDeaths

        est = _prior_as_posterior(OpioidDeaths(), deaths_simulated[0])
    free, dets = _free_and_deterministic(est)
    assert dets, "the model has Deterministics to drop"
    path = est.save(tmp_path / f"{which}.nc")
    raw = xr.open_datatree(path, engine="netcdf4")
    assert set(raw["posterior"].to_dataset().data_vars) == set(free)
    assert "warmup_posterior" not in raw.children
    raw.close()
    loaded = type(est).load(path)
    bits = type(est).save_keep_bits
    old, new = est.posterior, loaded.posterior
    assert list(new.data_vars) == list(old.data_vars)
    for var in free:
        np.testing.assert_array_equal(new[var].values,
                                      storage.bitround(old[var].values, bits))
    rounded = old.assign({v: old[v].copy(data=storage.bitround(old[v].values, bits))
                          for v in free})
    again = storage.recompute_deterministics(est.build_model(est.data), rounded, dets)
    for var in dets:
        assert new[var].dims == old[var].dims, var
        for dim in old[var].dims:
            np.testing.assert_array_equal(new[dim].values, old[dim].values)
        np.testing.assert_allclose(new[var].values, again[var].values, rtol=1e-12)
        if bits is None:  # to rounding: the batched graph may sum in another order
            np.testing.assert_allclose(new[var].values, old[var].values, rtol=1e-12,
                                       atol=1e-14)
    assert loaded.saved_metadata["input_hashes"] == est.input_hashes
    assert loaded.model_config == est.model_config


def test_bitround_keeps_the_bits_asked_for():
    rng = np.random.default_rng(0)
    x = rng.normal(size=10_000) * 10.0 ** rng.integers(-5, 5, size=10_000)
    assert np.array_equal(storage.bitround(x, None), x)
    for bits in (10, 18, 30):
        y = storage.bitround(x, bits)
        assert _rel(y, x) <= 2.0 ** -(bits + 1)
        assert _rel(y, x) > 2.0 ** -(bits + 3)  # really rounded, not left as it was
        assert np.array_equal(storage.bitround(y, bits), y)  # idempotent
        # the dropped bits are zero, which is what lets zlib compress them
        assert not np.any(y.view(np.uint64) & np.uint64((1 << (52 - bits)) - 1))
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan])
    np.testing.assert_array_equal(storage.bitround(special, 8), special)


def test_softplus_is_recomputed_on_whole_arrays_with_the_scalar_values():
    """The Python linker runs Softplus one element at a time (no numpy ufunc); the
    recomputation swaps it, nested ones included, for whole-array operations that give the
    scalar implementation's values, at and around each of its branch points."""
    import pytensor
    import pytensor.tensor as pt
    from pytensor.compile.mode import Mode
    from pytensor.graph.traversal import ancestors
    from pytensor.tensor.elemwise import Elemwise

    x = pt.dvector("x")
    out = pt.softplus(pt.softplus(x) - 3.0) * pt.softplus(-x)
    [fast] = batched.whole_array_ops([out])

    def n_softplus(var):
        return sum(1 for v in ancestors([var]) if v.owner is not None
                   and isinstance(v.owner.op, Elemwise)
                   and type(v.owner.op.scalar_op).__name__ == "Softplus")

    assert n_softplus(out) == 3 and n_softplus(fast) == 0
    edges = np.array([-37.0, 18.0, 33.3])
    values = np.concatenate([np.linspace(-80.0, 80.0, 4001), edges, np.nextafter(edges, -1e9),
                             np.nextafter(edges, 1e9), [-1e300, 1e300, 0.0]])
    mode = Mode(linker="py", optimizer=None)
    slow = pytensor.function([x], out, mode=mode)(values)
    with np.errstate(over="ignore"):
        got = pytensor.function([x], fast, mode=mode)(values)
    np.testing.assert_array_equal(got, slow)


def test_deterministics_function_is_built_once_per_model_and_follows_its_data(monkeypatch):
    """Saving a fit recomputed its Deterministics three times, building the same batched
    function each time: it is built once per model and names, gives the same values as a
    new build, reads data containers when it runs, and goes with its model."""
    import gc

    import pymc as pm
    import pytensor.tensor as pt

    builds = []
    real = storage.batched_function
    monkeypatch.setattr(storage, "batched_function",
                        lambda *a, **k: builds.append(1) or real(*a, **k))
    with pm.Model() as model:
        scale = pm.Data("scale", np.array([1.0, 2.0]))
        x = pm.Normal("x", 0.0, 1.0, shape=2)
        pm.Deterministic("y", pt.exp(x) * scale)
    post = xr.Dataset({"x": (("chain", "draw", "x_dim_0"),
                             np.arange(12.0).reshape(2, 3, 2) / 10)},
                      coords={"chain": [0, 1], "draw": [0, 1, 2]})
    first = storage.recompute_deterministics(model, post, ["y"])
    again = storage.recompute_deterministics(model, post, ["y"])
    assert len(builds) == 1
    xr.testing.assert_identical(first, again)
    np.testing.assert_allclose(first["y"].values, np.exp(post["x"].values) * [1.0, 2.0])
    with model:
        pm.set_data({"scale": np.array([3.0, 5.0])})
    changed = storage.recompute_deterministics(model, post, ["y"])
    assert len(builds) == 1
    np.testing.assert_allclose(changed["y"].values, np.exp(post["x"].values) * [3.0, 5.0])
    storage.recompute_deterministics(model, post, ["y"],
                                     draws={"draw": [0]})
    assert len(builds) == 1
    gc.collect()  # other tests' models still waiting for the collector go first
    n_models = len(storage._FUNCTIONS)
    del model
    gc.collect()
    assert len(storage._FUNCTIONS) == n_models - 1


@pytest.mark.parametrize("name", FITS)
def test_saved_fit_keeps_free_variables_only_and_loads_the_same_draws(pipeline, name):
    """The file holds the free variables (no Deterministic, no warmup); loading gives
    every posterior variable of the fit in its order, dims and coords, the free ones as
    stored (bit-rounded where the model says so) and the Deterministics recomputed from
    them; the quantity the summaries use (``target_draws``) matches the fit's."""
    fit = pipeline.fits[name]
    path = pipeline.models / f"{name}.nc"
    raw = xr.open_datatree(path, engine="netcdf4")
    info = json.loads(raw.attrs["storage"])
    free, dets = _free_and_deterministic(fit)
    stored = set(raw["posterior"].to_dataset().data_vars)
    assert stored == set(free), name
    assert set(info["recomputed_deterministics"]) == {d for d in dets
                                                      if d in fit.posterior}
    assert not {"warmup_posterior", "warmup_sample_stats"} & set(raw.children)
    assert "diverging" in raw["sample_stats"].to_dataset()
    raw.close()

    loaded = load_fit(name, pipeline.models)
    bits = type(fit).save_keep_bits
    old, new = fit.posterior, loaded.posterior
    assert list(new.data_vars) == list(old.data_vars)
    for var in old.data_vars:
        assert new[var].dims == old[var].dims, var
        for dim in old[var].dims:
            np.testing.assert_array_equal(new[dim].values, old[dim].values)
        if var in free:
            np.testing.assert_array_equal(new[var].values,
                                          storage.bitround(old[var].values, bits))
    # the Deterministics are those of the stored free variables: recomputed apart
    again = storage.recompute_deterministics(fit.build_model(fit.data), new, dets)
    for var in dets:
        np.testing.assert_allclose(new[var].values, again[var].values, rtol=1e-12)
        if bits is None:  # lossless: the sampled values themselves (to rounding)
            np.testing.assert_allclose(new[var].values, old[var].values, rtol=1e-12,
                                       atol=1e-300)
    # the summaries' draws: identical to rounding when lossless; with the mantissa cut to
    # `bits` bits, within 2**-bits relative times the log-scale sums they pass through
    rtol = 1e-12 if bits is None else 2.0 ** -bits * 1e2
    target_new, target_old = loaded.target_draws(), fit.target_draws()
    np.testing.assert_allclose(target_new.transpose(*target_old.dims).values,
                               target_old.values, rtol=rtol, atol=1e-12)
    meta = loaded.saved_metadata
    assert meta["model_config"] == fit.model_config.to_dict()
    assert meta["input_hashes"] == fit.input_hashes
    assert {"pymc", "pytensor", "numpy"} <= set(meta["library_versions"])
    # the OpenBLAS kernel the draws were made with (it changes them: config.py)
    environment = meta["compute_environment"]
    assert environment["openblas_kernels"] not in ("", "None")
    if environment["OPENBLAS_CORETYPE"]:  # pinned (tests/conftest.py) or set by the user
        assert environment["openblas_kernels"].lower() == environment["OPENBLAS_CORETYPE"].lower()


def test_summary_from_the_compact_file_matches_the_fit(pipeline):
    """The deaths summary written by ``summarise`` (from the saved, bit-rounded file)
    against the in-memory fit: equal to 1e-4 relative (18 of 52 mantissa bits kept: the
    draws move by a few 1e-6; published at 3 significant figures, 5e-4 or more)."""
    written = pd.read_csv(pipeline.models / "deaths" / "summary.csv")
    fit = pipeline.fits["deaths"].summary()
    assert len(written) == len(fit)
    for col in ("mean", "lower", "upper"):
        np.testing.assert_allclose(written[col].to_numpy(), fit[col].to_numpy(),
                                   rtol=1e-4, atol=1e-9)


def test_full_save_still_loads(pipeline, tmp_path):
    """``compact=False`` writes the posterior as sampled (warmup included) and loads it
    without recomputation."""
    fit = pipeline.fits["production"]
    path = fit.save(tmp_path / "production.nc", compact=False)
    raw = xr.open_datatree(path, engine="netcdf4")
    assert "storage" not in raw.attrs
    assert "warmup_posterior" in raw.children
    raw.close()
    loaded = type(fit).load(path)
    xr.testing.assert_identical(loaded.posterior, fit.posterior)


def test_a_changed_model_is_caught_on_load(pipeline, tmp_path):
    """If the Deterministics recomputed on load differ from those stored at save time
    (the model's code changed since the fit), loading fails and says to refit."""
    src = pipeline.models / "production.nc"
    tree = xr.open_datatree(src, engine="netcdf4").load()
    check = tree["recompute_check"].to_dataset()
    var = next(iter(check.data_vars))
    tree["recompute_check"] = xr.DataTree(dataset=check.assign(
        {var: check[var] * 1.001 + 1e-3}))
    path = tmp_path / "production.nc"
    tree.to_netcdf(path, engine="netcdf4")
    est = type(pipeline.fits["production"]).load(path)
    with pytest.raises(ValueError, match=f"{var}.*refit the model"):
        est.posterior  # noqa: B018 (the recomputation runs on first use)


def test_rounding_at_a_value_that_cancels_to_zero_is_not_a_changed_model():
    """A Deterministic with an element that cancels to about 0 (the deaths model's
    ``us_year_effect``, a projection) differs by rounding alone between OpenBLAS kernels:
    4.2e-17 absolute when the deaths fit was loaded without the command line's process
    settings (2026-12-08), which the elementwise relative check called a changed model.
    Rounding passes; a change of one part in a million of the variable's scale does not."""
    stored = xr.Dataset({"effect": (("chain", "draw", "year"),
                                    np.array([[[0.3, -1e-18, -0.2]]]))})
    rounded = stored.copy(deep=True)
    rounded["effect"][0, 0, 1] = 4.2e-17
    storage.check_recomputed(rounded, stored, "rounding")
    changed = stored.copy(deep=True)
    changed["effect"][0, 0, 1] = 3e-7
    with pytest.raises(ValueError, match="'effect'.*refit the model"):
        storage.check_recomputed(changed, stored, "changed")


@pytest.mark.parametrize("name", FITS)
def test_convergence_table_is_saved_with_the_fit_and_not_recomputed(pipeline, name,
                                                                      monkeypatch):
    """The fit's diagnostics (from the draws as sampled) travel in the file: loading and
    summarising do not recompute them (31 s for the deaths model)."""
    fitted = pipeline.fits[name].diagnostics()
    loaded = load_fit(name, pipeline.models)

    def refuse(self):
        raise AssertionError("diagnostics recomputed after load")

    monkeypatch.setattr(type(loaded), "_compute_diagnostics", refuse)
    pd.testing.assert_frame_equal(loaded.diagnostics(), fitted, check_dtype=False)
    assert loaded.convergence_report()["converged"] == pipeline.fits[name].convergence_report()[
        "converged"]


def test_a_fit_traces_the_free_variables_and_adds_the_deterministics(production_fit):
    """nutpie traces only the free variables (a smaller per-draw function to compile); the
    fitted posterior still holds every Deterministic, equal to PyMC's own per-draw
    computation, laid out by ``nutpie_order`` (that this is the order of nutpie's full
    trace was checked against the five saved fits' stored order: docs/performance.md)."""
    import pymc as pm

    from burden.models.base import nutpie_order
    from burden.models.batched import compiler_off, no_compile_mode

    est = production_fit
    model = est.model
    compiled = est.compiled_model(model)
    traced = set(compiled.shape_info[0])
    dets = [d.name for d in model.deterministics]
    assert dets and not traced & set(dets)
    assert {rv.name for rv in model.free_RVs} <= traced
    post = est.posterior
    assert list(post.data_vars) == nutpie_order(model, post)
    assert set(dets) <= set(post.data_vars)
    first = post.isel(draw=[0, 7, 100, 500, 999])  # more draws than chains (ArviZ warns)
    with compiler_off(), model:
        ref = pm.compute_deterministics(first[[rv.name for rv in model.free_RVs]],
                                        var_names=dets, progressbar=False,
                                        compile_kwargs={"mode": no_compile_mode()})
    for name in dets:
        assert first[name].dims == ref[name].dims, name
        np.testing.assert_allclose(first[name].values, ref[name].values, rtol=1e-12,
                                   atol=1e-300, err_msg=name)
