"""Posterior predictive draws of every observed variable, for blocks of posterior draws at
once, with nothing compiled (``burden.models.batched``).

PyMC's ``pm.sample_posterior_predictive`` calls its sampling function once per posterior
draw. With PyTensor's Python linker (no compilation) each call runs every node of the graph
in Python: 9.8 of the 34 s of `burden summarise composition` under cProfile, for its 2,000
checked draws (2026-12-02 03:11 UTC). Here the graph is vectorised over a leading draw
dimension and each block of draws is one call.

The draws are from the same distributions as PyMC's, not the same random numbers (one
random generator call per block, not per draw); a seed gives the same draws. Checked
against PyMC's draws in ``tests/test_posterior_predictive.py``.

Two checks PyMC makes with a warning are errors here: a model with Potentials (their
effect is missing from predictive draws) and a data container whose value is not the
fit's (the draws would be of other data).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import xarray as xr

from burden.models.batched import (
    compiler_off,
    draws_dataset,
    flat_draws,
    run_in_blocks,
    whole_array_ops,
)

#: largest float64 output array of one block of draws (bytes), as for the log densities
BLOCK_BYTES = 32 * 2**20


def _vectorised(outputs: Sequence, replace: Mapping, n_draws) -> list:
    """``outputs`` (random variables) with ``replace`` (inputs batched over a leading
    dimension of length ``n_draws``, random generators) replaced.

    PyTensor's own rule for a random variable with a ``size`` adds the new batch
    dimensions only when its first parameter gained them: a Student-t whose ``nu`` is a
    constant and whose ``mu`` is batched fails ("Size length is incompatible", pytensor
    2.x, the composition and production models). Here the size gains as many leading
    dimensions as the parameter that gained the most; one that depends on no batched
    input gains the draw dimension all the same."""
    import pytensor.tensor as pt
    from pytensor.graph.replace import vectorize_graph
    from pytensor.tensor import concatenate
    from pytensor.tensor.random.op import RandomVariable
    from pytensor.tensor.random.utils import compute_batch_shape
    from pytensor.tensor.type_other import NoneTypeT

    replace = dict(replace)
    plain = [rv for rv in outputs if isinstance(rv.owner.op, RandomVariable)]
    params = [p for rv in plain for p in rv.owner.op.dist_params(rv.owner)]
    others = [rv for rv in outputs if rv not in plain]
    new = vectorize_graph([*params, *others], replace=replace)
    new_params, new_others = iter(new[:len(params)]), iter(new[len(params):])
    out = []
    for rv in outputs:
        if rv not in plain:
            out.append(next(new_others))
            continue
        node, op = rv.owner, rv.owner.op
        old = op.dist_params(node)
        batched = [next(new_params) for _ in old]
        size = op.size_param(node)
        extra = max(b.type.ndim - o.type.ndim for b, o in zip(batched, old, strict=True))
        unsized = isinstance(size.type, NoneTypeT)
        if extra > 0 and not unsized:
            batch = compute_batch_shape(batched, ndims_params=op.ndims_params)[:extra]
            size = concatenate([batch, size])
        elif extra == 0:  # the same distribution at every draw
            base = (compute_batch_shape(batched, ndims_params=op.ndims_params) if unsized
                    else size)
            size = concatenate([pt.stack([n_draws]).astype("int64"), base])
        rng = op.rng_param(node)
        out.append(op.make_node(replace.get(rng, rng), size, *batched).default_output())
    return out


def _size(data) -> int:
    """Number of values of an observed variable's data (a constant or a data container)."""
    value = data.get_value() if hasattr(data, "get_value") else data.data
    return int(np.size(value))


def _check_data(model, constant_data: xr.Dataset | None) -> None:
    """Every data container holds the value it held at the fit (``constant_data``)."""
    if constant_data is None:
        return
    for var in model.data_vars:
        if var.name in constant_data and not np.array_equal(
                np.asarray(var.get_value()), constant_data[var.name].values, equal_nan=True):
            raise ValueError(
                f"data container {var.name!r} does not hold the value it held at the fit: "
                "posterior predictive draws of the fitted data need the fit's data")


def _check_free(free_names: Sequence[str], posterior: xr.Dataset) -> None:
    missing = [name for name in free_names if name not in posterior]
    if missing:
        raise ValueError(f"the posterior lacks the free variables {missing} the predictive "
                         "draws need")


def posterior_predictive(model, posterior: xr.Dataset, random_seed: int | None,
                         constant_data: xr.Dataset | None = None,
                         block_bytes: int = BLOCK_BYTES) -> xr.Dataset:
    """Draws of every observed variable of ``model`` at every (chain, draw) of
    ``posterior``, with the model's dims and coords (as PyMC's ``posterior_predictive``
    group). ``constant_data``: the data containers' values at the fit, checked."""
    _check_free([rv.name for rv in model.free_RVs], posterior)  # before building
    return predictive_sampler(model, constant_data)(posterior, random_seed, block_bytes)


def predictive_sampler(model, constant_data: xr.Dataset | None = None
                       ) -> Callable[..., xr.Dataset]:
    """``posterior_predictive`` of ``model`` as a function of ``(posterior, random_seed,
    block_bytes=BLOCK_BYTES)``, its vectorised graph built once for every call.

    Building the graph is most of a call's cost for a few draws: cProfile of
    ``posterior_sbc.posterior_worlds`` for 6 worlds of the deaths fit, one draw each
    (2026-12-07 00:25 UTC): 9.4 of its 10.7 s in ``posterior_predictive``, about 8.8 s of
    it building the graph. Each call seeds the random generators afresh from its
    ``random_seed`` as ``posterior_predictive`` does, and checks the data containers
    against ``constant_data``, so a call gives the draws a separate
    ``posterior_predictive`` call would. A call advances shared generators: do not call
    one sampler from two threads at once."""
    import pytensor
    import pytensor.tensor as pt
    from pymc.pytensorf import collect_default_updates
    from pytensor.compile.mode import Mode
    from pytensor.graph.traversal import ancestors
    from pytensor.tensor.random.type import RandomGeneratorType

    if model.potentials:
        raise ValueError(
            f"the model has Potentials ({[p.name for p in model.potentials]}): predictive "
            "draws would leave out their effect; write likelihood terms as observed or "
            "pm.Censored distributions")
    _check_data(model, constant_data)
    observed = list(model.observed_RVs)
    free = list(model.free_RVs)
    batched = {rv: pt.tensor(dtype=rv.dtype, shape=(None, *rv.type.shape), name=rv.name)
               for rv in free}
    # generators of their own, seeded at each call: the model's are left as they were
    rngs = [v for v in ancestors(observed)
            if isinstance(v.type, RandomGeneratorType) and v.owner is None]
    fresh = {r: pytensor.shared(np.random.default_rng(0)) for r in rngs}
    n_draws = next(iter(batched.values())).shape[0] if batched else None
    if n_draws is None:
        raise ValueError("the model has no free variables: nothing to draw the "
                         "predictions from")
    with compiler_off():  # no creation trace for the thousands of nodes built here
        outputs = whole_array_ops(_vectorised(observed, {**batched, **fresh}, n_draws))
        flat = [rv.name for rv, out in zip(observed, outputs, strict=True)
                if out.type.ndim != rv.type.ndim + 1]
        if flat:
            raise ValueError(f"observed variables {flat} did not gain a draw dimension")
        fn = pytensor.function(list(batched.values()), outputs,
                               mode=Mode(linker="py", optimizer=None),
                               updates=collect_default_updates(outputs=outputs),
                               on_unused_input="ignore")

    def sample(posterior: xr.Dataset, random_seed: int | Sequence[int] | None,
               block_bytes: int = BLOCK_BYTES) -> xr.Dataset:
        _check_free([rv.name for rv in free], posterior)
        _check_data(model, constant_data)  # the function reads the containers as they are
        streams = np.random.SeedSequence(random_seed).spawn(len(rngs))
        for shared, stream in zip(fresh.values(), streams, strict=True):
            shared.set_value(np.random.default_rng(stream), borrow=True)
        per_draw = sum(_size(model.rvs_to_values[rv]) for rv in observed)
        with compiler_off():
            n = posterior.sizes["chain"] * posterior.sizes["draw"]
            args = flat_draws(posterior, [(rv.name, rv.dtype) for rv in free])
            outs = run_in_blocks(fn, args, n, per_draw, block_bytes)
        return draws_dataset(model, {rv.name: v for rv, v in zip(observed, outs,
                                                                  strict=True)}, posterior)

    return sample
