"""Evaluate a PyMC graph at many posterior draws at once, without compiling anything.

PyMC's own helpers (``compute_deterministics``, ``compute_log_likelihood``,
``compute_log_prior``) compile a function with the default backend (Numba) and call it
once per draw. With an empty compile cache, as on a fresh clone, the compilation costs
more than the work: the log-likelihood of the production fit's 8,000 draws took 12 s and
its posterior predictive draws 28 s, nearly all of it Numba compilation (cProfile of
`burden summarise production` with an empty `base_compiledir`, 2026-12-01 11:01 UTC).

Here the graph is vectorised over a leading draw dimension
(``pytensor.graph.replace.vectorize_graph``) and run with PyTensor's Python linker, no
graph rewrites and the C compiler switched off: numpy operations on whole arrays, the
same cost with a cold or a warm cache (the log densities, the recomputed Deterministics of
a compact save, and the posterior predictive draws of ``burden.models.posterior_predictive``).
``no_compile_mode`` is the same linker for code that must call PyMC's per-draw sampler
(``sample_prior_predictive``: its random draws are the same as with Numba, to about
1e-13, docs/performance.md "Summaries without compilation"). ``prior_draws`` draws a
prior for many draws at once where the graph allows it (``vectorised_prior_values``).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import xarray as xr


def _softplus(x):
    """softplus(x) computed as PyTensor's scalar ``Softplus.impl`` computes it, branch for
    branch, in operations numpy runs on whole arrays (evaluate under
    ``np.errstate(over="ignore")``: ``switch`` computes every branch)."""
    import pytensor.tensor as pt

    return pt.switch(x < -37.0, pt.exp(x),
                     pt.switch(x < 18.0, pt.log1p(pt.exp(x)),
                               pt.switch(x < 33.3, x + pt.exp(-x), x)))


def _second(x, y):
    """second(x, y) (PyTensor's ``fill``: y broadcast to the shape of x and y, in y's
    dtype) as a switch whose branches are both y, exact for every value (-0.0, inf and nan
    included: a nan in x takes the else branch, also y). ``pt.ones(x.shape) * y`` gave the
    same values, but building it inferred the static shape of x's whole graph: 1.5 of the
    3.7 s of preparing the composition model's predictive graph (cProfile, 2026-12-02
    03:15 UTC)."""
    import pytensor.tensor as pt

    return pt.switch(pt.eq(x, x), y, y)


#: scalar ops that PyTensor's Python linker runs one element at a time (no numpy ufunc:
#: ``Elemwise.perform`` loops over ``impl``), each with its whole-array replacement.
#: Softplus (the composition model): 10.9 million Python calls, 12 of the 18 s of
#: recomputing its Deterministics (cProfile of `burden summarise composition`, 2026-12-01).
#: Second (``fill``, in PyMC's log densities): 72 million calls, 16 of the 27 s of the
#: deaths fit's log-likelihood (cProfile, 2026-12-01 11:07 UTC)
WHOLE_ARRAY_REPLACEMENTS = {"Softplus": _softplus, "Second": _second}


def whole_array_ops(outputs):
    """``outputs`` with every element-by-element op of ``WHOLE_ARRAY_REPLACEMENTS``
    replaced by its whole-array form: one pass over the graph in topological order, each
    node rebuilt on its replaced inputs (the graph of ``outputs`` is left as it was).

    A loop of ``graph_replace`` calls until none was left did the same: it took 5.1 of the
    27 s of `burden summarise composition` under cProfile (2026-12-02 03:30 UTC), each call
    rebuilding the whole graph."""
    from pytensor.graph.traversal import toposort
    from pytensor.tensor.elemwise import Elemwise

    outputs = list(outputs)
    new: dict = {}
    for node in toposort(outputs):
        inputs = [new.get(i, i) for i in node.inputs]
        make = (WHOLE_ARRAY_REPLACEMENTS.get(type(node.op.scalar_op).__name__)
                if isinstance(node.op, Elemwise) and len(node.outputs) == 1 else None)
        if make is not None:
            new[node.outputs[0]] = make(*inputs)
        elif any(a is not b for a, b in zip(inputs, node.inputs, strict=True)):
            rebuilt = node.clone_with_new_inputs(inputs, strict=False)
            new.update(zip(node.outputs, rebuilt.outputs, strict=True))
    return [new.get(o, o) for o in outputs]


@contextmanager
def compiler_off() -> Iterator[None]:
    """PyTensor's C compiler switched off: Blockwise ops (softmax, cumsum over a batch)
    would otherwise compile their core op in C on first call (8 modules, about 9 s with an
    empty cache for the markets model). Nodes built inside keep no creation trace
    (``traceback__limit=0``): PyTensor otherwise walks the Python stack for every node it
    creates, 58,044 times in `burden summarise composition` (4.0 of its 22 s under
    cProfile, 2026-12-03 10:30 UTC); the trace only names, in an error message, the line
    that built a failing node."""
    import pytensor

    with pytensor.config.change_flags(cxx="", traceback__limit=0):
        yield


def _whole_array_rewriter():
    """A graph rewrite that swaps each op of ``WHOLE_ARRAY_REPLACEMENTS`` for its
    whole-array form (as ``whole_array_ops``, inside PyTensor's rewriting)."""
    from pytensor.graph.rewriting.basic import in2out, node_rewriter
    from pytensor.tensor.elemwise import Elemwise

    @node_rewriter([Elemwise])
    def whole_array(fgraph, node):
        make = WHOLE_ARRAY_REPLACEMENTS.get(type(node.op.scalar_op).__name__)
        if make is None or len(node.outputs) != 1:
            return None
        return [make(*node.inputs)]

    return in2out(whole_array, name="burden_whole_array_ops")


def no_compile_mode():
    """PyTensor's Python linker with its cheapest rewrites (``fast_compile``: merging
    repeated subgraphs, constant folding; no fusion, whose loops would run in Python)
    and, last, the whole-array forms of ``WHOLE_ARRAY_REPLACEMENTS``: for PyMC's per-draw
    functions, ``compile_kwargs={"mode": no_compile_mode()}`` inside ``compiler_off()``."""
    from pytensor.compile.mode import Mode

    return Mode(linker="py", optimizer="fast_compile").register((_whole_array_rewriter(), 100))


def prior_draws(model, draws: int, var_names: Sequence[str] | None = None,
                random_seed=None):
    """``pm.sample_prior_predictive(draws, var_names=..., random_seed=...)`` of ``model``,
    the same draws (to about 1e-13) and the same layout, computed without compiling.

    When every random variable behind ``var_names`` is one of PyTensor's own
    (``vectorised_prior_values``) all the draws come from one pass over the graph, drawn
    for ``draws`` at once: the composition fit's 1,000 prior draws of ``theta``.
    Otherwise (PyMC's symbolic distributions: ``CustomDist``, ``Censored``,
    ``ZeroSumNormal`` ...) PyMC's sampler runs once per draw on PyTensor's Python linker
    (``no_compile_mode`` inside ``compiler_off``), each draw running the graph op by op in
    Python. That is still faster than compiling: the deaths model's 2,000 prior draws
    took 12.5 and 15.6 s this way against 22.6 and 23.4 s with Numba; the composition
    model's 1,000 took 13.6 and 10.9 s against 5.7 and 4.8 s with a warm Numba cache and
    58.9 and 59.9 s with an empty one (timing scripts, two runs of each, one after the
    other, beside an SBC run, 2026-12-03 10:45-10:55 UTC; a fresh clone's cache is
    empty)."""
    import pymc as pm

    values = vectorised_prior_values(model, draws, var_names, random_seed)
    if values is not None:
        return pm.to_inference_data(prior=values, model=model)
    with compiler_off(), model:
        return pm.sample_prior_predictive(draws, var_names=var_names,
                                          random_seed=random_seed,
                                          compile_kwargs={"mode": no_compile_mode()})


def vectorised_prior_values(model, draws: int, var_names: Sequence[str] | None = None,
                            random_seed=None) -> dict[str, np.ndarray] | None:
    """The ``draws`` prior draws of ``var_names`` (default: every random variable and
    Deterministic, as PyMC's) as ``{name: array with a leading draw axis}``, computed in
    one call, or None when a random draw behind them is not a model variable of one of
    PyTensor's own ``RandomVariable`` ops: PyMC's symbolic distributions cannot be drawn
    for many draws at once (``vectorize_graph`` refuses their random generator input), a
    ``CustomDist``'s own random function need not take a batched size, and a draw inside
    a Deterministic would be drawn once.

    Every random variable is drawn with a leading dimension of ``draws`` (its size
    becomes ``(draws, *batch shape)``; PyTensor writes every parameter of a random
    variable with its batch dimensions, ``explicit_expand_dims``, so a parameter drawn
    per draw lines up with that size) and every other operation is vectorised over that
    dimension (``vectorize_graph``, node by node). PyTensor's own vectorisation of a
    random variable is not used: it sizes the new draws by the first parameter only, so
    ``Binomial(10, p)`` with a batched ``p`` is refused. The random generators are the
    model's own, seeded as PyMC seeds them, and numpy fills an array of draws in the
    order of successive calls: the values are those of ``pm.sample_prior_predictive``
    with the same seed (tests/test_prior_draws.py). Composition model, 1,000 draws of
    ``theta``: docs/performance.md, "Prior draws at once"."""
    import pymc as pm
    import pytensor
    import pytensor.tensor as pt
    from pymc.distributions.custom import CustomDistRV
    from pymc.util import _get_seeds_per_chain, get_default_varnames
    from pytensor.graph.replace import vectorize_graph
    from pytensor.graph.traversal import ancestors, toposort
    from pytensor.tensor.random.op import RandomVariable, RNGConsumerOp

    wanted = (set(var_names) if var_names is not None
              else {v.name for v in model.basic_RVs + model.deterministics})
    names = sorted(get_default_varnames(wanted, include_transformed=False))
    if set(names) != wanted or not wanted <= set(model.named_vars):
        return None  # PyMC's path names what it does not recognise
    outputs = [model[name] for name in names]
    basic = set(model.basic_RVs)
    used = [v for v in ancestors(outputs) if v in basic]
    for node in {v.owner for v in ancestors(outputs) if v.owner is not None}:
        # every draw must be a model variable of PyTensor's kind: a random draw inside a
        # Deterministic (``pm.Normal.dist``) would be drawn once here, and a CustomDist's
        # own random function need not take a batched size
        if isinstance(node.op, RNGConsumerOp) and not (
                isinstance(node.op, RandomVariable) and not isinstance(node.op, CustomDistRV)
                and node.outputs[-1] in basic):
            return None
    with compiler_off():  # shapes as in ``Model.eval_rv_shapes``, observed ones too
        shape_fn = pytensor.function(
            [], [pt.as_tensor(v.shape) for v in used],
            givens=[(obs, model.rvs_to_values[obs]) for obs in model.observed_RVs],
            mode=pytensor.compile.mode.FAST_COMPILE, on_unused_input="ignore")
        shapes = {v.name: tuple(int(n) for n in s) for v, s in zip(used, shape_fn())}
    new: dict = {}
    for node in toposort(outputs):
        inputs = [new.get(i, i) for i in node.inputs]
        if node.outputs[-1] in basic:
            rng, _, *params = inputs
            rv = node.outputs[-1]
            batch = shapes[rv.name][: rv.ndim - node.op.ndim_supp]
            size = pt.as_tensor(np.array([draws, *batch], dtype="int64"))
            outs = node.op.make_node(rng, size, *params).outputs
        elif any(a is not b for a, b in zip(inputs, node.inputs, strict=True)):
            changed = {a: b for a, b in zip(node.inputs, inputs, strict=True) if a is not b}
            outs = vectorize_graph(node.outputs, replace=changed)
        else:
            continue
        new.update(zip(node.outputs, outs, strict=True))
    batched = [new.get(o, o) for o in outputs]
    if model.potentials:
        warnings.warn("The effect of Potentials on other parameters is ignored during prior "
                      "predictive sampling. This is likely to lead to invalid or biased "
                      "predictive samples.", UserWarning, stacklevel=3)
    if random_seed is not None:
        (random_seed,) = _get_seeds_per_chain(random_seed, 1)
    with compiler_off():
        fn = pm.pytensorf.compile([], batched, random_seed=random_seed,
                                  mode=no_compile_mode(), accept_inplace=True)
        with np.errstate(over="ignore"):  # _softplus: branches not taken
            values = fn()
    out = {}
    for name, var, value in zip(names, outputs, values, strict=True):
        value = np.asarray(value)
        if value.ndim == var.ndim:  # no random variable behind it: the same every draw
            value = np.broadcast_to(value, (draws, *value.shape)).copy()
        out[name] = value
    return out


#: rewrites left out of a ``batched_function``'s optimizer: on the vectorised graph each
#: rebuilds nodes whose static shape PyTensor infers from the whole graph. Leaving them out
#: took the composition fit's log-likelihood from 8.7 and 10.4 s to 5.5 and 5.4 s, values
#: within 4e-15, and left the deaths, production and markets fits' unchanged (values
#: identical; a timing script on fits of the test pipeline, two runs of each, beside an SBC
#: run, 2026-12-03 11:00 UTC; on the real fits, `python analysis/steps_ab.py b8572c1 2b827f3`
#: with the other changes of that day: `summarise composition` 20.8 -> 16.0 s, the other
#: summaries within noise, docs/performance.md). ``selection_dot_to_indexing`` turns a product with a 0/1
#: matrix into indexing; ``local_blockwise_inc_subtensor`` an increment of a batch into one
#: increment.
SLOW_REWRITES = ("selection_dot_to_indexing", "local_blockwise_inc_subtensor")


def batched_function(inputs: Sequence, outputs: Sequence, optimizer: str | None = None):
    """A function of ``inputs``, each with a leading draw dimension added, returning
    ``outputs`` for every draw at once (call it inside ``compiler_off()``).

    ``optimizer=None`` runs the graph as written; ``"fast_compile"`` (PyTensor's cheapest
    rewrites: merging repeated subgraphs, constant folding; no fusion, whose loops would
    run in Python) halved the deaths log-likelihood, 5.1 to 2.2 s for its 6,000 draws,
    values within 4e-13 (a timing script, not kept, on the saved deaths fit, 2026-12-01
    11:20 UTC)."""
    import pytensor
    import pytensor.tensor as pt
    from pytensor.compile.mode import Mode
    from pytensor.graph.replace import vectorize_graph

    batched = {v: pt.tensor(dtype=v.dtype, shape=(None, *v.type.shape), name=v.name)
               for v in inputs}
    vectorised = whole_array_ops(vectorize_graph(list(outputs), replace=batched))
    mode = Mode(linker="py", optimizer=optimizer)
    if optimizer is not None:
        mode = mode.excluding(*SLOW_REWRITES)
    return pytensor.function(list(batched.values()), vectorised, mode=mode,
                             on_unused_input="ignore")


def draw_blocks(n_draws: int, values_per_draw: int, max_bytes: int) -> list[slice]:
    """Slices of at most as many draws as keep one float64 array of every output within
    ``max_bytes`` (at least one draw each)."""
    size = max(1, int(max_bytes // max(1, 8 * values_per_draw)))
    return [slice(i, min(i + size, n_draws)) for i in range(0, n_draws, size)]


def run_in_blocks(fn, args: Sequence[np.ndarray], n_draws: int, values_per_draw: int,
                  max_bytes: int) -> list[np.ndarray]:
    """``fn`` (a ``batched_function``) on blocks of the ``n_draws`` draws of ``args``
    (leading dimension), each output joined back over the draws (``draw_blocks``)."""
    outs = None
    for block in draw_blocks(n_draws, values_per_draw, max_bytes):
        with np.errstate(over="ignore"):  # _softplus: branches not taken
            values = fn(*[a[block] for a in args])
        if outs is None:
            outs = [np.empty((n_draws, *np.shape(v)[1:]), dtype=np.asarray(v).dtype)
                    for v in values]
        for out, v in zip(outs, values, strict=True):
            out[block] = v
    return outs or []


def draws_dataset(model, values: dict[str, np.ndarray], posterior) -> xr.Dataset:
    """Arrays (chain × draw, ...) of ``model``'s variables as a Dataset (chain, draw,
    the model's dims and coords), as PyMC writes its groups: an array with fewer
    dimensions than the variable (a multivariate density) keeps the first ones."""
    from pymc.backends.arviz import coords_and_dims_for_inferencedata

    from burden import config

    config.forget_unloaded_jax()
    n_chains, n_draws = posterior.sizes["chain"], posterior.sizes["draw"]
    coords, dims = coords_and_dims_for_inferencedata(model)
    data = {}
    for name, flat in values.items():
        array = stacked(flat, n_chains, n_draws)
        ndim = array.ndim - 2
        var_dims = list(dims.get(name) or [])[:ndim]
        var_dims += [f"{name}_dim_{i}" for i in range(len(var_dims), ndim)]
        var_coords = {d: (np.asarray(coords[d]) if d in coords else np.arange(n))
                      for d, n in zip(var_dims, array.shape[2:], strict=True)}
        data[name] = xr.DataArray(array, dims=("chain", "draw", *var_dims),
                                  coords={"chain": posterior["chain"].values,
                                          "draw": posterior["draw"].values, **var_coords})
    return xr.Dataset(data)


def flat_draws(posterior, variables: Sequence[tuple[str, str]]) -> list[np.ndarray]:
    """Each ``(name, dtype)`` of ``posterior`` as an array (chain × draw, ...) of that
    dtype: the inputs of a ``batched_function``."""
    out = []
    for name, dtype in variables:
        values = np.asarray(posterior[name].transpose("chain", "draw", ...).values,
                            dtype=dtype)
        out.append(values.reshape(values.shape[0] * values.shape[1], *values.shape[2:]))
    return out


def stacked(values: np.ndarray, n_chains: int, n_draws: int) -> np.ndarray:
    """(chain × draw, ...) -> (chain, draw, ...)."""
    return np.asarray(values).reshape(n_chains, n_draws, *np.shape(values)[1:])
