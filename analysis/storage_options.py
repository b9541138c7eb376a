"""The measurements behind the compact saved fits (docs/performance.md; issue 12).

    python analysis/storage_options.py compression MODELS_DIR [FIT]
        size, write and read time of FIT's free variables (default deaths) stored as
        float64 (zlib levels 1, 4, 9; blosc-zstd), float32, and float64 with the mantissa
        rounded to 23, 18 and 16 bits (zlib 4); files under a temporary folder
    python analysis/storage_options.py recompute MODELS_DIR [FIT] [pymc|batched]
        time to recompute FIT's Deterministics from its free variables with
        ``pm.compute_deterministics`` (a compiled function called draw by draw) or with
        ``burden.models.storage.recompute_deterministics`` (one batched graph, PyTensor's
        Python linker); run it with ``PYTENSOR_FLAGS=base_compiledir=<new empty folder>``
        for a cold compile cache

MODELS_DIR holds full (not compact) saved fits, e.g. a copy of a fresh clone's models/.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import xarray as xr


def _fit(models: Path, name: str):
    from burden.fits import load_fit

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = load_fit(name, models)
        model = est.build_model(est.data)
        post = est.posterior
    return est, model, post


def compression(models: Path, name: str) -> None:
    from burden.models.storage import bitround

    _, model, post = _fit(models, name)
    free = post[[rv.name for rv in model.free_RVs]]
    raw = sum(v.nbytes for v in free.data_vars.values()) / 1e6
    print(f"{name}: {len(free.data_vars)} free variables, {raw:.1f} MB in memory (float64)")
    cases = [
        ("float64 zlib 1", None, None, {"zlib": True, "complevel": 1}),
        ("float64 zlib 4", None, None, {"zlib": True, "complevel": 4}),
        ("float64 zlib 9", None, None, {"zlib": True, "complevel": 9}),
        ("float64 blosc-zstd", None, None, {"compression": "blosc_zstd", "blosc_shuffle": 2,
                                            "complevel": 4}),
        ("float32 zlib 4", "float32", None, {"zlib": True, "complevel": 4}),
        ("float64 23 bits zlib 4", None, 23, {"zlib": True, "complevel": 4}),
        ("float64 18 bits zlib 4", None, 18, {"zlib": True, "complevel": 4}),
        ("float64 16 bits zlib 4", None, 16, {"zlib": True, "complevel": 4}),
    ]
    folder = Path(tempfile.mkdtemp(prefix="storage_options_"))
    print("| storage | MB | write s | read s | max relative error |")
    print("|---|---|---|---|---|")
    for label, dtype, bits, enc in cases:
        ds = free if bits is None else free.map(lambda v, b=bits: v.copy(
            data=bitround(v.values, b)))
        ds = ds if dtype is None else ds.astype(dtype)
        path = folder / (label.replace(" ", "_") + ".nc")
        start = time.perf_counter()
        ds.to_netcdf(path, engine="netcdf4", encoding={
            v: {**enc, "shuffle": True} for v in ds.data_vars})
        write = time.perf_counter() - start
        start = time.perf_counter()
        back = xr.load_dataset(path, engine="netcdf4")
        read = time.perf_counter() - start
        err = max(float(np.max(np.abs(back[v].values - free[v].values)
                               / np.maximum(np.abs(free[v].values), 1e-300)))
                  for v in free.data_vars)
        print(f"| {label} | {os.path.getsize(path) / 1e6:.1f} | {write:.1f} | {read:.2f} | "
              f"{err:.2g} |")


def recompute(models: Path, name: str, method: str) -> None:
    import pymc as pm

    from burden.models.storage import recompute_deterministics

    _, model, post = _fit(models, name)
    names = [d.name for d in model.deterministics]
    start = time.perf_counter()
    if method == "pymc":
        with model:
            out = pm.compute_deterministics(post, progressbar=False)
    else:
        out = recompute_deterministics(model, post, names)
    seconds = time.perf_counter() - start
    worst = max(float(np.max(np.abs(out[n].values - post[n].transpose(*out[n].dims).values)))
                for n in names)
    print(f"{name}: {method} recomputed {len(names)} Deterministics of "
          f"{post.sizes['chain']} x {post.sizes['draw']} draws in {seconds:.2f} s; largest "
          f"absolute difference from the sampled values {worst:.2g} (PYTENSOR_FLAGS="
          f"{os.environ.get('PYTENSOR_FLAGS', '')!r})")


if __name__ == "__main__":
    what, folder = sys.argv[1], Path(sys.argv[2])
    fit = sys.argv[3] if len(sys.argv) > 3 else "deaths"
    if what == "compression":
        compression(folder, fit)
    elif what == "recompute":
        recompute(folder, fit, sys.argv[4] if len(sys.argv) > 4 else "batched")
    else:
        raise SystemExit(__doc__)
