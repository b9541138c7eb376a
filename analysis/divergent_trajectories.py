"""Where a fit's divergent trajectories went: each log-density term at the start and at the
end of every divergent trajectory, and the coordinates that moved most.

    python analysis/divergent_trajectories.py FIT [SEED [OVERRIDES]]

FIT is one of the pipeline's fits (``burden.fits.FITS``), fitted with its default settings
and SEED (default: the model's; ``-`` for it when OVERRIDES follow), OVERRIDES a JSON
object of sampler settings merged over the model's, whose ``"model_config"`` key, if any,
is merged over the model's configuration instead (as in
``analysis/deaths_sampler_settings.py``; for example ``'{"draws": 4000, "model_config":
{"yield_centring": "partial"}}'``) on this project's processed tables (``make data``; the
markets fit reads ``models/production.nc``). nutpie keeps each divergence's start and end
(``store_divergences``); a term whose log density falls by thousands between the two is
the wall the trajectory ran into. Nothing is saved. Used on the production fit, version
5, seed 20171 (docs/models/shares.md, "Version 6").
"""

from __future__ import annotations

import json
import sys

from burden import config

config.use_process_defaults()  # as the command line does, before numpy or Numba load

import numpy as np
import pytensor

from burden.fits import load_fit, read_tables, spec


def divergent_fit(name: str, seed: int | None, overrides: dict | None = None):
    """The fitted estimator, sampled with nutpie's divergence and unconstrained draws kept."""
    import nutpie

    original = nutpie.sample

    def keeping(*args, **kwargs):
        return original(*args, **kwargs, store_divergences=True, store_unconstrained=True)

    s = spec(name)
    kwargs = {s.upstream: load_fit(s.upstream)} if s.upstream else {}
    overrides = dict(overrides or {})
    model_config = overrides.pop("model_config", None)
    sampler = {**overrides, **({"random_seed": seed} if seed is not None else {})}
    est = s.estimator(model_config, sampler or None, **kwargs)
    nutpie.sample = keeping
    try:
        est.fit(read_tables(s.estimator.data_tables), progressbar=False)
    finally:
        nutpie.sample = original
    return est


def main(name: str, seed: int | None, overrides: dict | None = None) -> None:
    est = divergent_fit(name, seed, overrides)
    stats = est.idata["sample_stats"]
    diverging = stats["diverging"].values
    print(f"{name}: {int(diverging.sum())} divergences in {diverging.size} draws")
    if not diverging.any():
        return
    model = est.model
    values = model.value_vars
    point = model.initial_point()
    labels = stats["unconstrained_draw"]["unconstrained_parameter"].values
    terms = pytensor.function(values, model.logp(sum=False), on_unused_input="ignore")
    names = [rv.name for rv in (*model.free_RVs, *model.observed_RVs, *model.potentials)]

    def unpack(x):
        out, i = [], 0
        for v in values:
            shape = point[v.name].shape
            n = int(np.prod(shape))
            out.append(x[i:i + n].reshape(shape))
            i += n
        return out

    for k, (start, end, err) in enumerate(zip(stats["divergence_start"].values[diverging],
                                              stats["divergence_end"].values[diverging],
                                              stats["divergence_energy_error"].values[diverging])):
        print(f"\ndivergence {k}: energy error {float(err):.4g}")
        at_start, at_end = terms(*unpack(start)), terms(*unpack(end))
        print("| term | log density at start | at end | change |\n|---|---|---|---|")
        rows = sorted(zip(names, at_start, at_end),
                      key=lambda r: float(np.sum(r[2]) - np.sum(r[1])))
        for term, a, b in rows:
            a, b = float(np.sum(a)), float(np.sum(b))
            print(f"| {term} | {a:.3f} | {b:.3f} | {b - a:+.3f} |")
        moved = np.argsort(-np.abs(end - start))[:8]
        print("moved most (unconstrained): " + ", ".join(
            f"{labels[i]} {start[i]:.3f} -> {end[i]:.3f}" for i in moved))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    seed_arg = sys.argv[2] if len(sys.argv) > 2 else "-"
    main(sys.argv[1], None if seed_arg == "-" else int(seed_arg),
         json.loads(sys.argv[3]) if len(sys.argv) > 3 else None)
