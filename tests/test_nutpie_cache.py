"""nutpie's C callbacks loaded from PyTensor's compile folder (``burden.models.nutpie_cache``).

Each compilation runs in its own process, as the Makefile's fits do: the first compiles and
saves the callbacks, the second loads them. Both give the draws of ``nutpie.compile_pymc_model``
itself. The toy model's data hold a number drawn for this test run, so no earlier run's
cache can answer, and a model with other data must not be answered from this one's cache.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

#: argv: output .npz path, then one data token per model to compile
SCRIPT = """
import json, sys, warnings
import numpy as np, nutpie, pymc as pm, pytensor
from burden.models import nutpie_cache
from burden.models.base import NUMBA_FASTMATH

def model(token):
    y = np.array([0.3, -1.2, 2.5, 0.8, token])
    with pm.Model(coords={"obs": range(5)}) as m:
        x = pm.Data("x", np.linspace(0.0, 1.0, 5), dims="obs")  # shared data
        mu = pm.Normal("mu", 0.0, 1.0)
        slope = pm.Normal("slope", 0.0, 1.0)
        sigma = pm.HalfNormal("sigma", 1.0)  # transformed
        pm.Normal("y", mu + slope * x, sigma, observed=y, dims="obs")
    return m

def draws(compiled):
    trace = nutpie.sample(compiled, draws=50, tune=50, chains=1, seed=3, progress_bar=False)
    return np.concatenate([trace.posterior[v].values.ravel() for v in ("mu", "slope", "sigma")])

out, hits = {}, {}
for i, token in enumerate(float(t) for t in sys.argv[2:]):
    m = model(token)
    names = [rv.name for rv in m.free_RVs]
    # compiled as the package compiles (``BayesianEstimator.compiled_model``): with
    # fastmath on, LLVM's freedom to reorder arithmetic let the draws of two builds of the
    # same code differ in the last bits at NUMBA_OPT=1 (2026-12-01)
    with warnings.catch_warnings(), pytensor.config.change_flags(numba__fastmath=NUMBA_FASTMATH):
        warnings.simplefilter("ignore")
        with nutpie_cache.cached_callbacks():
            cached = nutpie.compile_pymc_model(m, backend="numba", var_names=names)
        own = nutpie.compile_pymc_model(m, backend="numba", var_names=names)
        out[f"cached_{i}"], out[f"own_{i}"] = draws(cached), draws(own)
    hits[i] = [cached.compiled_logp_func._cache_hits, cached.compiled_expand_func._cache_hits]
np.savez(sys.argv[1], **out)
print(json.dumps(hits))
"""


def _run(out: Path, *tokens: float) -> tuple[dict[str, np.ndarray], list[list[int]]]:
    """Draws, and per model the cache hits of its [log density, trace values] callbacks."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(out), *(repr(float(t)) for t in tokens)],
                          check=False, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    hits = json.loads(done.stdout.strip().splitlines()[-1])
    with np.load(out) as saved:
        return {k: saved[k] for k in saved.files}, [hits[str(i)] for i in range(len(tokens))]


@pytest.mark.slow
def test_a_second_process_loads_the_callbacks_and_samples_the_same_draws(tmp_path):
    token, other = np.random.default_rng().uniform(-3.0, 3.0, size=2)
    first, first_hits = _run(tmp_path / "first.npz", token)
    # (the trace-values callback depends on the free variables only: an earlier test run
    # may have cached it)
    assert first_hits[0][0] == 0, "a log density was loaded before any process compiled it"
    second, second_hits = _run(tmp_path / "second.npz", token, other)
    assert second_hits[0] == [1, 1], "the second process compiled the callbacks again"
    # other data: another log density; the trace's values (free variables only) are the
    # same function of the point, rightly loaded
    assert second_hits[1] == [0, 1], "other data was answered from the cache"
    # nutpie's own compilation, cached callbacks compiled, cached callbacks loaded
    for draws in (first["cached_0"], second["own_0"], second["cached_0"]):
        np.testing.assert_array_equal(draws, first["own_0"])
    np.testing.assert_array_equal(second["cached_1"], second["own_1"])
    assert not np.array_equal(second["own_1"], first["own_0"])


def test_cached_callbacks_restores_numba_and_nutpie_on_error():
    import numba
    from nutpie import compile_pymc

    from burden.models import nutpie_cache

    before = numba.cfunc, compile_pymc.uuid4
    with pytest.raises(RuntimeError, match="inside"), nutpie_cache.cached_callbacks():
        assert numba.cfunc is not before[0]
        assert compile_pymc.uuid4().hex == "shared_0000"
        assert compile_pymc.uuid4().hex == "shared_0001"
        raise RuntimeError("inside")
    assert (numba.cfunc, compile_pymc.uuid4) == before
