"""Posterior SBC: calibration of a fit in the neighbourhood of the real data.

Prior SBC (``sbc.simulate``) draws the true values from the prior. Where the prior's worlds
are far from the real one, their fits can fail for reasons the real fit never meets (the
deaths model: no fit of its prior worlds converged; docs/validation/sbc.md). Posterior SBC
(Säilynoja, Schmitt, Bürkner and Vehtari 2025, "Posterior SBC: simulation-based
calibration checking conditional on data", arXiv:2502.03279) draws them from the real
fit's posterior instead:

1. a true value theta is a draw of the saved real fit, p(theta | y);
2. new data y' are drawn from the likelihood at theta (every observed variable, as the
   posterior predictive draws of the report are: ``posterior_predictive``);
3. the model is fitted to the real data and the new data together, p(theta | y, y'): the
   same model with a second, independent copy of every observed variable
   (``with_replicated_observations``).

The real posterior plays the prior's part (p(theta | y) is the prior of a second
experiment y'), so the ranks of the true values among the fit's draws are uniform when
the fit is calibrated. The check then covers the parameter values the real data support,
and the fits have the real fit's geometry (with twice the data), not the prior's. It is
another check than prior SBC, not a replacement: it says nothing of the prior's far
worlds, and it needs a fit on the real data first.

The design is the real fit's own (its saved ``fit_data``), and each simulation's fit
uses the real fit's sampler settings. The simulations reuse ``sbc``'s machinery: one
compilation per worker, fits on Dask, the same rank tables, resuming.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from burden.validate import sbc, sbc_specs

#: the replicate of observed variable X is named X + this
REPLICATE_SUFFIX = "__replicate"
#: ``--worlds`` value of a posterior SBC run
POSTERIOR = "posterior"


def replicate_name(name: str) -> str:
    return name + REPLICATE_SUFFIX


def with_replicated_observations(model, only=None):
    """A copy of ``model`` with, for every observed variable X, a second observed variable
    ``X__replicate``: the same distribution with the same parameters (X's random nodes
    cloned with their own random generators, ``_independent_copy``), independent of X
    given the parameters, observed
    at a shared variable ``sbc_data_X__replicate`` (X's values until swapped). The log
    density gains the replicates' terms; nothing else changes (free variables, their
    transforms, Deterministics, X itself and any data X's values feed). ``only``: the
    names of the observed variables replicated (default: all); posterior SBC stays exact
    with any of them, the copy being data drawn at the true values all the same."""
    import pytensor
    from pymc.model.fgraph import ModelObservedRV, model_from_fgraph, model_observed_rv

    fgraph, initvals = sbc.model_fgraph(model)
    observed = [n for n in fgraph.toposort() if isinstance(n.op, ModelObservedRV)]
    if not observed:
        raise ValueError("with_replicated_observations: the model has no observed variable")
    if only is not None:
        known = [n.op.name for n in observed]
        unknown = sorted(set(only) - set(known))
        if unknown or not only:
            raise ValueError(f"with_replicated_observations: {unknown or 'no name'} given to "
                             f"replicate; the model's observed variables are {sorted(known)}")
        observed = [n for n in observed if n.op.name in set(only)]
    taken = {v.name for v in fgraph.variables if v.name}
    # one memo, in the graph's order: an observed variable whose distribution reads
    # another observed variable (the certified model's drug counts are split from the
    # any-opioid count) reads, in its replicate, the other's replicate
    memo: dict = {}
    for node in observed:
        rv, data = node.inputs[:2]
        name = replicate_name(node.op.name)
        if name in taken:
            raise ValueError(f"with_replicated_observations: the model already has a "
                             f"variable named {name!r}")
        twin = _independent_copy(rv, fgraph, memo)
        value = data.data if hasattr(data, "data") else data.eval()
        shared = pytensor.shared(np.array(value), name=sbc.DATA_PREFIX + name)
        fgraph.add_input(shared)
        replicate = model_observed_rv(twin, shared, name, *node.op.dims)
        fgraph.add_output(replicate)
        memo[node.outputs[0]] = replicate
    replicated = model_from_fgraph(fgraph, mutate_fgraph=True)
    for name, value in initvals.items():
        replicated.set_initval(replicated[name], value)
    return replicated


def _independent_copy(var, fgraph, memo: dict):
    """``var`` with every random node it is drawn from (its own, and those of the
    distributions it wraps, as ``pm.Censored`` wraps one) cloned with a new random
    generator: the same distribution, an independent draw. Model variables (free random
    variables, Deterministics, data) and everything not drawn are shared, not cloned; an
    observed variable already in ``memo`` is read as its replicate there."""
    import pytensor
    from pymc.model.fgraph import ModelVar
    from pytensor.tensor.random.type import RandomGeneratorType

    if var in memo:
        return memo[var]
    node = var.owner
    if node is None or isinstance(node.op, ModelVar):
        memo[var] = var
        return var
    inputs, changed = [], False
    for i in node.inputs:
        if isinstance(i.type, RandomGeneratorType):
            i = pytensor.shared(np.random.default_rng())
            fgraph.add_input(i)
            changed = True
        else:
            new = _independent_copy(i, fgraph, memo)
            changed |= new is not i
            i = new
        inputs.append(i)
    out = (node.clone_with_new_inputs(inputs).outputs[node.outputs.index(var)] if changed
           else var)
    memo[var] = out
    return out


def file_sha256(path: Path) -> str:
    """sha256 of the saved fit's file (first 16 hex digits), for the record: which file
    the run read."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(2**20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def fit_fingerprint(est: Any) -> str:
    """sha256 (first 16 hex digits) of what a posterior SBC run's worlds are drawn from:
    the saved fit's draws of its free variables, the data it was fitted to and its model
    configuration. Not the file's bytes: a saved fit also holds the date, the machine and
    the fit's timings, so the same fit made again (the same code, data and seed give
    identical draws in a fresh clone: tests/test_reproducibility.py) is another file with
    the same fingerprint, and a run started on the one goes on with ``--resume`` on the
    other. Draws that differ in any bit give another fingerprint."""
    import json

    import pandas as pd

    h = hashlib.sha256()
    post = est.posterior
    for name in sorted(rv.name for rv in est.built_model().free_RVs):
        values = np.ascontiguousarray(post[name].values)
        h.update(f"{name}|{values.dtype}|{values.shape}|".encode())
        h.update(values.tobytes())
    for name in sorted(est.data):
        table = est.data[name]
        h.update(f"{name}|{list(table.columns)}|".encode())
        h.update(pd.util.hash_pandas_object(table, index=True).to_numpy().tobytes())
    h.update(json.dumps(est.model_config.to_dict(), sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def load_fit(base: sbc_specs.SBCSpec, path: Path):
    """The saved real fit at ``path`` of the spec's model (its estimator class)."""
    import importlib

    from burden.errors import SBCWorldsError

    cls = getattr(importlib.import_module(base.module), base.cls)
    path = Path(path)
    if not path.exists():
        raise SBCWorldsError(f"posterior worlds need the real fit of {base.model}: no "
                             f"file {path} (run `burden fit {base.model}` or pass --fit)")
    try:
        est = cls.load(path)
    except (ValueError, OSError) as exc:
        raise SBCWorldsError(f"posterior worlds: {path} is not a saved {cls.__name__} fit "
                             f"this package can read ({exc})") from exc
    if "fit_data" not in est.idata:
        raise SBCWorldsError(f"posterior worlds: {path} has no fit_data group (the data the "
                             f"fit was made on, which the simulations keep): refit "
                             f"{base.model} with `burden fit {base.model}`")
    return est


def posterior_spec(base: sbc_specs.SBCSpec, est: Any, path: Path) -> sbc_specs.SBCSpec:
    """``base`` (the model's SBC spec: what it ranks) on the real fit's own design and
    sampler settings (``run``'s ``sampler`` may still override them), with every
    observed variable replicated."""
    sampler = est.fit_sampler_config.to_dict()
    reduction = (
        f"posterior SBC of a saved real fit (fingerprint {fit_fingerprint(est)}, seed "
        f"{sampler.get('random_seed')}): its design and data, and every observed variable "
        "replicated, drawn at a posterior draw of that fit; none reduced")
    return replace(base, tables=dict(est.data), model_config=est.model_config.to_dict(),
                   sampler=sampler, reduction=reduction, replicated=True)


def picked_draws(n_total: int, simulations: int, seed: int) -> np.ndarray:
    """Positions, among the real fit's ``n_total`` draws stacked chain by chain, of the
    true values of simulations 0, 1, ...: the first ``simulations`` of a permutation
    seeded by ``seed``, so the first n are the same for any number of simulations."""
    return np.random.default_rng([seed, 1]).permutation(n_total)[:simulations]


def posterior_worlds(spec: sbc_specs.SBCSpec, est: Any, path: Path, simulations: int, seed: int
                     ) -> tuple[list[sbc.Simulation], dict[str, list[str]], dict]:
    """(simulations, labels, record): true values at ``simulations`` posterior draws of
    the real fit ``est``, picked by a seeded permutation of all its draws (so the first n
    are the same for any number), new data drawn at each from the likelihood (seeded by
    the run's seed and the simulation, so a simulation's data do not depend on how many
    there are), the real data kept beside them, and each fit's seed."""
    import xarray as xr

    from burden.errors import SBCWorldsError
    from burden.models.posterior_predictive import predictive_sampler

    model = est.build_model(est.data)
    post = est.posterior
    n_chains, n_draws = post.sizes["chain"], post.sizes["draw"]
    if simulations > n_chains * n_draws:
        raise SBCWorldsError(f"the real fit has {n_chains * n_draws} draws, fewer than the "
                             f"{simulations} simulations asked for")
    names = sbc.ranked_names(model, spec)
    flat = post.stack(sample=("chain", "draw"))
    picks = picked_draws(n_chains * n_draws, simulations, seed)
    qty = sbc.quantities(flat.isel(sample=picks).expand_dims("one"), names, spec,
                         ("one", "sample"))
    labels = {name: lab for name, (_, lab) in qty.items()}
    free = [rv.name for rv in model.free_RVs]
    real = {rv.name: np.asarray(model.rvs_to_values[rv].data
                                if hasattr(model.rvs_to_values[rv], "data")
                                else model.rvs_to_values[rv].eval())
            for rv in model.observed_RVs}
    fit_seeds = np.random.default_rng(seed).integers(0, sbc.RETRY_OFFSET, size=simulations)
    predictive = predictive_sampler(model)  # the graph built once for every world
    sims = []
    for i, j in enumerate(picks):
        one = xr.Dataset({name: flat[name].isel(sample=[j]).drop_vars(
            ["sample", "chain", "draw"]).rename(sample="draw").expand_dims("chain")
            for name in free})
        pred = predictive(one, [seed, 2, i])
        data = dict(real)
        data.update({replicate_name(name): np.asarray(pred[name].values[0, 0])
                     for name in real})
        truth = {name: values[0, i] for name, (values, _) in qty.items()}
        sims.append(sbc.Simulation(i, int(fit_seeds[i]), data, truth, world=int(j)))
    record = {"worlds": POSTERIOR, "fit": str(path), "fit_sha256": file_sha256(path),
              "fit_fingerprint": fit_fingerprint(est),
              "posterior_draws": int(n_chains * n_draws)}
    return sims, labels, record


def truth_quantiles(spec: sbc_specs.SBCSpec, est: Any, simulations: int, seed: int
                    ) -> pd.DataFrame:
    """Where each simulation's true value sits among all the real fit's draws: one row
    per simulation and ranked parameter (``sim``, ``variable``, ``index`` as in the rank
    table) with the true value ``true`` and ``truth_quantile``, the share of the fit's
    draws below it (ties counted half).

    The permutation picks draws uniformly, so over many simulations these quantiles are
    uniform. Over a few dozen or a hundred they can sit high or low in one variable by
    chance. Each fit sees the real data as well as the new data, so a simulation's PIT
    follows its truth's quantile in part: fully for a parameter the new data barely
    inform (the refit's posterior is then the real one), hardly at all for one they
    determine. A variable's PITs can then lean with the truths picked, as a calibrated
    fit's do (``truth_lean``). Raises ``SBCWorldsError`` when the fit has fewer draws
    than ``simulations``."""
    from burden.errors import SBCWorldsError

    model = est.build_model(est.data)
    post = est.posterior
    n_total = post.sizes["chain"] * post.sizes["draw"]
    if simulations > n_total:
        raise SBCWorldsError(f"the real fit has {n_total} draws, fewer than the "
                             f"{simulations} simulations asked for")
    picks = picked_draws(n_total, simulations, seed)
    names = sbc.ranked_names(model, spec)
    flat = post.stack(sample=("chain", "draw"))
    rows = []
    for name, (values, labels) in sbc.quantities(flat.expand_dims("one"), names, spec,
                                                 ("one", "sample")).items():
        draws = values[0]  # (n_total, parameters)
        ordered = np.sort(draws, axis=0)
        truth = draws[picks]  # (simulations, parameters)
        below = np.empty_like(truth)
        for k in range(draws.shape[1]):
            lo = np.searchsorted(ordered[:, k], truth[:, k], side="left")
            hi = np.searchsorted(ordered[:, k], truth[:, k], side="right")
            below[:, k] = (lo + hi) / 2 / n_total
        sims_, params = np.meshgrid(np.arange(len(picks)), np.arange(len(labels)),
                                    indexing="ij")
        rows.append(pd.DataFrame({"sim": sims_.ravel(), "variable": name,
                                  "index": np.asarray(labels, dtype=object)[params.ravel()],
                                  "true": truth.ravel(), "truth_quantile": below.ravel()}))
    return pd.concat(rows, ignore_index=True)


def truth_lean(ranks: pd.DataFrame, quantiles: pd.DataFrame) -> pd.DataFrame:
    """Per variable: how much of its PITs' lean the truths picked account for.

    Per simulation the mean PIT and the mean truth quantile over the variable's
    parameters (``ranks``: an SBC rank table; ``quantiles``: ``truth_quantiles``), then a
    least-squares line of mean PIT on mean truth quantile over the simulations.
    ``mean_quantile`` is the truths' own mean (0.5 for a uniform pick); ``mean_pit`` the
    PITs', with ``pit_z`` = (mean_pit - 0.5) over its standard error (the lean test of
    ``sbc_stats.variable_lean``); ``slope`` how far PITs follow the truths;
    ``pit_at_half`` the line at a truth quantile of 0.5, the mean PIT the run would have
    had with truths spread evenly, with its standard error ``se`` and z = (pit_at_half -
    0.5) / se. Descriptive: it explains a lean found, it is not a test chosen before."""
    ok = ranks[(ranks["status"] == "ok") & np.isfinite(ranks["pit"].astype(float))]
    joined = ok.merge(quantiles.drop(columns="true", errors="ignore"),
                      on=["sim", "variable", "index"], how="inner", validate="one_to_one")
    per_sim = joined.groupby(["variable", "sim"], sort=False)[
        ["pit", "truth_quantile"]].mean()
    rows = []
    for variable, table in per_sim.groupby(level="variable", sort=False):
        y = table["pit"].to_numpy(float)
        x = table["truth_quantile"].to_numpy(float) - 0.5
        pit_se = float(y.std(ddof=1) / np.sqrt(y.size)) if y.size > 1 else np.nan
        row = {"variable": variable, "simulations": int(y.size),
               "mean_quantile": float(x.mean() + 0.5), "mean_pit": float(y.mean()),
               "pit_z": (float(y.mean()) - 0.5) / pit_se if pit_se > 0 else np.nan,
               "slope": np.nan, "pit_at_half": np.nan, "se": np.nan, "z": np.nan}
        if y.size > 2 and x.std() > 0:
            design = np.column_stack([np.ones_like(x), x])
            coef, *_ = np.linalg.lstsq(design, y, rcond=None)
            resid = y - design @ coef
            cov = resid @ resid / (y.size - 2) * np.linalg.inv(design.T @ design)
            se = float(np.sqrt(cov[0, 0]))
            row.update(slope=float(coef[1]), pit_at_half=float(coef[0]), se=se,
                       z=float((coef[0] - 0.5) / se) if se > 0 else np.nan)
        rows.append(row)
    return pd.DataFrame(rows, columns=["variable", "simulations", "mean_quantile",
                                       "mean_pit", "pit_z", "slope", "pit_at_half", "se",
                                       "z"])
