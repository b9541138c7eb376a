"""Which models numpyro can fit (the deaths, certified and markets models refuse it since
2026-12-03): each model fitted by numpyro's NUTS through
``pm.sample(nuts_sampler="numpyro")`` with the model's default sampler settings, printing the
wall time (JAX compilation included), mean step size, max R-hat, min bulk ESS of the free
variables and divergences, or the error. Nothing is saved.

    [CHAIN_METHOD=vectorized] python analysis/numpyro_fits.py MODEL [MODEL ...]
    python analysis/numpyro_fits.py --gradient MODEL

``--gradient`` times one log density with its gradient at the model's initial point instead:
PyTensor's Numba backend (what nutpie calls) against its JAX backend (what numpyro calls),
one point and four at once (``jax.vmap``), and names the free variables whose JAX gradient is
not finite there. Run on this project's processed tables (``make data``; markets needs
``models/production.nc``). Measured 2026-12-03: docs/performance.md, "numpyro (JAX): measured,
refused where it fails".
"""

from __future__ import annotations

import os
import sys
import time

from burden import config

config.use_process_defaults()  # as the command line does, before numpy or Numba load

import numpy as np

#: numpyro's way of running the chains: "parallel" (one JAX device each; PyMC's default) or
#: "vectorized" (all in one computation, ``jax.vmap``); ``CHAIN_METHOD`` in the environment
CHAIN_METHOD = os.environ.get("CHAIN_METHOD", "parallel")


def _model(name: str):
    from burden.fits import load_fit, read_tables, spec

    s = spec(name)
    upstream = {s.upstream: load_fit(s.upstream)} if s.upstream else {}
    est = s.estimator(None, None, **upstream)
    return est, est.build_model(est.prepare_data(read_tables(s.estimator.data_tables)))


def fit(name: str) -> None:
    import pymc as pm

    from burden.models import fast_diagnostics
    from burden.models.base import jax_cpu_devices

    est, model = _model(name)
    cfg = est.default_sampler_config
    if CHAIN_METHOD == "parallel":
        jax_cpu_devices(cfg.chains)  # as a fit does: one JAX device per chain
    start = time.perf_counter()
    try:
        with model:
            idata = pm.sample(draws=cfg.draws, tune=cfg.tune, chains=cfg.chains,
                              target_accept=cfg.target_accept, random_seed=cfg.random_seed,
                              nuts_sampler="numpyro", progressbar=False,
                              var_names=[rv.name for rv in model.free_RVs],
                              nuts_sampler_kwargs={"chain_method": CHAIN_METHOD})
    except Exception as err:  # noqa: BLE001 - the point is to report it
        print(f"{name} numpyro: failed after {time.perf_counter() - start:.1f} s: "
              f"{type(err).__name__}: {err}")
        return
    wall = time.perf_counter() - start
    post, stats = idata.posterior, idata.sample_stats
    diag = fast_diagnostics.summarise_many(
        {v: np.asarray(post[v].values, float).reshape(post[v].shape[0], post[v].shape[1], -1)
         for v in post.data_vars})
    print(f"{name} numpyro {CHAIN_METHOD} ({cfg.chains} x {cfg.draws} draws, {cfg.tune} tune): "
          f"{wall:.1f} s with compilation, mean step size {float(stats['step_size'].mean()):.4f}, max R-hat "
          f"{max(np.nanmax(d['r_hat']) for d in diag.values()):.4f}, min bulk ESS "
          f"{min(np.nanmin(d['ess_bulk']) for d in diag.values()):.0f}, "
          f"{int(stats['diverging'].sum())} divergences")


def gradient(name: str, calls: int = 2000) -> None:
    import jax
    from pymc.blocking import DictToArrayBijection
    from pymc.sampling.jax import get_jaxified_logp

    _, model = _model(name)
    point = model.initial_point()
    numba_fn = model.logp_dlogp_function(ravel_inputs=True, mode="NUMBA")
    numba_fn.set_extra_values({})
    x = DictToArrayBijection.map({v.name: point[v.name] for v in model.value_vars}).data
    numba_fn(x)
    start = time.perf_counter()
    for _ in range(calls):
        numba_fn(x)
    numba_ms = (time.perf_counter() - start) / calls * 1e3

    logp = get_jaxified_logp(model)
    values = [point[v.name] for v in model.value_vars]
    one = jax.jit(jax.value_and_grad(logp))
    try:
        jax.block_until_ready(one(values))
    except Exception as err:  # noqa: BLE001 - the point is to report it
        print(f"{name}, {x.size} free coordinates: Numba {numba_ms:.3f} ms a call; JAX has no "
              f"gradient: {type(err).__name__}: {err}")
        return
    start = time.perf_counter()
    for _ in range(calls):
        out = one(values)
    jax.block_until_ready(out)
    jax_ms = (time.perf_counter() - start) / calls * 1e3
    four = jax.jit(jax.vmap(jax.value_and_grad(logp)))
    stacked = [np.stack([v] * 4) for v in values]
    jax.block_until_ready(four(stacked))
    start = time.perf_counter()
    for _ in range(calls // 4):
        out = four(stacked)
    jax.block_until_ready(out)
    four_ms = (time.perf_counter() - start) / (calls // 4) * 1e3
    grads = one(values)[1]
    bad = [f"{v.name} ({int((~np.isfinite(np.asarray(g))).sum())})"
           for v, g in zip(model.value_vars, grads) if not np.all(np.isfinite(np.asarray(g)))]
    print(f"{name}, {x.size} free coordinates, log density and gradient at the initial point: "
          f"Numba {numba_ms:.3f} ms a call; JAX {jax_ms:.3f} ms a call, {four_ms:.3f} ms for "
          f"four points at once ({four_ms / 4:.3f} ms a point); JAX gradient not finite in: "
          f"{', '.join(bad) if bad else 'none'}")


if __name__ == "__main__":
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    if args[0] == "--gradient":
        for model_name in args[1:]:
            gradient(model_name)
    else:
        for model_name in args:
            fit(model_name)
