"""Shared by the benchmark scripts: compile and sample a built estimator, timing each part.

The estimator's own ``fit`` lets ``pm.sample`` compile inside; benchmarks need compile time
apart, so this drives nutpie (or PyMC after a cold compile of the log-density) directly with
the estimator's sampler settings and hands the posterior back to the estimator.
"""

from __future__ import annotations

import time


def timed_sample(model, sampler: str) -> tuple[float, float]:
    """Compile and sample ``model`` (an estimator after ``build_model``); return
    (compile_s, sample_s) and leave the posterior in ``model._idata``."""
    import pymc as pm

    kwargs = model._sample_kwargs()
    t0 = time.perf_counter()
    if sampler == "nutpie":
        import nutpie
        from pymc.backends.arviz import patch_nutpie_idata

        compiled = nutpie.compile_pymc_model(model.model, backend="numba")
        compile_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        idata = nutpie.sample(compiled, draws=kwargs["draws"], tune=kwargs["tune"],
                              chains=kwargs["chains"], cores=kwargs["cores"],
                              seed=int(kwargs["random_seed"]),
                              target_accept=kwargs["target_accept"], progress_bar=False)
        sample_s = time.perf_counter() - t1
        patch_nutpie_idata(idata, model.model, sampling_time=sample_s)
    else:
        # cold compile of the log-density and gradient, as pm.sample does first; pm.sample
        # then reuses PyTensor's on-disk cache (a warm compile, ~2 s, counted in sample_s)
        if sampler == "pymc":
            model.model.logp_dlogp_function(ravel_inputs=True)
        compile_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        with model.model:
            idata = pm.sample(progressbar=False, **kwargs)
        sample_s = time.perf_counter() - t1
    model._idata = idata
    return compile_s, sample_s


def run_child(argv: list[str], label: str) -> dict | None:
    """Run one benchmark case in its own Python process (cold compile, its own peak memory);
    return the dict it printed on its ``RESULT`` line, or None after reporting the failure."""
    import json
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, *argv], capture_output=True, text=True, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not lines:
        print(f"{label} failed:\n{proc.stderr[-3000:]}", file=sys.stderr)
        return None
    row = json.loads(lines[-1][len("RESULT "):])
    print(f"done {label}: {row}", file=sys.stderr)
    return row
