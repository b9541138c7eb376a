"""``burden validate sbc``: simulation-based calibration of a model, fits run on Dask.

For each simulation: parameters drawn from the prior and data from the likelihood (one
prior-predictive draw of the model's own ``build_model`` on a reduced version of the real
data's design, ``sbc_specs``), a fit with the model's default sampler, and the rank of
every true value among the posterior draws thinned to near-independent ones
(``sbc_stats``).

Why not ``simuk.SBC`` (0.3.0, read before writing this): it loops over simulations in one
process and re-creates the model with ``pm.observe`` and ``pm.sample`` for every simulation
(a compilation per fit: 34 s for the reduced production model against 13 s of sampling,
measured 2026-11-29), stops the whole run at the first failed fit instead of retrying and
recording it, ranks all draws without thinning, and records no per-fit convergence. Its
rank convention (draws strictly below the truth) is kept.

Distribution. The simulations are independent fits, submitted as Dask tasks
(``dask.distributed``): by default to an embedded ``LocalCluster`` of one single-threaded
worker process per core, or with ``scheduler="tcp://host:port"`` to an existing cluster
(its workers need this package installed; the design tables travel with the task, so they
need no data files). Prior draws are made once on the client, so the simulated data do not
depend on how many workers there are.

Compile once per worker. The observed data of the model are replaced by PyTensor shared
variables (``with_shared_observations``; data already in a named ``pm.Data`` container stay
in it, so that a parameterisation computed from the data follows each simulation's data);
the first task on a worker compiles the nutpie model and keeps it in a process-level
cache, later tasks swap the data in with nutpie's ``with_data`` (no recompilation):
``compile_s`` is recorded per simulation (0 when reused).

Prior worlds. They are drawn one after another, in one stream from the run's seed, as the
one ``pm.sample_prior_predictive(n, random_seed=seed)`` call that drew every world before
2026-12-05 drew them: a run in which every world can be drawn has exactly that call's
worlds, whatever its size, so every run recorded before keeps all its worlds (none of
them met a world that could not be drawn). A world far in the prior's tails can have
counts too large to draw (the certified model: 4 of 10,000 worlds of seed 1, the first
world 628, and 3 of seed 2, the first 339, 2026-12-05; docs/validation/sbc.md, "certified
version 3, seed 2"): it is recorded as a failed simulation, not dropped, and the worlds
after it come from a seed derived from its position (``prior_worlds``,
``prior_stream_seed``). The sampler is compiled once per ``simulate`` (``PriorSampler``).

Resuming. ``resume=True`` (``--resume``) extends the run already in the output folder, for
example from 100 simulations to 200: with the same seed the prior draws, data and fit seeds
of the first simulations are the same (a world depends on the seed and the worlds before
it only, and the fit seeds are one stream drawn in order), so their fits are reused when
model, seed, design and sampler settings match and every reused simulation's seed and true
values equal the new draws'. ``RESUME_CHECKS`` of the reused fits are made again first,
and the run stops if their ranks differ (the model's code changed since): the earlier fits
are trusted only when they are reproduced. A long run writes checkpoints as it goes (its
first k simulations, whenever all of them are done, every ``CHECKPOINT_EVERY``; the
manifest's ``checkpoint`` names the run's full size), so a run that stops is resumed from
its last checkpoint.

Failures. A fit that raises is retried once with another seed; if it fails again, or its
worker dies twice, the simulation is recorded with status ``failed`` and the error (its
ranks are NaN): never dropped. So is a prior world that could not be drawn (0 attempts,
NaN true values; with ``--worlds like-ours`` it is rejected instead, as "undrawable").
Convergence (max R-hat, min bulk ESS, divergences) of each fit is recorded; non-converged
fits keep their ranks and are counted in the manifest.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

import burden
from burden.models import fast_diagnostics
from burden.models.config import SamplerConfig
from burden.validate import sbc_stats, sbc_worlds
from burden.validate.sbc_specs import SBCSpec, spec_for

log = logging.getLogger(__name__)

#: prefix of the shared variables that hold a simulation's observed data
DATA_PREFIX = "sbc_data_"
#: seed offset of a retried fit
RETRY_OFFSET = 2**30
#: reused fits made again on ``--resume`` to check that they give the same ranks
RESUME_CHECKS = 2
#: a run with an output folder writes its tables for its first k simulations whenever all
#: of them are done and k is this many more than at the last checkpoint: a run that stops
#: (a machine shut down, a session's end) goes on from there with ``--resume`` (the deaths
#: model's posterior SBC samples a median of 182 s a fit on one core, 2026-12-06). Never
#: over a finished run's tables, unless extending it (``_finished_run_in``)
CHECKPOINT_EVERY = 10


def _model_version(spec: SBCSpec) -> str:
    """The version of the spec's model class (``BayesianEstimator._model_version``)."""
    import importlib

    return str(getattr(importlib.import_module(spec.module), spec.cls)._model_version)


# ---- the model with swappable data ---------------------------------------------------------
def with_shared_observations(model):
    """A copy of ``model`` whose observed values are PyTensor shared variables named
    ``sbc_data_<observed variable>`` (same values): nutpie's ``with_data`` swaps them
    without recompiling. The log density is otherwise the same graph; initial values are
    kept."""
    import pytensor
    from pymc.model.fgraph import ModelObservedRV, model_from_fgraph, model_observed_rv
    from pymc.pytensorf import toposort_replace
    from pytensor.compile import SharedVariable

    fgraph, initvals = model_fgraph(model)
    replacements = {}
    for node in list(fgraph.apply_nodes):
        if isinstance(node.op, ModelObservedRV):
            rv, data, *dims = node.inputs
            if isinstance(data, SharedVariable) and data.name:
                # a named data container (pm.Data): swappable by its own name, and kept,
                # so that every other use of it (a parameterisation computed from the
                # data, as the composition model's) follows the simulated data
                continue
            value = data.data if hasattr(data, "data") else data.eval()
            shared = pytensor.shared(np.array(value), name=DATA_PREFIX + node.op.name)
            replacements[node.outputs[0]] = model_observed_rv(rv, shared, node.op.name,
                                                              *dims)
    if not any(isinstance(node.op, ModelObservedRV) for node in fgraph.apply_nodes):
        raise ValueError("with_shared_observations: the model has no observed variable")
    if replacements:
        toposort_replace(fgraph, tuple(replacements.items()))
    shared_model = model_from_fgraph(fgraph, mutate_fgraph=True)
    for name, value in initvals.items():
        shared_model.set_initval(shared_model[name], value)
    return shared_model


def model_fgraph(model) -> tuple[Any, dict[str, Any]]:
    """(``model`` as PyMC's FunctionGraph, its initial values by variable name).
    ``fgraph_from_model`` refuses a model with initial values: they are set aside while it
    runs and restored on ``model``; set them on the model built from the graph."""
    from pymc.model.fgraph import fgraph_from_model

    initvals = {rv.name: value for rv, value in model.rvs_to_initial_values.items()
                if value is not None}
    for rv in model.rvs_to_initial_values:
        model.rvs_to_initial_values[rv] = None
    try:
        fgraph, _ = fgraph_from_model(model)
    finally:
        for name, value in initvals.items():
            model.rvs_to_initial_values[model[name]] = value
    return fgraph, initvals


def observed_data_names(model) -> dict[str, str]:
    """Observed variable -> name of the shared variable holding its data (a model from
    ``with_shared_observations``)."""
    return {rv.name: model.rvs_to_values[rv].name for rv in model.observed_RVs}


def ranked_names(model, spec: SBCSpec) -> list[str]:
    """Free random variables of ``model`` but the spec's ``unranked``, and the spec's extra
    quantities."""
    return [v.name for v in model.free_RVs if v.name not in spec.unranked] + list(spec.extra)


def fit_order(spec: SBCSpec) -> list[str]:
    """The order in which a simulation's fit (``_fit``) ranks its quantities and draws
    their PITs: the compiled model's (``with_shared_observations``), whose free variables
    can come in another order than the built model's and the rank table's, then the
    spec's derived quantities."""
    model = with_shared_observations(spec.build())
    return ranked_names(model, spec) + [name for name, _ in spec.derived]


def _flatten(arr: xr.DataArray, sample_dims: tuple[str, ...]) -> tuple[np.ndarray,
                                                                        list[str]]:
    """(values (*sample_dims, m), labels of the m elements: coordinate values joined)."""
    rest = [d for d in arr.dims if d not in sample_dims]
    arr = arr.transpose(*sample_dims, *rest)
    values = np.asarray(arr.values, dtype=float)
    values = values.reshape(*values.shape[:len(sample_dims)], -1)
    if not rest:
        return values, [""]
    grids = np.meshgrid(*[arr[d].values for d in rest], indexing="ij")
    labels = [",".join(str(g.ravel()[i]) for g in grids) for i in range(grids[0].size)]
    return values, labels


def quantities(ds: xr.Dataset, names: list[str], spec: SBCSpec,
               sample_dims: tuple[str, ...]) -> dict[str, tuple[np.ndarray, list[str]]]:
    """name -> (values (*sample_dims, m), element labels) for ranked and derived names."""
    out = {name: _flatten(ds[name], sample_dims) for name in names}
    for name, fn in spec.derived:
        out[name] = _flatten(fn(ds), sample_dims)
    return out


# ---- simulation (client side) --------------------------------------------------------------
@dataclass
class Simulation:
    sim: int
    seed: int
    data: dict[str, np.ndarray]
    truth: dict[str, np.ndarray]  # name -> (m,)
    #: position among every prior draw (differs from ``sim`` when a plausibility rule
    #: skipped worlds: ``simulate_worlds``)
    world: int | None = None
    #: why the prior world could not be drawn (``simulate``), None for a world drawn: an
    #: undrawable world has no data and NaN true values, and no fit is run
    draw_error: str | None = None


#: ``prior_worlds`` raises ``SBCPriorDrawError`` when none of the first this many prior
#: worlds (every world of a shorter run) can be drawn: a model that cannot draw its prior,
#: not a world in its tails (the certified model: about 1 world in 3,000,
#: docs/validation/sbc.md, "certified version 3, seed 2")
DRAWABLE_WITHIN = 200
#: what a prior world that cannot be drawn raises: SciPy's "Domain error in arguments"
#: and NumPy's "n too large or p too small" are ValueErrors
UNDRAWABLE_ERRORS = (ValueError, OverflowError)


def prior_stream_seed(seed: int, start: int) -> int:
    """The seed of the prior worlds from world ``start`` (0-based among all the run's
    worlds) on: the run's own seed from the first world (``start`` 0); after a world
    ``start - 1`` that could not be drawn,
    ``np.random.SeedSequence([seed, start]).generate_state(1)[0]``."""
    if start == 0:
        return int(seed)
    return int(np.random.SeedSequence([int(seed), int(start)]).generate_state(1)[0])


class PriorSampler:
    """The model's prior predictive draws, one world a call, compiled once.

    ``pm.sample_prior_predictive`` compiles its sampler at every call: 5-6 s for the
    certified spec whether it draws 1 world or 200 (2026-12-05 17:05 UTC, this machine), so
    a call per part of the stream (one after each world that cannot be drawn) would cost
    that each time. This is its sampler, built as it builds it
    (``compile_forward_sampling_function`` on every random
    variable and Deterministic) and seeded as it seeds it (``reseed_rngs`` of the random
    generators in PyMC's order, recovered once from the states a known seed gives them):
    ``draw(n, s)`` gives the worlds of ``pm.sample_prior_predictive(n, random_seed=s)``
    (tests/test_sbc.py), and a world whose draw raises is seen as that world. Raises
    ``SBCPriorSamplerError`` when the generators cannot be ordered so."""

    def __init__(self, model):
        from pymc.sampling.forward import compile_forward_sampling_function
        from pymc.util import get_default_varnames

        from burden.errors import SBCPriorSamplerError

        self.model = model
        wanted = {v.name for v in model.basic_RVs + model.deterministics}
        self.names = sorted(get_default_varnames(wanted, include_transformed=False))
        probe = 0  # a known seed: the states it gives the generators tell their order
        self.fn, _ = compile_forward_sampling_function(
            [model[name] for name in self.names], vars_in_trace=[],
            basic_rvs=model.basic_RVs, random_seed=probe, model=model,
            allow_input_downcast=True, accept_inplace=True)
        rngs = [v for v in self.fn.get_shared()
                if isinstance(v.get_value(borrow=True), np.random.Generator)]
        expected = [np.random.PCG64(s).state
                    for s in np.random.SeedSequence(probe).spawn(len(rngs))]
        order = {}
        for rng in rngs:
            state = rng.get_value(borrow=True).bit_generator.state
            matches = [k for k, e in enumerate(expected) if e == state]
            if len(matches) != 1:
                raise SBCPriorSamplerError(
                    "PriorSampler: the random generators of the prior sampler are not "
                    "seeded as PyMC's reseed_rngs seeds them (another PyMC version?): "
                    "cannot draw the worlds of pm.sample_prior_predictive")
            order[matches[0]] = rng
        if sorted(order) != list(range(len(rngs))):
            raise SBCPriorSamplerError("PriorSampler: cannot order the prior sampler's "
                                       "random generators as PyMC seeds them")
        self.rngs = [order[k] for k in range(len(rngs))]

    def draw(self, n: int, seed: int) -> tuple[list[tuple], Exception | None]:
        """(the first worlds of ``pm.sample_prior_predictive(n, random_seed=seed)``, each
        a tuple of values in ``names``' order; the error of the world after them, None
        when all ``n`` were drawn): the draws stop at the first world that raises one of
        ``UNDRAWABLE_ERRORS``."""
        from pymc.pytensorf import reseed_rngs

        reseed_rngs(self.rngs, seed)
        worlds: list[tuple] = []
        for _ in range(n):
            try:
                worlds.append(tuple(self.fn()))
            except UNDRAWABLE_ERRORS as exc:
                return worlds, exc
        return worlds, None

    def to_datatree(self, worlds: list[tuple]):
        """The worlds as ``pm.sample_prior_predictive`` returns them (``prior`` and
        ``prior_predictive`` groups, one chain)."""
        import pymc as pm

        prior = {name: np.stack([w[k] for w in worlds]) for k, name in enumerate(self.names)}
        return pm.to_inference_data(prior=prior, model=self.model)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}".rstrip(": ")


def prior_worlds(spec: SBCSpec, model, simulations: int, seed: int,
                 sampler: PriorSampler | None = None
                 ) -> tuple[Any, list[int | None], dict[int, str]]:
    """(the drawn worlds as ``pm.sample_prior_predictive`` returns them, for each world
    its position in them or None when it could not be drawn, world -> why not).

    The worlds are one stream from the run's seed: when every world can be drawn they are
    those of ``pm.sample_prior_predictive(simulations, random_seed=seed)``, whatever the
    number. A world whose draw raises (a world far in the prior's tails whose counts are
    too large to draw) is an undrawable world; after an undrawable world k (0-based among
    all the run's worlds) the worlds from k + 1 on are drawn from
    ``prior_stream_seed(seed, k + 1)``, and so on after each further one. So a world
    depends on the seed and the worlds before it only: the first n worlds of a run of N
    are those of a run of n. Raises ``SBCPriorDrawError`` when none of the first
    ``min(simulations, DRAWABLE_WITHIN)`` worlds can be drawn (a model that cannot draw
    at all, not a world in the tails). ``sampler``: ``model``'s ``PriorSampler``, when
    already compiled."""
    from burden.errors import SBCPriorDrawError

    if sampler is not None and sampler.model is not model:
        raise ValueError("prior_worlds: the sampler was compiled for another model")
    sampler = sampler if sampler is not None else PriorSampler(model)
    drawn: list[tuple] = []
    where: list[int | None] = []
    errors: dict[int, str] = {}
    start = 0  # the next world to draw, and where its stream starts
    while start < simulations:
        got, exc = sampler.draw(simulations - start, prior_stream_seed(seed, start))
        where.extend(range(len(drawn), len(drawn) + len(got)))
        drawn.extend(got)
        start += len(got)
        if exc is None:
            continue
        errors[start] = f"prior world could not be drawn: {_first_line(exc)}"
        log.warning("SBC %s: prior world %d (seed %d) could not be drawn: %s",
                    spec.model, start, seed, _first_line(exc))
        where.append(None)
        start += 1
        if not drawn and start >= min(simulations, DRAWABLE_WITHIN):
            raise SBCPriorDrawError(
                f"SBC {spec.model}: none of the first {start} prior worlds of seed {seed} "
                f"could be drawn in the model's own generative graph (the first: "
                f"{errors[0].removeprefix('prior world could not be drawn: ')}): the model "
                "cannot draw its prior, not only a world far in its tails")
    return sampler.to_datatree(drawn), where, errors


@dataclass(frozen=True)
class PreparedPrior:
    """A spec's model, what is ranked and observed in it, and its compiled
    ``PriorSampler``: built once for any number of ``simulate`` calls."""

    model: Any
    names: list[str]
    observed: list[str]
    sampler: PriorSampler

    @classmethod
    def of(cls, spec: SBCSpec) -> PreparedPrior:
        model = spec.build()
        return cls(model, ranked_names(model, spec), [v.name for v in model.observed_RVs],
                   PriorSampler(model))


def simulate(spec: SBCSpec, simulations: int, seed: int, cache: dict | None = None
             ) -> tuple[list[Simulation], dict[str, list[str]]]:
    """Prior draws and prior-predictive data sets of the model's own generative graph
    (``prior_worlds``: one stream from the seed, the worlds of
    ``pm.sample_prior_predictive(simulations, random_seed=seed)`` when every world can be
    drawn), and each simulation's fit seed. A world that cannot be drawn is kept as a
    simulation with its ``draw_error``, no data and NaN true values: ``run_simulations``
    records it as failed, ``simulate_worlds`` rejects it. ``cache``: a dict kept between
    calls, where a call leaves its spec's ``PreparedPrior`` (the model and its compiled
    prior sampler, under the spec's key) for the next call with that spec."""
    prepared = cache.get(spec.key) if cache is not None else None
    if prepared is None:
        prepared = PreparedPrior.of(spec)
        if cache is not None:
            cache[spec.key] = prepared
    names, observed = prepared.names, prepared.observed
    draws, where, errors = prior_worlds(spec, prepared.model, simulations, seed,
                                        prepared.sampler)
    prior = draws["prior"].to_dataset()
    pred = draws["prior_predictive"].to_dataset()
    qty = quantities(prior, names, spec, ("chain", "draw"))
    labels = {name: lab for name, (_, lab) in qty.items()}
    fit_seeds = np.random.default_rng(seed).integers(0, RETRY_OFFSET, size=simulations)
    sims = []
    for i, j in enumerate(where):
        if j is None:
            truth = {name: np.full(len(lab), np.nan) for name, lab in labels.items()}
            sims.append(Simulation(i, int(fit_seeds[i]), {}, truth, world=i,
                                   draw_error=errors[i]))
            continue
        data = {name: np.asarray(pred[name].isel(chain=0, draw=j).values)
                for name in observed}
        truth = {name: values[0, j] for name, (values, _) in qty.items()}
        sims.append(Simulation(i, int(fit_seeds[i]), data, truth, world=i))
    return sims, labels


#: what ``--worlds`` accepts: every prior world, those a data-only rule accepts, or
#: posterior draws of the real fit (``posterior_sbc``)
WORLDS = ("all", "like-ours", "posterior")
#: the models with a plausibility rule (``sbc_worlds``)
WORLD_RULES: dict[str, Callable[[SBCSpec], sbc_worlds.WorldRule]] = {
    "deaths": sbc_worlds.deaths_rule, "certified": sbc_worlds.certified_rule}
#: at most this many prior worlds are drawn per accepted one before the run stops (the
#: deaths rule with its share band kept 7 of 400 prior worlds of seed 11, 2026-12-05)
MAX_WORLDS_PER_ACCEPTED = 200


def simulate_worlds(spec: SBCSpec, simulations: int, seed: int, worlds: str = "all"
                    ) -> tuple[list[Simulation], dict[str, list[str]], dict]:
    """(simulations, labels, record): ``simulate``'s prior worlds, all of them, or with
    ``worlds="like-ours"`` the first ``simulations`` that the model's data-only rule accepts
    (``sbc_worlds``; the ranks stay uniform over the accepted worlds). Each kept world keeps
    its own fit seed and position (``world``), so the same seed gives the same worlds for
    any number of simulations. ``record`` (the manifest's ``worlds``): the rule and its
    bands, the prior worlds ``examined`` up to the last one kept, how many of them were
    ``rejected``, and per summary how many it rejected (``rejected_by``; a world outside
    two bands counts for both; a world that could not be drawn counts as
    ``sbc_worlds.UNDRAWABLE``)."""
    from burden.errors import SBCWorldsError

    if worlds not in WORLDS:
        raise SBCWorldsError(f"worlds must be one of {', '.join(WORLDS)}, not {worlds!r}")
    if worlds == "posterior":
        raise SBCWorldsError("posterior worlds come from a saved fit: use run(..., "
                             "worlds='posterior', fit=PATH)")
    if worlds == "all":
        sims, labels = simulate(spec, simulations, seed)
        return sims, labels, {"worlds": "all"}
    if spec.model not in WORLD_RULES:
        raise SBCWorldsError(f"{spec.model}: no plausibility rule for --worlds {worlds} "
                             f"(models with one: {', '.join(WORLD_RULES)})")
    rule = WORLD_RULES[spec.model](spec)
    every, labels, kept = _accepted_worlds(spec, rule, simulations, seed)
    if len(kept) < simulations:
        raise SBCWorldsError(f"{spec.model}: the rule {rule.name!r} accepted {len(kept)} of "
                             f"{len(every)} prior worlds, fewer than the {simulations} "
                             "asked for")
    examined = kept[-1] + 1
    _, counts = sbc_worlds.rejections(rule, _world_data(every[:examined]))
    sims = [Simulation(j, every[i].seed, every[i].data, every[i].truth, world=i)
            for j, i in enumerate(kept)]
    record = {"worlds": worlds, **rule.describe(), "examined": examined,
              "rejected": examined - simulations, "rejected_by": counts}
    return sims, labels, record


def _world_data(sims: list[Simulation]) -> list[dict[str, np.ndarray] | None]:
    """Each world's data for a plausibility rule, None for a world that could not be
    drawn (``sbc_worlds.rejections`` rejects it: counts too large to draw are not like
    ours)."""
    return [None if sim.draw_error is not None else sim.data for sim in sims]


def _accepted_worlds(spec: SBCSpec, rule: sbc_worlds.WorldRule, simulations: int,
                     seed: int) -> tuple[list[Simulation], dict[str, list[str]], list[int]]:
    """(the prior worlds drawn, labels, positions of the first ``simulations`` accepted):
    draws more worlds, doubling, until enough are accepted or
    ``MAX_WORLDS_PER_ACCEPTED`` per simulation were drawn. The model is built and its
    prior sampler compiled once (5-6 s for the certified spec: ``PriorSampler``), not at
    every doubling (certified, 200 worlds like ours: 28.5 and 27.2 s before, 17.3 and
    17.2 s after; ``python analysis/sbc_like_ours_time.py``, 2026-12-05 19:52-19:54 UTC)."""
    cap = MAX_WORLDS_PER_ACCEPTED * simulations
    drawn = min(max(4 * simulations, 50), cap)
    cache: dict = {}
    while True:
        every, labels = simulate(spec, drawn, seed, cache)
        kept, _ = sbc_worlds.rejections(rule, _world_data(every))
        if len(kept) >= simulations or drawn >= cap:
            return every, labels, kept[:simulations]
        drawn = min(2 * drawn, cap)


# ---- one fit (worker side) -----------------------------------------------------------------
#: spec key -> (compiled nutpie model, ranked names, flat slices, observed -> data name);
#: one per model per process
_WORKER_CACHE: dict[str, tuple[Any, list[str], dict[str, slice], dict[str, str]]] = {}


def _compiled(spec: SBCSpec) -> tuple[Any, list[str], dict[str, slice], dict[str, str],
                                      float]:
    key = spec.key
    if key in _WORKER_CACHE:
        return (*_WORKER_CACHE[key], 0.0)
    import nutpie

    from burden.models.base import nutpie_compile_settings

    start = time.perf_counter()
    model = with_shared_observations(spec.build())
    options = spec.estimator().compile_options(model)
    with nutpie_compile_settings():  # as the package's fits compile
        compiled = nutpie.compile_pymc_model(model, backend="numba", **options)
    _WORKER_CACHE[key] = (compiled, ranked_names(model, spec), _flat_slices(model),
                          observed_data_names(model))
    return (*_WORKER_CACHE[key], time.perf_counter() - start)


def _flat_slices(model) -> dict[str, slice]:
    """Where each free variable sits in nutpie's flat vector (free RVs in model order, as
    ``nutpie.compile_pymc`` lays them out)."""
    point = model.initial_point()
    out, count = {}, 0
    for rv in model.free_RVs:
        size = int(np.asarray(point[model.rvs_to_values[rv].name]).size)
        out[rv.name] = slice(count, count + size)
        count += size
    return out


def _with_initial_point(compiled, slices: dict[str, slice], values: dict[str, np.ndarray]):
    """``compiled`` whose starting point has ``values`` (untransformed variables only)."""
    import dataclasses

    base = compiled.initial_point_func

    def start(seed):
        x = np.array(base(seed), dtype=float, copy=True)
        for name, value in values.items():
            x[slices[name]] = np.asarray(value, dtype=float).ravel()
        return x

    return dataclasses.replace(compiled, initial_point_func=start)


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return f"pid {os.getpid()}"


def sample_simulation(spec: SBCSpec, sim: Simulation, seed: int, *,
                      model_data_only: bool = False
                      ) -> tuple[Any, xr.Dataset, list[str], float, float]:
    """One fit of ``sim``'s data under ``spec``, chains one after another on one core:
    (nutpie's result, its posterior as a Dataset, the ranked names, compile seconds (0
    when the worker had it compiled), sampling seconds). Every data set of ``sim`` must
    be of an observed variable of the spec's model (a KeyError otherwise), unless
    ``model_data_only`` or the spec replicates some observed variables only: then the
    others are left out (a posterior world's simulated copies, fitting the real data
    alone or with the copies of those variables)."""
    import nutpie

    compiled, names, slices, data_names, compile_s = _compiled(spec)
    skip = model_data_only or not isinstance(spec.replicated, bool)
    compiled = compiled.with_data(**{data_names[k]: v for k, v in sim.data.items()
                                     if not skip or k in data_names})
    if spec.initial_points is not None:
        compiled = _with_initial_point(compiled, slices, spec.initial_points(spec, sim.data))
    cfg = spec.sampler
    start = time.perf_counter()
    idata = nutpie.sample(compiled, draws=int(cfg["draws"]), tune=max(int(cfg["tune"]), 1),
                          chains=int(cfg["chains"]), cores=1, seed=int(seed),
                          target_accept=float(cfg["target_accept"]), progress_bar=False,
                          **SamplerConfig.merge(
                              {k: v for k, v in cfg.items()
                               if k.startswith("mass_matrix") and v is not None}
                          ).nutpie_kwargs())
    sample_s = time.perf_counter() - start
    post = idata["posterior"]
    post = post.to_dataset() if hasattr(post, "to_dataset") else post
    return idata, post, names, compile_s, sample_s


def _fit(spec: SBCSpec, sim: Simulation, seed: int) -> dict:
    idata, post, names, compile_s, sample_s = sample_simulation(spec, sim, seed)
    qty = quantities(post, names, spec, ("chain", "draw"))
    flat = np.concatenate([values for values, _ in qty.values()], axis=-1)
    stats = fast_diagnostics.summarise(flat)
    diverging = idata["sample_stats"]["diverging"]
    divergences = int(np.asarray(diverging).sum())
    ess_min = float(np.nanmin(stats["ess_bulk"]))
    r_hat_max = float(np.nanmax(stats["r_hat"]))
    params = [f"{name}[{lab}]" if lab else name for name, (_, labels) in qty.items()
              for lab in labels]
    n_total = flat.shape[0] * flat.shape[1]
    thin = sbc_stats.thin_factor(n_total, ess_min)
    rng = np.random.default_rng([sim.seed, 1])
    ties = np.random.default_rng([sim.seed, 2])  # apart, so tie-free PITs are unchanged
    result = {}
    for name, (values, _) in qty.items():
        rank, n_draws = sbc_stats.ranks(values, sim.truth[name], thin, ties)
        result[name] = (rank, n_draws, sbc_stats.pit_from_ranks(rank, n_draws, rng))
    return {"ranks": result, "r_hat_max": r_hat_max, "ess_bulk_min": ess_min,
            "divergences": divergences, "thin": thin, "compile_s": compile_s,
            "worst_r_hat": params[int(np.nanargmax(stats["r_hat"]))],
            "worst_ess": params[int(np.nanargmin(stats["ess_bulk"]))],
            "sample_s": sample_s,
            "converged": bool(r_hat_max <= fast_diagnostics.RHAT_MAX
                              and ess_min >= fast_diagnostics.ESS_MIN and divergences == 0)}


def run_one(spec: SBCSpec, sim: Simulation) -> dict:
    """One simulation's fit, retried once with another seed when it raises; never raises
    itself (the error is returned)."""
    import warnings

    errors = []
    for attempt, seed in enumerate((sim.seed, sim.seed + RETRY_OFFSET), start=1):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = _fit(spec, sim, seed)
            return {**out, "sim": sim.sim, "status": "ok", "attempts": attempt,
                    "error": None, "worker": _worker_name(),
                    "settings": numpy_process_settings()}
        except Exception as exc:  # noqa: BLE001 - any failure of a fit is recorded
            errors.append(f"attempt {attempt} (seed {seed}): {type(exc).__name__}: {exc}")
    return {"sim": sim.sim, "status": "failed", "attempts": 2, "error": "; ".join(errors),
            "worker": _worker_name(), "settings": numpy_process_settings()}


# ---- the run -------------------------------------------------------------------------------
def _silence_distributed() -> None:
    """Run on each worker of the embedded cluster just before it is closed: Dask's own
    loggers to CRITICAL. A worker whose heartbeat is in flight when the scheduler stops
    logs "Failed to communicate with scheduler during heartbeat" with a traceback, an
    ERROR about nothing (the run's results are in; dask/distributed#7192)."""
    logging.getLogger("distributed").setLevel(logging.CRITICAL)


def _quiet_teardown(client) -> None:
    """``_silence_distributed`` on every worker of the embedded cluster (never on an
    existing cluster's: its logs are its owner's); a worker already gone is skipped."""
    try:
        client.run(_silence_distributed)
    except Exception as exc:  # noqa: BLE001 - teardown: nothing left to protect
        log.debug("could not quiet the workers' logs before closing: %s", exc)


def connect(scheduler: str, announce: bool = True):
    """A ``distributed.Client`` on the existing cluster at ``scheduler``; a bad address or
    no scheduler answering within Dask's connect timeout raises ``SBCSchedulerError``
    naming the address (not Dask's traceback). ``announce``: log how many workers it has
    (a warning when none yet: ``run_simulations`` then waits for a first one)."""
    import gc

    from distributed import Client

    from burden.errors import SBCSchedulerError

    start_hint = (f"start a scheduler (`dask scheduler`) and its workers (`dask worker "
                  f"{scheduler}`, with this package installed), or leave out --scheduler "
                  "to run on this machine's cores")
    failed = None
    try:
        # not the process's default client: a malformed address would otherwise leave Dask
        # set to a distributed scheduler that does not exist (xarray's writes then fail)
        client = Client(scheduler, set_as_default=False)
    except ValueError as exc:  # no port, unknown scheme
        failed = (f"--scheduler {scheduler!r} is not a Dask scheduler address "
                  f"(tcp://host:port): {exc}")
    except OSError as exc:  # nothing listening, or no answer within the timeout
        failed = f"--scheduler {scheduler}: no Dask scheduler answered ({exc}); {start_hint}"
    except Exception as exc:  # noqa: BLE001 - TLS without its settings, a refused client
        failed = f"--scheduler {scheduler}: could not connect ({type(exc).__name__}: {exc})"
    if failed is not None:
        # the half-made client is closed by its __del__ when the garbage collector finds
        # it; left to chance, that happened inside a later Client's start, which holds the
        # lock its close needs: a process that failed to connect twice hung (a CI run,
        # 2026-12-06 11:06, py-spy: Client.__init__ -> gc -> Client.__del__ -> close).
        # Collected here, outside the exception that refers to it, it closes now.
        gc.collect()
        raise SBCSchedulerError(failed)
    try:
        workers = len(client.scheduler_info().get("workers", {}))
    except Exception:
        client.close()
        raise
    if announce and workers == 0:
        log.warning("the Dask scheduler at %s has no worker yet: the run waits for one "
                    "(`dask worker %s`; Ctrl-C stops it)", scheduler, scheduler)
    elif announce:
        log.info("the Dask scheduler at %s has %d worker(s)", scheduler, workers)
    return client


def numpy_process_settings() -> dict[str, str | None]:
    """This process's numpy settings (``config.NUMPY_PROCESS_SETTINGS``: the OpenBLAS
    kernel and numpy's SIMD loops), as the environment gives them; each fit returns its
    worker's, which an existing cluster's run compares with the command line's."""
    from burden import config

    return {name: os.environ.get(name) for name in config.NUMPY_PROCESS_SETTINGS}


def settings_differences(here: dict[str, str | None],
                         workers: dict[str, dict[str, str | None]]) -> list[str]:
    """One sentence per worker of an existing cluster whose numpy settings differ from this
    process's: its fits can then differ from a local run's (other draws of the same
    posterior: docs/architecture.md, "Across machines"), so the run says so."""
    import shlex

    start = " ".join(f"{name}={shlex.quote(value)}" if value else f"-u {name}"
                     for name, value in here.items())
    out = []
    for address, theirs in sorted(workers.items()):
        differ = [f"{name} {theirs.get(name) or 'unset'} (here {value or 'unset'})"
                  for name, value in here.items() if theirs.get(name) != value]
        if differ:
            out.append(f"worker {address} computes with {', '.join(differ)}: its fits can "
                       "differ from this machine's with the same seed. Where the workers' "
                       "CPUs run these settings (docs/architecture.md, \"Across "
                       f"machines\"), start them as `env {start} dask worker ADDRESS`")
    return out


def scheduler_workers(scheduler: str) -> int:
    """How many workers the cluster at ``scheduler`` has now; raises
    ``SBCSchedulerError`` as ``connect`` does. Run checks the address with it before
    drawing the worlds, which can take minutes (the deaths fit's posterior worlds)."""
    client = connect(scheduler, announce=False)
    try:
        return len(client.scheduler_info().get("workers", {}))
    finally:
        client.close()


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def _load() -> str:
    try:
        one, five, fifteen = os.getloadavg()
        return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"
    except OSError:
        return "unknown"


def tables_from_results(spec: SBCSpec, sims: list[Simulation], labels: dict[str, list[str]],
                        results: dict[int, dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rank table: a row per simulation x parameter, simulation table: a row each)."""
    rank_rows, sim_rows = [], []
    for sim in sims:
        res = results[sim.sim]
        ok = res["status"] == "ok"
        for name, labs in labels.items():
            truth = np.asarray(sim.truth[name]).reshape(-1)
            rank, n_draws, pit = res["ranks"][name] if ok else (None, None, None)
            for j, lab in enumerate(labs):
                rank_rows.append({
                    "model": spec.model, "sim": sim.sim, "variable": name, "index": lab,
                    "parameter": f"{name}[{lab}]" if lab else name,
                    "true": float(truth[j]),
                    "rank": float(rank[j]) if ok else np.nan,
                    "n_draws": float(n_draws) if ok else np.nan,
                    "pit": float(pit[j]) if ok else np.nan, "status": res["status"]})
        sim_rows.append({
            "model": spec.model, "sim": sim.sim,
            "world": sim.sim if sim.world is None else sim.world, "seed": sim.seed,
            "status": res["status"],
            "attempts": res["attempts"], "error": res.get("error"),
            **{k: res.get(k, np.nan) for k in ("r_hat_max", "ess_bulk_min", "divergences",
                                               "thin", "compile_s", "sample_s")},
            "worst_r_hat": res.get("worst_r_hat"), "worst_ess": res.get("worst_ess"),
            "converged": bool(res.get("converged", False)), "worker": res.get("worker")})
    return pd.DataFrame(rank_rows), pd.DataFrame(sim_rows)


# ---- resuming an earlier run ---------------------------------------------------------------
def _jsonable(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value, default=str))


def _manifest_sampler(spec: SBCSpec) -> dict:
    # every fit has its own seed (sims.csv) and one core, and keeps every draw (the ranks
    # are thinned apart): the spec's own seed, cores and thin are unused
    return {k: v for k, v in spec.sampler.items()
            if k not in ("random_seed", "cores", "thin")}


def _world_rule(record: dict | None) -> dict:
    """The part of a manifest's ``worlds`` record that must match to resume: which worlds,
    the rule's bands (older manifests have none: every world) and, for posterior worlds,
    the saved fit's draws, data and settings (``posterior_sbc.fit_fingerprint``; not its
    file's bytes, which a refit with identical draws changes)."""
    record = record or {"worlds": "all"}
    return {"worlds": record.get("worlds"), "bands": record.get("bands"),
            "fit_fingerprint": record.get("fit_fingerprint")}


def check_same_run(manifest: dict, spec: SBCSpec, seed: int, worlds: dict | None,
                   n_sims: int, where: str, flag: str = "--resume") -> None:
    """Raise ``SBCResumeError`` unless the earlier run of ``manifest`` (in ``where``: a
    folder, or a pack with ``flag`` "--resume-from") is a run of ``spec``'s model, design,
    settings and worlds with ``seed``, of at most ``n_sims`` simulations."""
    from burden.errors import SBCResumeError

    wanted = {"model": spec.model, "model_version": _model_version(spec), "seed": seed,
              "reduction": spec.reduction, "model_config": spec.model_config,
              "sampler": _manifest_sampler(spec), "worlds": _world_rule(worlds)}
    earlier_values = {**manifest, "worlds": _world_rule(manifest.get("worlds"))}
    differ = [f"{key} (earlier {earlier_values.get(key)!r}, now {_jsonable(value)!r})"
              for key, value in wanted.items()
              if _jsonable(earlier_values.get(key)) != _jsonable(value)]
    if differ:
        raise SBCResumeError(f"{flag}: the run in {where} ({manifest['run_utc']}) differs "
                             f"in {'; '.join(differ)}: run without {flag}, with that run's "
                             "options")
    if int(manifest["simulations"]) > n_sims:
        raise SBCResumeError(f"{flag}: the run in {where} has {manifest['simulations']} "
                             f"simulations, more than the {n_sims} asked for")


def check_same_simulation(sim: Simulation, row: pd.Series, where: str,
                          flag: str = "--resume") -> None:
    """Raise ``SBCResumeError`` unless the earlier run's row ``row`` (of its sims table)
    has ``sim``'s fit seed and world, and a world that could not be drawn is one there
    too (failed without a fit) and only there."""
    from burden.errors import SBCResumeError

    if int(row["seed"]) != sim.seed:
        raise SBCResumeError(f"{flag}: simulation {sim.sim} had fit seed {row['seed']} "
                             f"in {where}, the new draws give {sim.seed}")
    world = sim.sim if sim.world is None else sim.world
    if "world" in row.index and not pd.isna(row["world"]) and int(row["world"]) != world:
        raise SBCResumeError(f"{flag}: simulation {sim.sim} was world {int(row['world'])} "
                             f"in {where}, the new draws give world {world}: not the same "
                             "simulations")
    undrawn = row["status"] == "failed" and int(row["attempts"]) == 0
    if undrawn != (sim.draw_error is not None):
        raise SBCResumeError(
            f"{flag}: simulation {sim.sim}'s world "
            + ("could not be drawn" if undrawn else "was drawn") + f" in {where}, and "
            + ("was drawn" if undrawn else "could not be drawn") + " now: not the same "
            "simulations")


def result_from_row(sim: Simulation, row: pd.Series, ranks: dict | None) -> dict:
    """A simulation's result (as ``run_one`` returns it) from the earlier run's row of its
    sims table and, when it succeeded, its ranks (variable -> (ranks, draws, PITs))."""
    res = {"sim": sim.sim, "status": row["status"], "attempts": int(row["attempts"]),
           "error": None if pd.isna(row["error"]) else row["error"],
           "worker": row["worker"],
           **{k: row[k] for k in ("r_hat_max", "ess_bulk_min", "divergences", "thin",
                                  "compile_s", "sample_s", "worst_r_hat", "worst_ess")},
           "converged": bool(row["converged"])}
    if row["status"] == "ok":
        res["ranks"] = ranks
    return res


def resume_from(folder: Path, spec: SBCSpec, sims: list[Simulation],
                labels: dict[str, list[str]], seed: int, worlds: dict | None = None
                ) -> tuple[dict[int, dict], dict]:
    """(sim -> result, earlier manifest): the fits of the run in ``folder`` that are fits of
    ``sims``. Raises ``SBCResumeError`` when that run is of another model, seed, design,
    sampler setting or plausibility rule (``worlds``, ``simulate_worlds``' record), has
    more simulations than ``sims``, or a simulation's seed or true values differ from the
    new draws'."""
    from burden.errors import SBCResumeError

    folder = Path(folder)
    try:
        ranks_table, sims_table, _, manifest = sbc_stats.read_sbc(folder, judge=False)
    except FileNotFoundError as exc:
        raise SBCResumeError(f"--resume: {exc}") from exc
    check_same_run(manifest, spec, seed, worlds, len(sims), str(folder))
    by_sim = {int(i): g for i, g in ranks_table.groupby("sim", sort=True)}
    rows = sims_table.set_index("sim")
    reused = {}
    for sim in sims[:int(manifest["simulations"])]:
        if sim.sim not in rows.index or sim.sim not in by_sim:
            raise SBCResumeError(f"--resume: simulation {sim.sim} is missing from {folder}")
        row, table = rows.loc[sim.sim], by_sim[sim.sim].set_index("parameter")
        check_same_simulation(sim, row, str(folder))
        ranks = {}
        for name, labs in labels.items():
            params = [f"{name}[{lab}]" if lab else name for lab in labs]
            missing = [p for p in params if p not in table.index]
            if missing:
                raise SBCResumeError(f"--resume: simulation {sim.sim} in {folder} has no "
                                     f"rank of {missing[:3]}")
            part = table.loc[params]
            truth = np.asarray(sim.truth[name], dtype=float).reshape(-1)
            if not np.allclose(part["true"].to_numpy(float), truth, rtol=1e-9, atol=0,
                               equal_nan=True):  # NaN: a world that could not be drawn
                raise SBCResumeError(f"--resume: simulation {sim.sim}'s true {name} in "
                                     f"{folder} differs from the new prior draw: not the "
                                     "same simulations (another prior or model version)")
            if row["status"] == "ok":
                ranks[name] = (part["rank"].to_numpy(float), float(part["n_draws"].iloc[0]),
                               part["pit"].to_numpy(float))
        reused[sim.sim] = result_from_row(sim, row, ranks)
    return reused, manifest


def _finished_run_in(folder: Path) -> bool:
    """Whether ``folder`` holds a finished run's tables (a manifest that is not a
    checkpoint's)."""
    import json

    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return False
    return "checkpoint" not in manifest


def _done_prefix(sims: list[Simulation], results: dict[int, dict]) -> int:
    """How many first simulations of ``sims`` have a result."""
    return next((k for k, sim in enumerate(sims) if sim.sim not in results), len(sims))


@contextlib.contextmanager
def _signals_held():
    """Ctrl-C and SIGTERM ignored inside (in the main thread; elsewhere a no-op), and
    their handlers put back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT,
                                                                 signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in held.items():
            if handler is not None:
                signal.signal(sig, handler)


def reproduces(earlier: dict, again: dict) -> str | None:
    """None when a re-made fit gives the earlier fit's status and ranks, else what differs."""
    if earlier["status"] != again["status"]:
        return f"status {earlier['status']} earlier, {again['status']} now"
    if earlier["status"] != "ok":
        return None
    for name, (rank, n_draws, _) in earlier["ranks"].items():
        new_rank, new_n, _ = again["ranks"][name]
        if float(new_n) != float(n_draws) or not np.array_equal(
                np.asarray(new_rank, float), np.asarray(rank, float)):
            return f"the ranks of {name} differ"
    return None


def run(model: str, simulations: int, *, seed: int = 1, scheduler: str | None = None,
        workers: int | None = None, out: Path | None = None, command: str = "",
        sampler: dict | None = None, spec: SBCSpec | None = None, resume: bool = False,
        model_config: dict | None = None, worlds: str = "all", fit: Path | None = None,
        resume_from_pack: Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Run SBC for ``model``: ``simulations`` prior draws and fits on Dask; write the tables
    to ``out`` (``sbc_stats.write_sbc``) when given. ``resume``: reuse the fits of the run
    already in ``out`` (``resume_from``). ``model_config`` is merged over the spec's (for
    example another parameterisation). ``worlds``: "all" prior worlds, or "like-ours", those
    the model's data-only plausibility rule accepts (``simulate_worlds``), or "posterior":
    posterior SBC, true values drawn from the saved real fit ``fit`` (default
    ``models/<model>.nc``; ``posterior_sbc``). ``resume_from_pack``: reuse the fits of the
    run packed in that file (``sbc_pack``; another machine's run) and write the run to
    ``out``, which must hold no run yet. Returns (ranks, sims, manifest)."""
    if simulations < 1:
        raise ValueError("simulations must be at least 1")
    if resume_from_pack is not None:
        from burden.errors import SBCResumeError

        if resume:
            raise SBCResumeError("--resume-from goes on from a pack into a new folder; "
                                 "--resume from the run in --out: give one of them")
        if out is None:
            raise ValueError("resume_from_pack needs an output folder")
        if sbc_stats.paths(out)["manifest"].exists():
            raise SBCResumeError(f"--resume-from: {out} holds a run already; give another "
                                 "--out (or --resume to extend that run)")
        from burden.validate import sbc_pack

        pack = sbc_pack.read_pack(resume_from_pack)  # a bad file fails before the worlds
    if scheduler:
        scheduler_workers(scheduler)  # a bad address fails before the worlds are drawn
    spec = spec or spec_for(model)
    est = None
    if worlds == "posterior":
        from burden import config
        from burden.errors import SBCWorldsError
        from burden.validate import posterior_sbc

        if model_config:
            raise SBCWorldsError("--model-config does not apply to posterior worlds: they "
                                 "are the saved fit's, with its settings")
        fit = Path(fit) if fit is not None else config.models_dir() / f"{model}.nc"
        est = posterior_sbc.load_fit(spec, fit)
        spec = posterior_sbc.posterior_spec(spec, est, fit)
    elif fit is not None:
        from burden.errors import SBCWorldsError

        raise SBCWorldsError("a saved fit (--fit) is for posterior worlds only")
    if sampler:
        spec = SBCSpec(**{**spec.__dict__, "sampler": {**spec.sampler, **sampler}})
    if model_config:
        spec = SBCSpec(**{**spec.__dict__,
                          "model_config": {**spec.model_config, **model_config}})
        spec.estimator()  # a bad key or value fails here, before any simulation
    start = time.perf_counter()
    if est is not None:
        sims, labels, world_record = posterior_sbc.posterior_worlds(spec, est, fit,
                                                                    simulations, seed)
        log.info("SBC %s: %d simulations drawn at posterior draws of %s (%.1f s)",
                 spec.model, simulations, fit, time.perf_counter() - start)
    else:
        sims, labels, world_record = simulate_worlds(spec, simulations, seed, worlds)
        log.info("SBC %s: %d simulations drawn from the prior (%.1f s), %d of them worlds "
                 "that could not be drawn", spec.model, simulations,
                 time.perf_counter() - start,
                 sum(sim.draw_error is not None for sim in sims))
    if worlds not in ("all", "posterior"):
        log.info("SBC %s: %s: %d worlds accepted of the first %d drawn; rejected for %s",
                 spec.model, world_record["rule"], simulations, world_record["examined"],
                 ", ".join(f"{k} ({n})" for k, n in world_record["rejected_by"].items())
                 or "nothing")
    reused, earlier = None, None
    if resume:
        if out is None:
            raise ValueError("resume needs the output folder of the earlier run")
        reused, earlier = resume_from(out, spec, sims, labels, seed, world_record)
        log.info("SBC %s: reusing %d fits of the run of %s in %s", spec.model, len(reused),
                 earlier["run_utc"], out)
    elif resume_from_pack is not None:
        reused, earlier = sbc_pack.reused_from_pack(pack, resume_from_pack, spec, sims,
                                                    labels, seed, world_record)
        log.info("SBC %s: reusing %d fits of the run of %s packed in %s", spec.model,
                 len(reused), earlier["run_utc"], resume_from_pack)
    return run_simulations(spec, sims, labels, seed=seed, scheduler=scheduler,
                           workers=workers, out=out, command=command, start=start,
                           reused=reused, earlier=earlier, worlds=world_record,
                           already_written=0 if resume_from_pack is not None else None)


def run_simulations(spec: SBCSpec, sims: list[Simulation], labels: dict[str, list[str]], *,
                    seed: int, scheduler: str | None = None, workers: int | None = None,
                    out: Path | None = None, command: str = "", start: float | None = None,
                    reused: dict[int, dict] | None = None, earlier: dict | None = None,
                    checks: int = RESUME_CHECKS, worlds: dict | None = None,
                    already_written: int | None = None
                    ) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Fit ``sims`` (from ``simulate``) on Dask and build the tables and manifest.
    ``worlds``: ``simulate_worlds``'s record of which prior worlds were kept (default all).
    A simulation whose prior world could not be drawn (``Simulation.draw_error``) is
    recorded as failed (0 attempts, its error) without a fit.

    ``reused``: results of an earlier run (``resume_from``) kept instead of fitting again;
    the first ``checks`` of them that were fitted are fitted again first, and a differing
    result raises ``SBCResumeError`` before the other fits finish. ``already_written``:
    how many first simulations ``out`` already holds (default: the reused ones, as with
    --resume; 0 for fits reused from a pack, so that the first checkpoint writes them)."""
    from distributed import Client, LocalCluster, as_completed

    from burden.errors import SBCInterrupted, SBCResumeError

    reused = dict(reused or {})
    checked = [i for i, res in sorted(reused.items()) if res["status"] == "ok"][:checks]
    # a prior world that could not be drawn: a failed simulation without a fit
    undrawable = {sim.sim: {"sim": sim.sim, "status": "failed", "attempts": 0,
                            "error": sim.draw_error, "worker": None}
                  for sim in sims if sim.draw_error is not None and sim.sim not in reused}
    to_fit = [sim for sim in sims if (sim.sim not in reused or sim.sim in checked)
              and sim.sim not in undrawable]
    # the checks first: a changed model stops the run before it spends the rest
    to_fit.sort(key=lambda sim: (sim.sim not in checked, sim.sim))

    start = time.perf_counter() if start is None else start
    started = dt.datetime.now(dt.UTC)
    load_before = _load()
    simulations = len(sims)
    # the embedded scheduler logs every connection at INFO: keep the log to our lines
    logging.getLogger("distributed").setLevel(logging.WARNING)
    cluster = None
    if scheduler:
        client = connect(scheduler)
        n_workers = len(client.scheduler_info().get("workers", {}))
    else:
        n_workers = workers or default_workers()
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.WARNING)
        client = Client(cluster, set_as_default=False)
    results: dict[int, dict] = {i: res for i, res in reused.items() if i not in checked}
    results.update(undrawable)
    for i, res in undrawable.items():
        log.warning("SBC %s sim %d FAILED: %s", spec.model, i, res["error"])
    def tables_and_manifest(part: list[Simulation], fits_wall: float
                            ) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
        """The tables and manifest of the simulations ``part`` (all of them, or a
        checkpoint's first simulations), from the fits done so far."""
        ranks_table, sims_table = tables_from_results(spec, part, labels, results)
        manifest = {
            "model": spec.model, "run_utc": started.isoformat(timespec="seconds"),
            "command": command, "model_version": _model_version(spec),
            "package_version": burden.__version__, "simulations": len(part), "seed": seed,
            "reduction": spec.reduction, "model_config": spec.model_config,
            "sampler": _manifest_sampler(spec), "workers": n_workers,
            "scheduler": scheduler or "LocalCluster (embedded)",
            "wall_s": round(time.perf_counter() - start, 1),
            "fits_wall_s": round(fits_wall, 1),
            "load": {"before": load_before, "after": _load()},
            "failed": int((sims_table["status"] == "failed").sum()),
            "converged": int(sims_table["converged"].sum()),
            "worlds": worlds or {"worlds": "all"},
            "band": {"prob": sbc_stats.BAND_PROB, "method": "simultaneous (Saeilynoja et "
                     "al. 2022), arviz_stats simulation method"},
        }
        if len(part) < simulations:
            manifest["checkpoint"] = {"of": simulations}
        if reused:
            manifest["resumed"] = {
                "from_run_utc": earlier["run_utc"] if earlier else None,
                "from_command": earlier.get("command") if earlier else None,
                "from_wall_s": earlier.get("wall_s") if earlier else None,
                "reused": len(reused), "fitted_again_and_reproduced": checked,
                "fitted_now": len(to_fit) - len(checked)}
        return ranks_table, sims_table, manifest

    # checkpoints never replace a finished run's tables: only an empty folder, a
    # checkpoint, or the run being extended (``reused``) is written over before the end
    checkpoints = out is not None and (bool(reused) or not _finished_run_in(Path(out)))
    last_checkpoint = len(reused) if already_written is None else already_written
    fits_start = time.perf_counter()
    here, checked_workers = numpy_process_settings(), set()
    try:
        if not n_workers:  # scatter gives up after Dask's connect timeout without workers
            client.wait_for_workers(1)
            n_workers = len(client.scheduler_info().get("workers", {}))
            log.info("a worker joined the Dask scheduler at %s: the fits start", scheduler)
        spec_future = client.scatter(spec, broadcast=True)
        futures = {client.submit(run_one, spec_future, sim, pure=False,
                                 key=f"sbc-{spec.model}-{sim.sim}-{seed}"): sim.sim
                   for sim in to_fit}
        # the client's own loop: it is not the process's default client
        completed = as_completed(futures, loop=client.loop)
        for done, future in enumerate(completed, start=len(results) + 1):
            i = futures[future]
            try:
                res = future.result()
            except Exception as exc:  # noqa: BLE001 - a dead worker: recorded, not dropped
                res = {"sim": i, "status": "failed", "attempts": 2, "worker": None,
                       "error": f"task lost: {type(exc).__name__}: {exc}"}
            if i in checked:
                differs = reproduces(reused[i], res)
                if differs is not None:
                    for other in futures:
                        other.cancel()
                    raise SBCResumeError(
                        f"--resume: simulation {i} fitted again does not reproduce the "
                        f"earlier run's fit ({differs}): the model or sampler changed since "
                        f"{earlier['run_utc'] if earlier else 'that run'}; run without "
                        "--resume")
                log.info("SBC %s sim %d fitted again: same ranks as the earlier run",
                         spec.model, i)
            settings = res.pop("settings", None)
            if scheduler and settings is not None and res["worker"] not in checked_workers:
                # an existing cluster's workers were started by someone else: each one's
                # numpy settings are checked with its first result (workers may join late)
                checked_workers.add(res["worker"])
                for sentence in settings_differences(here, {res["worker"]: settings}):
                    log.warning("%s", sentence)
            results[i] = res
            if res["status"] == "ok":
                log.info("SBC %s sim %d done (%d/%d): converged %s, R-hat %.3f (%s), ESS "
                         "%.0f (%s), %d divergences, compile %.1f s, sampling %.1f s, %s",
                         spec.model, i, done, simulations, res["converged"],
                         res["r_hat_max"], res["worst_r_hat"], res["ess_bulk_min"],
                         res["worst_ess"], res["divergences"], res["compile_s"],
                         res["sample_s"], res["worker"])
            else:
                log.warning("SBC %s sim %d FAILED (%d/%d): %s", spec.model, i, done,
                            simulations, res["error"])
            prefix = _done_prefix(sims, results)
            if checkpoints and prefix < simulations and (
                    prefix >= last_checkpoint + CHECKPOINT_EVERY):
                sbc_stats.write_sbc(out, *tables_and_manifest(
                    sims[:prefix], time.perf_counter() - fits_start))
                last_checkpoint = prefix
                log.info("SBC %s: checkpoint of the first %d simulations written to %s "
                         "(a stopped run goes on from there with --resume)", spec.model,
                         prefix, out)
    except KeyboardInterrupt:
        # stopped (Ctrl-C, or SIGTERM through the command line): keep every first
        # simulation already done, so that --resume loses none of them
        prefix = _done_prefix(sims, results)
        if prefix < simulations:  # else every fit was done: the run ends as usual
            written = last_checkpoint if checkpoints and last_checkpoint > 0 else None
            if checkpoints and last_checkpoint < prefix:
                # said before the tables are built: a large run's take minutes under load
                # (the deaths posterior SBC's 71 simulations, 2026-12-07). Ctrl-C and
                # SIGTERM are not held meanwhile: held, a SIGTERM was ignored for all that
                # time without a word, and a second one could not stop the run. Stopped
                # here, the last checkpoint stays: ``write_sbc`` replaces each file whole,
                # the manifest last, and --resume reads its simulations only
                log.warning("SBC %s stopping: writing the tables of its first %d "
                            "simulations (a second Ctrl-C or SIGTERM stops without them)",
                            spec.model, prefix)
                try:
                    sbc_stats.write_sbc(out, *tables_and_manifest(
                        sims[:prefix], time.perf_counter() - fits_start))
                    written = prefix
                except KeyboardInterrupt:
                    log.warning("SBC %s: stopped again while writing the tables of its "
                                "first %d simulations: not written", spec.model, prefix)
            fitted = sum(1 for i, res in results.items()
                         if i not in reused and res.get("attempts", 0) > 0)
            if written:
                where = (f"the tables of its first {written} simulations are in {out}: "
                         "`--resume` goes on from there")
            elif checkpoints and prefix:
                where = "stopped again while writing: nothing written"
            elif checkpoints:
                where = "no first simulation was done yet: nothing written"
            else:
                where = ("no tables written (no output folder, or a finished run's folder, "
                         "which a run without --resume does not overwrite)")
            log.warning("SBC %s stopped after %d new fits of %d simulations; %s",
                        spec.model, fitted, simulations, where)
            raise SBCInterrupted(f"stopped after {fitted} new fits of {simulations} "
                                 f"simulations; {where}", fitted=fitted,
                                 checkpoint=written, out=out) from None
    finally:
        with _signals_held():  # a second Ctrl-C does not leave the cluster half closed
            if cluster is not None:
                _quiet_teardown(client)
            client.close()
            if cluster is not None:
                cluster.close()
    ranks_table, sims_table, manifest = tables_and_manifest(
        sims, time.perf_counter() - fits_start)
    if out is not None:
        # every fit is done: a stop waits for their tables (stopped, the fits since the
        # last checkpoint would be lost); said first, as the tables can take minutes and
        # SIGTERM reads as ignored meanwhile
        log.info("SBC %s: every fit done: writing the tables of %d simulations (Ctrl-C "
                 "and SIGTERM wait for them)", spec.model, simulations)
        with _signals_held():
            sbc_stats.write_sbc(out, ranks_table, sims_table, manifest)
    return ranks_table, sims_table, manifest
