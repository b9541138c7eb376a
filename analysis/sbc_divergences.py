"""Where an SBC world diverges or mixes slowly (docs/models/deaths.md, "Prior worlds";
docs/validation/sbc.md).

    python analysis/sbc_divergences.py MODEL SIM DRAWS [MODEL_CONFIG_JSON] [--sims N] [--seed S]
        [--terms] [--slow] [--sampler-config JSON]

draws the prior worlds of ``burden validate sbc --model MODEL --sims N --seed S`` (the
model's reduced design; defaults 8 and 11), refits world SIM with DRAWS draws a chain (the
SBC fit's chains on 2 cores, its own seed and starting point) and prints: the
divergences; the 25 unconstrained coordinates whose mean z-score (against all draws) is
largest at the divergent transitions; and the median of each scale (a free variable named
``sigma*``, ``tau*``, ``*_sd`` or ``dispersion``) at divergent transitions against all
draws, beside its true value. MODEL_CONFIG_JSON is merged over the model's defaults, as
``--model-config``; ``--sampler-config`` is merged over the SBC fit's sampler settings
(its tune, chains, target_accept and mass-matrix keys are used; DRAWS sets the draws, and
the seed is the SBC fit's). Needs ``data/processed`` (``make data``).

``--terms`` also keeps where each divergent trajectory started and where it was stopped
(nutpie's ``store_divergences``) and prints, per log-density term (each free variable's
prior, each observed variable's likelihood), the median over divergences of its change
from start to end and how often it fell the most: a term that falls by thousands is the
wall the trajectory ran into (as ``analysis/divergent_trajectories.py`` does for the
pipeline's fits).

``--slow`` is for a world that mixes slowly without diverging: it prints the 10
unconstrained coordinates of smallest bulk ESS, and the 15 coordinates whose draws are
most correlated with the slowest one (Pearson, over all draws): what the slowest
coordinate trades off against.
"""

from __future__ import annotations

from burden import config

config.use_process_defaults()  # as the command line does, before numpy or Numba load

import argparse
import json
import time
import warnings

import numpy as np
import pandas as pd


def is_scale(name: str) -> bool:
    return name.startswith(("sigma", "tau")) or name.endswith("_sd") or name == "dispersion"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("sim", type=int)
    parser.add_argument("draws", type=int)
    parser.add_argument("model_config", nargs="?", default="{}")
    parser.add_argument("--sims", type=int, default=8)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--terms", action="store_true")
    parser.add_argument("--slow", action="store_true")
    parser.add_argument("--sampler-config", default="{}")
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    import nutpie
    import pytensor

    from burden.models.base import NUMBA_FASTMATH
    from burden.models.config import SamplerConfig
    from burden.validate import sbc, sbc_specs

    spec = sbc_specs.spec_for(args.model)
    spec = sbc_specs.SBCSpec(**{**spec.__dict__,
                          "model_config": {**spec.model_config, **json.loads(args.model_config)},
                          "sampler": {**spec.sampler, **json.loads(args.sampler_config),
                                      "draws": args.draws}})
    sims, _ = sbc.simulate(spec, args.sims, args.seed)
    sim = sims[args.sim]
    model = sbc.with_shared_observations(spec.build())
    with pytensor.config.change_flags(numba__fastmath=NUMBA_FASTMATH):
        compiled = nutpie.compile_pymc_model(model, backend="numba",
                                             **spec.estimator().compile_options(model))
    names = sbc.observed_data_names(model)
    compiled = compiled.with_data(**{names[k]: v for k, v in sim.data.items()})
    if spec.initial_points is not None:
        compiled = sbc._with_initial_point(compiled, sbc._flat_slices(model),
                                           spec.initial_points(spec, sim.data))
    start = time.perf_counter()
    idata = nutpie.sample(compiled, draws=args.draws, tune=int(spec.sampler["tune"]),
                          chains=int(spec.sampler["chains"]), cores=2, seed=int(sim.seed),
                          target_accept=float(spec.sampler["target_accept"]),
                          progress_bar=False, store_unconstrained=True,
                          store_divergences=args.terms,
                          **SamplerConfig.merge({k: v for k, v in spec.sampler.items()
                                                 if k.startswith("mass_matrix")
                                                 and v is not None}).nutpie_kwargs())
    print(f"simulation {args.sim}: sampled in {time.perf_counter() - start:.0f} s")
    stats = idata["sample_stats"]
    divergent = np.asarray(stats["diverging"]).ravel()
    print(f"divergences: {int(divergent.sum())} of {divergent.size} draws")
    raw = stats["unconstrained_draw"]
    u = np.asarray(raw).reshape(divergent.size, -1)
    coords = list(raw.coords[raw.dims[-1]].values)
    if args.slow:
        print_slowest(np.asarray(raw), coords)
    if not divergent.any():
        return
    z = (u - u.mean(0)) / np.where(u.std(0) > 0, u.std(0), 1.0)
    extreme = pd.Series(z[divergent].mean(0), index=coords)
    print("\nmean z-score at divergent transitions (largest |z|):")
    print(extreme.reindex(extreme.abs().sort_values(ascending=False).index).head(25)
          .round(2).to_string())
    post = idata["posterior"]
    rows = []
    for name in [v for v in post.data_vars if is_scale(v)]:
        values = np.asarray(post[name]).reshape(divergent.size, -1)
        truth = np.ravel(sim.truth.get(name, np.full(values.shape[1], np.nan)))
        for j in range(values.shape[1]):
            rows.append({"scale": f"{name}[{j}]" if values.shape[1] > 1 else name,
                         "median at divergences": np.median(values[divergent, j]),
                         "median overall": np.median(values[:, j]),
                         "true": truth[j] if j < truth.size else np.nan})
    print("\n" + pd.DataFrame(rows).round(3).to_string(index=False))
    if args.terms:
        print_terms(model, sim, names, stats, divergent)


def print_slowest(raw: np.ndarray, coords: list) -> None:
    """The unconstrained coordinates of smallest bulk ESS, and what the slowest one moves
    with. ``raw``: (chain, draw, coordinate)."""
    from burden.models import fast_diagnostics

    stats = fast_diagnostics.summarise(raw)
    ess = pd.Series(np.asarray(stats["ess_bulk"]), index=coords)
    r_hat = pd.Series(np.asarray(stats["r_hat"]), index=coords)
    slowest = ess.sort_values().head(10)
    print("\nslowest unconstrained coordinates (bulk ESS, R-hat):")
    print(pd.DataFrame({"bulk ESS": slowest, "R-hat": r_hat[slowest.index]}).round(3)
          .to_string())
    draws = pd.DataFrame(raw.reshape(-1, raw.shape[-1]), columns=coords)
    corr = draws.drop(columns=slowest.index[0]).corrwith(draws[slowest.index[0]])
    print(f"\ncorrelation of the draws with {slowest.index[0]} (largest |r|):")
    print(corr.reindex(corr.abs().sort_values(ascending=False).index).head(15).round(3)
          .to_string())


def print_terms(model, sim, names: dict[str, str], stats, divergent: np.ndarray) -> None:
    """Each log-density term's change from a divergent trajectory's start to its end."""
    import pytensor

    shared = {v.name: v for v in model.rvs_to_values.values()
              if isinstance(v, pytensor.compile.SharedVariable)}
    for observed, data_name in names.items():
        shared[data_name].set_value(np.asarray(sim.data[observed],
                                               dtype=shared[data_name].dtype))
    values = model.value_vars
    point = model.initial_point()
    terms = pytensor.function(values, model.logp(sum=False), on_unused_input="ignore")
    labels = [rv.name for rv in (*model.free_RVs, *model.observed_RVs, *model.potentials)]

    def unpack(x):
        out, i = [], 0
        for v in values:
            n = int(np.asarray(point[v.name]).size)
            out.append(np.asarray(x[i:i + n]).reshape(np.shape(point[v.name])))
            i += n
        return out

    starts = np.asarray(stats["divergence_start"]).reshape(divergent.size, -1)[divergent]
    ends = np.asarray(stats["divergence_end"]).reshape(divergent.size, -1)[divergent]
    changes = np.array([[float(np.sum(b)) - float(np.sum(a))
                         for a, b in zip(terms(*unpack(s)), terms(*unpack(e)))]
                        for s, e in zip(starts, ends)])
    table = pd.DataFrame({
        "median change": np.median(changes, axis=0),
        "10% change": np.quantile(changes, 0.1, axis=0),
        "share falling most": [(changes.argmin(axis=1) == j).mean()
                               for j in range(len(labels))]}, index=labels)
    print(f"\nlog-density terms from the start to the end of {len(starts)} divergent "
          "trajectories (most negative first):")
    print(table.sort_values("median change").round(3).to_string())


if __name__ == "__main__":
    main()
