"""Compact storage of a fit: what ``BayesianEstimator.save`` writes and ``load`` restores.

A saved fit keeps what cannot be recomputed and drops what can (issue 12: every saved fit
small and quick to load, with the same result tables):

- the posterior of the free random variables, at full float64 precision unless the model
  sets ``save_keep_bits`` (``bitround``: the mantissa rounded to that many bits, so zlib
  can compress the dropped bits);
- the Deterministics are dropped and recomputed on load from the stored free variables
  (``recompute_deterministics``: the model graph batched over every draw and run once
  with PyTensor's Python linker, so nothing is compiled: cold or warm cache alike);
- a few draws of every Deterministic (the first draw of each chain, ``check_draws``) are
  stored as computed at save time, and ``load`` compares them with the recomputed ones:
  a model whose code changed since the fit fails with a clear error instead of giving
  other numbers silently;
- the warmup groups are dropped; every other group (sample stats, observed and constant
  data, the training data, the models' own extra groups) is stored losslessly;
- every array is zlib-compressed (``encodings``), one chain per chunk, so a whole
  variable is read in a few large pieces; text columns are stored as fixed-width UTF-8
  characters, which compress (netCDF's variable-length strings cannot be compressed).

Numbers behind the choices (complevel, recompute method) are in docs/performance.md.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from burden.models.batched import batched_function, compiler_off, flat_draws

#: format of a compact file (``storage`` attribute); files without it are full (older) fits
STORAGE_FORMAT = "compact"
STORAGE_VERSION = 1
#: groups never stored (the sampler's tuning phase is not part of the posterior)
DROPPED_GROUPS = ("warmup_posterior", "warmup_sample_stats", "warmup_posterior_predictive")
#: zlib level: measured on deaths' free variables (docs/performance.md): level 4 gave a file
#: 1.3% smaller than level 1; level 9 another 1.4% smaller but took 4x as long to write
ZLIB_LEVEL = 4
#: relative tolerance of the load-time check of recomputed Deterministics against the
#: values stored at save time (the same graph in float64: they agreed to 4.4e-16 absolute
#: on deaths, docs/performance.md; 1e-9 leaves room for another BLAS, not another model),
#: relative to the largest value of the variable: an element that cancels to about 0 (the
#: deaths model's ``us_year_effect``, a projection) differs by rounding alone in relative
#: terms (4.2e-17 absolute without the command line's OpenBLAS kernel, 2026-12-08)
CHECK_RTOL = 1e-9


def bitround(values: np.ndarray, keep_bits: int | None) -> np.ndarray:
    """``values`` (float64) with the mantissa rounded to nearest at ``keep_bits`` bits
    (None or >= 52: unchanged). Relative error at most 2**-(keep_bits + 1); non-finite
    values pass through."""
    out = np.array(values, dtype=np.float64, copy=True)
    if keep_bits is None or keep_bits >= 52:
        return out
    if keep_bits < 1:
        raise ValueError(f"keep_bits must be >= 1, not {keep_bits}")
    drop = np.uint64(52 - keep_bits)
    bits = out.view(np.uint64)
    half = np.uint64(1) << (drop - np.uint64(1))
    mask = ~((np.uint64(1) << drop) - np.uint64(1))
    finite = np.isfinite(out)
    rounded = ((bits + half) & mask).view(np.float64)
    out[finite] = rounded[finite]
    return out


#: per model, the batched function of each tuple of Deterministics' names: a fit recomputes
#: its Deterministics after sampling, and saving it twice more (the check draws before and
#: after rounding), each time building the same function (composition: about 1 s a
#: build). Weak keys: an entry goes with its model. Data containers stay shared variables
#: in the function, read when it runs, so a changed container needs no new build
_FUNCTIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _batched_function(model, names: Sequence[str]):
    """A function of the free variables, each with a leading draw dimension, returning
    the Deterministics ``names`` for every draw at once (``batched.batched_function``:
    numpy operations, nothing compiled), built once per model and ``names``."""
    built = _FUNCTIONS.setdefault(model, {})
    key = tuple(names)
    if key not in built:
        # PyTensor's cheapest rewrites first (merging repeated subgraphs, constant
        # folding): the composition model's theta, 4.8 -> 2.5 s for its 8,000 draws,
        # values within 6e-15 (2026-12-01 17:27 UTC; docs/performance.md, "The
        # attribution, the composition's load, make's order")
        fn = batched_function(model.free_RVs, [model[name] for name in names],
                              optimizer="fast_compile")
        built[key] = (fn, [rv.name for rv in model.free_RVs])
    return built[key]


def recompute_deterministics(model, posterior: xr.Dataset, names: Sequence[str],
                             dims: dict[str, list[str]] | None = None,
                             draws: dict[str, Any] | None = None) -> xr.Dataset:
    """The Deterministics ``names`` of ``model`` for every (chain, draw) of ``posterior``
    (which holds the free variables), as a Dataset with ``posterior``'s chain and draw
    coordinates and the model's dims and coords (``dims`` overrides a variable's dims).
    ``draws`` selects draws first (``posterior.isel(**draws)``)."""
    if draws:
        posterior = posterior.isel(draws)
    with compiler_off():
        fn, inputs = _batched_function(model, names)
        return _evaluate(fn, inputs, model, posterior, names, dims)


def _evaluate(fn, inputs, model, posterior, names, dims) -> xr.Dataset:
    missing = [n for n in inputs if n not in posterior]
    if missing:
        raise ValueError(f"cannot recompute {list(names)}: the posterior lacks the free "
                         f"variables {missing}")
    nc, nd = posterior.sizes["chain"], posterior.sizes["draw"]
    args = flat_draws(posterior, [(name, model[name].dtype) for name in inputs])
    with np.errstate(over="ignore"):  # ``batched._softplus``: branches not taken may overflow
        results = fn(*args)
    model_dims = model.named_vars_to_dims
    out = {}
    for name, values in zip(names, results, strict=True):
        values = np.asarray(values).reshape(nc, nd, *np.shape(values)[1:])
        var_dims = list((dims or {}).get(name) or model_dims.get(name) or [])
        extra = values.ndim - 2
        if len(var_dims) != extra:
            var_dims = [f"{name}_dim_{i}" for i in range(extra)]
        coords = {}
        for d, size in zip(var_dims, values.shape[2:], strict=True):
            if d in posterior.coords:  # the coords saved with the fit
                coords[d] = posterior[d].values
            elif model.coords.get(d) is not None:
                coords[d] = np.asarray(model.coords[d])
            else:
                coords[d] = np.arange(size)
        out[name] = xr.DataArray(values, dims=("chain", "draw", *var_dims),
                                 coords={"chain": posterior["chain"].values,
                                         "draw": posterior["draw"].values, **coords})
    return xr.Dataset(out)


def check_draws(posterior: xr.Dataset) -> dict[str, Any]:
    """The draws kept to check the recomputation on load: the first of each chain."""
    return {"draw": [0]} if posterior.sizes.get("draw", 0) else {}


def check_recomputed(recomputed: xr.Dataset, stored: xr.Dataset, where: str) -> None:
    """Raise ValueError naming the first Deterministic whose recomputed check draws differ
    from the stored ones (the model code changed since the fit) by more than
    ``CHECK_RTOL`` of the value or of the variable's largest value."""
    for name in stored.data_vars:
        if name not in recomputed:
            raise ValueError(f"{where}: the model no longer has the Deterministic {name!r}: "
                             "its code changed since the fit; refit the model")
        new = recomputed[name].isel(draw=slice(0, stored.sizes["draw"]))
        old = stored[name]
        a, b = np.asarray(new.transpose(*old.dims).values), np.asarray(old.values)
        scale = float(np.nanmax(np.abs(b), initial=0.0))
        if a.shape != b.shape or not np.allclose(a, b, rtol=CHECK_RTOL,
                                                 atol=CHECK_RTOL * scale, equal_nan=True):
            diff = (float(np.nanmax(np.abs(a - b))) if a.shape == b.shape
                    else f"shape {a.shape} vs {b.shape}")
            raise ValueError(f"{where}: the Deterministic {name!r} recomputed from the saved "
                             f"free variables differs from its value at save time (max "
                             f"difference {diff}): the model code changed since the fit; "
                             "refit the model")


def encodings(ds: xr.Dataset) -> dict[str, dict[str, Any]]:
    """netCDF encodings of every variable of ``ds``: zlib, one chain per chunk for draws,
    text as fixed-width UTF-8 characters (compressible)."""
    out: dict[str, dict[str, Any]] = {}
    for name, var in ds.variables.items():
        enc: dict[str, Any] = {}
        if var.dtype.kind in "U" or (var.dtype == object and var.size and all(
                isinstance(x, str) for x in np.ravel(var.values)[:100])):
            enc["dtype"] = "S1"
        if var.ndim == 0:
            out[name] = enc
            continue
        enc.update(zlib=True, complevel=ZLIB_LEVEL, shuffle=True)
        if "chain" in var.dims and var.dtype.kind in "fiub" and var.ndim > 1:
            enc["chunksizes"] = tuple(1 if d == "chain" else var.sizes[d] for d in var.dims)
        out[name] = enc
    return out


def library_versions() -> dict[str, str]:
    """Versions of the libraries a fit's draws and their recomputation depend on."""
    import importlib.metadata as md

    out = {}
    for lib in ("pymc", "pytensor", "nutpie", "numpy", "xarray", "arviz", "netCDF4"):
        try:
            out[lib] = md.version(lib)
        except md.PackageNotFoundError:
            continue
    return out


def compute_environment() -> dict[str, str]:
    """What a fit's draws depend on besides the code, the data and ``library_versions``:
    the CPU architecture, the OpenBLAS kernels loaded (they round matrix products
    differently, and NUTS turns the last bit into other draws: docs/architecture.md,
    "Across machines"), numpy's SIMD targets in use (its AVX-512 loops round ``exp`` and
    ``log`` differently) and the settings that pick them (``config.use_process_defaults``)."""
    import os
    import platform

    from threadpoolctl import threadpool_info

    kernels = sorted({str(i.get("architecture")) for i in threadpool_info()
                      if i.get("internal_api") == "openblas"})
    return {"machine": platform.machine(),
            "openblas_kernels": ",".join(kernels),
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", ""),
            "numpy_simd": numpy_simd_targets(),
            "NPY_DISABLE_CPU_FEATURES": os.environ.get("NPY_DISABLE_CPU_FEATURES", ""),
            "NUMBA_OPT": os.environ.get("NUMBA_OPT", "")}


def numpy_simd_targets() -> str:
    """numpy's dispatched SIMD targets that this process runs (``"X86_V3"`` on an AVX2
    CPU, ``"X86_V3,X86_V4,AVX512_ICL"`` on a recent AVX-512 one unless they are left out),
    from the table ``numpy.show_runtime`` reads; ``"unknown"`` where numpy has no such
    table."""
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    except ImportError:
        return "unknown"
    return ",".join(t for t in __cpu_dispatch__ if __cpu_features__.get(t))


def storage_attrs(recomputed: Sequence[str], keep_bits: int | None,
                  variable_order: Sequence[str], dims: dict[str, list[str]],
                  dropped_groups: Sequence[str]) -> dict[str, str]:
    return {"storage": json.dumps({
        "format": STORAGE_FORMAT, "version": STORAGE_VERSION,
        "recomputed_deterministics": list(recomputed), "free_rv_keep_bits": keep_bits,
        "posterior_variable_order": list(variable_order), "deterministic_dims": dims,
        "dropped_groups": list(dropped_groups), "zlib_level": ZLIB_LEVEL})}
