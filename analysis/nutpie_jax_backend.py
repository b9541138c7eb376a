"""One fit of a model with nutpie's JAX backend (or its Numba one, for comparison), with
the model's default sampler settings, printing compile and sampling time, mean leapfrog
steps a draw, max R-hat, min bulk ESS and divergences. Nothing is saved.

    python analysis/nutpie_jax_backend.py MODEL [numba|jax] [pytensor|jax]

The third argument is the gradient's backend (``gradient_backend`` of
``nutpie.compile_pymc_model``; JAX backend only). ``CORES`` in the environment sets nutpie's
``cores`` (default 2). For a cold compile, point ``PYTENSOR_FLAGS=base_compiledir=`` (and
``NUMBA_CACHE_DIR``) at empty folders. Measured 2026-12-01 18:50-19:21 UTC:
docs/performance.md, "Numba's optimisation level; nutpie's JAX backend".
"""

from __future__ import annotations

from burden import config

config.use_process_defaults()  # as the command line does, before numpy or Numba load

import os
import sys
import time
import warnings

import numpy as np


def main(name: str, backend: str, gradient: str) -> None:
    import nutpie

    from burden.fits import load_fit, read_tables, spec
    from burden.models import fast_diagnostics

    s = spec(name)
    upstream = {s.upstream: load_fit(s.upstream)} if s.upstream else {}
    est = s.estimator(None, None, **upstream)
    cfg = est.default_sampler_config
    model = est.build_model(est.prepare_data(read_tables(s.estimator.data_tables)))
    start = time.perf_counter()
    if backend == "numba":
        compiled = est.compiled_model(model)
    else:
        compiled = nutpie.compile_pymc_model(model, backend="jax", gradient_backend=gradient,
                                             var_names=[rv.name for rv in model.free_RVs],
                                             **est.compile_options(model))
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    idata = nutpie.sample(compiled, draws=cfg.draws, tune=cfg.tune, chains=cfg.chains,
                          cores=int(os.environ.get("CORES", "2")), seed=cfg.random_seed,
                          target_accept=cfg.target_accept, progress_bar=False,
                          **cfg.nutpie_kwargs())
    sample_s = time.perf_counter() - start
    post = idata.posterior
    stats = fast_diagnostics.summarise_many(
        {v: np.asarray(post[v].values).reshape(post[v].shape[0], post[v].shape[1], -1)
         for v in post.data_vars})
    print(f"{name} {backend}/{gradient}: compile {compile_s:.1f} s, sampling {sample_s:.1f} s, "
          f"{float(idata.sample_stats['n_steps'].mean()):.1f} steps a draw, max R-hat "
          f"{max(np.nanmax(r['r_hat']) for r in stats.values()):.4f}, min bulk ESS "
          f"{min(np.nanmin(r['ess_bulk']) for r in stats.values()):.0f}, "
          f"{int(idata.sample_stats['diverging'].sum())} divergences")


if __name__ == "__main__":
    warnings.simplefilter("ignore")
    args = sys.argv[1:]
    if not args or len(args) > 3:
        sys.exit(__doc__)
    main(args[0], args[1] if len(args) > 1 else "jax", args[2] if len(args) > 2 else "pytensor")
