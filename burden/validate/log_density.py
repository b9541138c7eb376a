"""Pointwise log densities (likelihood of each observation, prior of each parameter) at
every posterior draw, for LOO-PIT (``burden.validate.loo_pit``) and power-scaling prior
sensitivity (``burden.validate.prior_sensitivity``).

The values are those of PyMC's ``pm.stats.compute_log_likelihood`` and
``compute_log_prior`` (the untransformed model's elementwise ``logp``, Potentials
excluded), computed on blocks of draws at once with nothing compiled
(``burden.models.batched``): PyMC's own functions compile with Numba and loop over draws,
which with an empty compile cache took 12 s, nearly all compiling, for the production
fit's log-likelihood (docs/performance.md, "Summaries without compilation").
``tests/test_log_density.py`` checks the values, dims and coords against PyMC's on a
model with each kind of term the package's models use; on the five fits, the LOO-PIT
and prior-sensitivity tables agreed with those from PyMC's functions (same page).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Literal

import numpy as np
import pymc as pm
import xarray as xr

from burden.models.batched import (
    batched_function,
    compiler_off,
    draws_dataset,
    flat_draws,
    run_in_blocks,
)

#: largest float64 output array of one block of draws (bytes): the deaths model's 11,434
#: observations give blocks of about 370 draws, so temporaries stay near a few hundred MB
BLOCK_BYTES = 32 * 2**20


@contextmanager
def model_for_densities(est) -> Iterator[pm.Model]:
    """``est``'s model (rebuilt when not in memory), entered, without initial values:
    PyMC cannot transform a model that has them (the certified walks start at data-based
    values), and they only matter where sampling starts; restored on exit."""
    built = getattr(est, "built_model", None)  # an estimator keeps what it builds
    model = (built() if built is not None
             else est.model if est.model is not None else est.build_model(est.data))
    initial = dict(model.rvs_to_initial_values)
    try:
        model.rvs_to_initial_values.update(dict.fromkeys(initial))
        with model:
            yield model
    finally:
        model.rvs_to_initial_values.update(initial)


def log_density(est, posterior: xr.Dataset, kind: Literal["likelihood", "prior"],
                var_names: Sequence[str] | None = None,
                block_bytes: int = BLOCK_BYTES) -> xr.Dataset:
    """Elementwise log density of ``var_names`` (default: every observed variable for
    ``kind="likelihood"``, every free variable for ``"prior"``) at every (chain, draw) of
    ``posterior``, with the model's dims and coords."""
    return log_densities(est, posterior, {kind: var_names}, block_bytes)[kind]


def log_densities(est, posterior: xr.Dataset,
                  requests: dict[Literal["likelihood", "prior"], Sequence[str] | None],
                  block_bytes: int = BLOCK_BYTES) -> dict[str, xr.Dataset]:
    """``log_density`` of each ``kind: var_names`` of ``requests``, from one graph: the
    untransformed model, PyMC's log density and the vectorised function are built once
    (building them, not running them, is most of the cost: of the 3.3 s that
    `burden summarise deaths` spent in its vectorised functions, 2.9 s went to building
    them; a timing script on the test pipeline's deaths fit, 2026-12-03 10:55 UTC)."""
    from pymc.model.transform.conditioning import remove_value_transforms

    bad = [k for k in requests if k not in ("likelihood", "prior")]
    if bad:
        raise ValueError(f"kind must be 'likelihood' or 'prior', not {bad[0]!r}")
    with model_for_densities(est) as model:
        umodel = remove_value_transforms(model)
    names: dict[str, list[str]] = {}
    for kind, var_names in requests.items():
        pool = list(umodel.observed_RVs if kind == "likelihood" else umodel.free_RVs)
        names[kind] = [rv.name for rv in pool] if var_names is None else list(var_names)
        unknown = [n for n in names[kind] if n not in {rv.name for rv in pool}]
        if unknown:
            what = "observed" if kind == "likelihood" else "free"
            raise ValueError(f"{type(est).__name__}: {unknown} are not {what} variables of "
                             f"the model (it has {[rv.name for rv in pool]})")
    flat = [n for kind in names for n in names[kind]]
    targets = [umodel[n] for n in flat]
    inputs = [umodel.rvs_to_values[rv] for rv in umodel.free_RVs]
    missing = [v.name for v in inputs if v.name not in posterior]
    if missing:
        raise ValueError(f"{type(est).__name__}: the posterior lacks the free variables "
                         f"{missing} needed for the log {' and '.join(names)}")
    n_chains, n_draws = posterior.sizes["chain"], posterior.sizes["draw"]
    args = flat_draws(posterior, [(v.name, v.dtype) for v in inputs])
    with compiler_off():
        fn = batched_function(inputs, umodel.logp(vars=targets, sum=False),
                              optimizer="fast_compile")
        per_draw = sum(int(np.prod(fn(*[a[:1] for a in args])[i].shape[1:]))
                       for i in range(len(targets)))
        outs = dict(zip(flat, run_in_blocks(fn, args, n_chains * n_draws, per_draw,
                                            block_bytes), strict=True))
    return {kind: draws_dataset(umodel, {n: outs[n] for n in names[kind]}, posterior)
            for kind in names}


def log_likelihood(est, posterior: xr.Dataset) -> xr.Dataset:
    """Pointwise log-likelihood of every observed variable at every posterior draw."""
    return log_density(est, posterior, "likelihood")


def log_prior(est, posterior: xr.Dataset, var_names: Sequence[str]) -> xr.Dataset:
    """Log prior density of the free variables ``var_names`` at every posterior draw."""
    return log_density(est, posterior, "prior", var_names)
