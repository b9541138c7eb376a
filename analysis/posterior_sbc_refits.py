"""Fit chosen simulations of a posterior SBC run again, as the run fitted them and under
other sampler settings or parameterisations, and compare each chosen variable's posterior
between them: is a lean of a variable's PITs the sampler's (the fits disagree on the same
data) or not (they agree)?

    python analysis/posterior_sbc_refits.py models/sbc/deaths-posterior-seed3 \\
        --fit models/deaths.nc --sims 0,1,2,3 --variables sigma_nchs \\
        --variants '[{}, {"target_accept": 0.95, "tune": 1000, "draws": 2400}]' \\
        --out refits.csv

The run's seed and model come from its manifest; its worlds (true values and data) are
drawn again from the saved fit ``--fit``, which must be the run's fit (its fingerprint is
checked). Each entry of ``--variants`` is merged over the run's sampler settings (the
saved fit's); a ``"model_config"`` key is merged over the fit's model configuration
instead (another parameterisation of the same model: the same prior and likelihood), and
``"seed_offset"`` adds to each simulation's fit seed, and ``"replicated": false`` fits
the real data alone (the simulated copy left out: every simulation's fit is then of the
same data, a check of the saved fit's draws against fits of its own data), while a list
of observed variables' names (``"replicated": ["vsrr_log_deaths"]``) fits the real data
with the copies of those only (still exact: which data a miscalibration needs). Variant 0 is the reference: each
other variant is compared with it on the same simulations. One row per variant,
simulation and element of the chosen variables: posterior mean, sd, the share of draws
below the true value (``truth_quantile``), the fit's max R-hat, min bulk ESS over the
chosen variables and divergences; then per variant and element the mean over the
simulations of (mean - reference mean) / reference sd. Fits run one after another on one
core each (chains in turn, as the run's workers); run several processes on subsets of
``--sims`` to use more cores.
"""

from __future__ import annotations

from burden import config

config.use_process_defaults()  # as the command line does, before numpy or Numba load

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd


def refit(spec, sim, names: list[str], seed: int) -> tuple[pd.DataFrame, dict]:
    """The posterior of ``names`` of one fit of ``sim`` under ``spec``: one row per
    element (mean, sd, truth quantile), and the fit's diagnostics."""
    from burden.models import fast_diagnostics
    from burden.validate import sbc

    idata, post, _, compile_s, sample_s = sbc.sample_simulation(
        spec, sim, seed, model_data_only=not spec.replicated)
    qty = sbc.quantities(post, names, spec, ("chain", "draw"))
    rows = []
    for name, (values, labels) in qty.items():
        flat = values.reshape(-1, values.shape[-1])
        truth = np.asarray(sim.truth[name]).ravel()
        for k, lab in enumerate(labels):
            below = ((flat[:, k] < truth[k]).sum() + 0.5 * (flat[:, k] == truth[k]).sum())
            rows.append({"element": f"{name}[{lab}]" if lab else name, "true": truth[k],
                         "mean": flat[:, k].mean(), "sd": flat[:, k].std(ddof=1),
                         "truth_quantile": below / len(flat)})
    flat = np.concatenate([v for v, _ in qty.values()], axis=-1)
    stats = fast_diagnostics.summarise(flat)
    diag = {"r_hat_max": float(np.nanmax(stats["r_hat"])),
            "ess_bulk_min": float(np.nanmin(stats["ess_bulk"])),
            "divergences": int(np.asarray(idata["sample_stats"]["diverging"]).sum()),
            "compile_s": compile_s, "sample_s": sample_s}
    return pd.DataFrame(rows), diag


def main() -> None:
    import logging
    from dataclasses import replace

    from burden.errors import SBCWorldsError
    from burden.validate import posterior_sbc, sbc, sbc_specs

    logging.basicConfig(level=logging.WARNING)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", type=Path, help="folder of a posterior SBC run (its manifest.json)")
    p.add_argument("--fit", type=Path, required=True, help="the run's saved real fit")
    p.add_argument("--sims", required=True, help="simulations, e.g. 0,1,2,3")
    p.add_argument("--variables", required=True, help="variables compared, e.g. sigma_nchs")
    p.add_argument("--variants", default="[{}]", help="JSON list of overrides (see above)")
    p.add_argument("--out", type=Path, help="CSV of every row")
    a = p.parse_args()
    if not (a.run / "manifest.json").is_file():
        p.error(f"{a.run}: no manifest.json (not the folder of an SBC run)")
    manifest = json.loads((a.run / "manifest.json").read_text())
    if (manifest.get("worlds") or {}).get("worlds") != posterior_sbc.POSTERIOR:
        raise SystemExit(f"{a.run} is not a posterior SBC run")
    if not all(s.strip().isdigit() for s in a.sims.split(",")):
        p.error(f"--sims: {a.sims!r} is not a comma-separated list of simulation numbers")
    sims_wanted = [int(s) for s in a.sims.split(",")]
    names = a.variables.split(",")
    base = sbc_specs.spec_for(manifest["model"])
    est = posterior_sbc.load_fit(base, a.fit)
    fingerprint = posterior_sbc.fit_fingerprint(est)
    if manifest["worlds"].get("fit_fingerprint") != fingerprint:
        raise SBCWorldsError(f"{a.fit} (fingerprint {fingerprint}) is not the fit of the run "
                             f"in {a.run} ({manifest['worlds'].get('fit_fingerprint')})")
    spec = posterior_sbc.posterior_spec(base, est, a.fit)
    sims, _, _ = posterior_sbc.posterior_worlds(spec, est, a.fit, max(sims_wanted) + 1,
                                                int(manifest["seed"]))
    saved = []
    for name, (values, labels) in sbc.quantities(est.posterior, names, spec,
                                                 ("chain", "draw")).items():
        flat = values.reshape(-1, values.shape[-1])
        saved += [{"element": f"{name}[{lab}]" if lab else name, "mean": flat[:, k].mean(),
                   "sd": flat[:, k].std(ddof=1)} for k, lab in enumerate(labels)]
    print("the saved fit's draws (real data only):")
    print(pd.DataFrame(saved).to_string(index=False), flush=True)
    frames = []
    for v, overrides in enumerate(json.loads(a.variants)):
        over = dict(overrides)
        model_config = over.pop("model_config", None)
        offset = int(over.pop("seed_offset", 0))
        replicated = over.pop("replicated", True)
        replicated = (tuple(replicated) if isinstance(replicated, list)
                      else bool(replicated))
        vspec = replace(spec, sampler={**spec.sampler, **over}, replicated=replicated)
        if model_config:
            vspec = replace(vspec, model_config={**spec.model_config, **model_config})
        for s in sims_wanted:
            rows, diag = refit(vspec, sims[s], names, sims[s].seed + offset)
            rows = rows.assign(variant=v, overrides=json.dumps(overrides), sim=s, **diag)
            frames.append(rows)
            print(f"variant {v} {json.dumps(overrides)} sim {s}: sampling "
                  f"{diag['sample_s']:.0f} s, R-hat {diag['r_hat_max']:.4f}, ESS "
                  f"{diag['ess_bulk_min']:.0f}, {diag['divergences']} divergences", flush=True)
            print(rows[["element", "true", "mean", "sd", "truth_quantile"]]
                  .to_string(index=False), flush=True)
    table = pd.concat(frames, ignore_index=True)
    if a.out:
        table.to_csv(a.out, index=False)
    ref = table[table.variant == 0].set_index(["sim", "element"])
    for v, g in table[table.variant > 0].groupby("variant"):
        g = g.set_index(["sim", "element"])
        shift = ((g["mean"] - ref["mean"]) / ref["sd"]).dropna()
        print(f"\nvariant {v} against variant 0, (mean - reference mean) / reference sd:")
        print(shift.groupby(level="element").agg(["mean", "std", "count"]).to_string())


if __name__ == "__main__":
    main()
