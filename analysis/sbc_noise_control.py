"""Is a posterior SBC run's lean in an error scale the chance of its simulated noise? The
mean PIT of the scale with control variates whose means are known in advance.

    python analysis/sbc_noise_control.py RUN_FOLDER_OR_PACK --fit models/deaths.nc \\
        [--rows nchs_log_deaths:0,vsrr_log_deaths:0] [--variable "sigma_nchs[any_opioid]"]

Under calibration a variable's mean PIT is 0.5. Statistics of each simulation whose
means are known in advance move its PIT; for each group of rows of ``--rows`` (an
observed variable of the US block and a drug series), two:

- ``noise``: the mean squared standardised noise of the simulated copy, (y' - mu*)^2 /
  sigma*^2 at the true values (mean 1: y' is drawn from the likelihood at them). A world
  whose noise came out small pulls its fitted scale down, its PIT up.
- ``real_misfit``: the same for the real data at the true values, (y - mu*)^2 / sigma*^2;
  its mean over the saved fit's draws is computed from all of them.
and one for the run:

- ``truth_quantile``: the true value's quantile among the saved fit's draws (mean 0.5).

The control-variate estimate (least squares of the PITs on them all, centred at their
known means, read at the centre) is an unbiased estimate of the mean PIT with a smaller
standard error than the raw mean: a lean it keeps is not the chance of those statistics (their means are
known whatever the fit does, so the estimate's mean is the mean PIT, calibrated or not).
Prints each statistic's mean against its known mean, then the raw mean PIT and the
estimate with their standard errors and z against 0.5. Run it in the clone that made the run
(its fit; its code, if the model changed since).
"""

from __future__ import annotations

from burden import config

config.use_process_defaults()  # as the command line does, before numpy or Numba load

import argparse
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd


def location_and_scale(model, names: list[str], posterior) -> dict[str, tuple]:
    """(mu, sigma) of each Normal observed variable in ``names`` at every draw of
    ``posterior`` (a Dataset with one chain and a draw dimension): the model's own graph,
    vectorised over the draws (``burden.models.posterior_predictive``)."""
    import pytensor
    import pytensor.tensor as pt
    from pytensor.compile.mode import Mode

    from burden.models.batched import compiler_off, flat_draws
    from burden.models.posterior_predictive import _vectorised

    free = list(model.free_RVs)
    batched = {rv: pt.tensor(dtype=rv.dtype, shape=(None, *rv.type.shape), name=rv.name)
               for rv in free}
    params = []
    for name in names:
        node = model[name].owner
        mu, sigma = node.op.dist_params(node)
        params += [mu, sigma]
    with compiler_off():
        n = next(iter(batched.values())).shape[0]
        fn = pytensor.function(list(batched.values()), _vectorised(params, batched, n),
                               mode=Mode(linker="py", optimizer=None),
                               on_unused_input="ignore")
        values = fn(*flat_draws(posterior, [(rv.name, rv.dtype) for rv in free]))
    n_draws = posterior.sizes["draw"]
    out = {}
    for k, name in enumerate(names):
        mu = np.asarray(values[2 * k])
        sigma = np.asarray(values[2 * k + 1])
        shape = (n_draws, mu.shape[-1])
        out[name] = (np.broadcast_to(mu, shape), np.broadcast_to(sigma, shape))
    return out


def control_variate_mean(pit: np.ndarray, controls: np.ndarray) -> tuple[float, float]:
    """(estimate, standard error) of E[pit] from least squares of ``pit`` on ``controls``
    (each column centred at its known mean), read at the centre."""
    import statsmodels.api as sm

    fit = sm.OLS(pit, sm.add_constant(controls)).fit()
    return float(fit.params[0]), float(fit.bse[0])


def main() -> None:
    from burden.validate import posterior_sbc, sbc_pack, sbc_specs

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", type=Path, help="folder of a posterior SBC run, or its pack")
    p.add_argument("--fit", type=Path, required=True, help="the run's saved real fit")
    p.add_argument("--rows", default="nchs_log_deaths:0,vsrr_log_deaths:0",
                   help="observed variable:drug index (0 any opioid) of each group of "
                        "rows whose noise and misfit are controls")
    p.add_argument("--variable", default="sigma_nchs[any_opioid]")
    a = p.parse_args()
    warnings.simplefilter("ignore")
    base = sbc_specs.spec_for("deaths")
    est = posterior_sbc.load_fit(base, a.fit)
    spec = posterior_sbc.posterior_spec(base, est, a.fit)
    if not a.run.exists():
        p.error(f"{a.run}: no such run folder or pack")
    if a.run.is_dir():
        manifest = json.loads((a.run / "manifest.json").read_text())
        ranks = pd.read_csv(a.run / "ranks.csv")
    else:
        pack = sbc_pack.read_pack(a.run)
        manifest = pack["manifest"]
        ranks = sbc_pack.pack_ranks(pack, a.run, spec)
    if manifest["worlds"].get("fit_fingerprint") != posterior_sbc.fit_fingerprint(est):
        raise SystemExit(f"{a.fit} is not the fit of the run {a.run}")
    seed, n = int(manifest["seed"]), int(manifest["simulations"])
    sims, _, _ = posterior_sbc.posterior_worlds(spec, est, a.fit, n, seed)
    model = est.build_model(est.data)
    flat = est.posterior.stack(sample=("chain", "draw"))
    one_chain = (flat.drop_vars(["sample", "chain", "draw"]).rename(sample="draw")
                 .expand_dims("chain"))
    groups = []
    for g in a.rows.split(","):
        name, _, d = g.partition(":")
        if name not in ("nchs_log_deaths", "vsrr_log_deaths") or not d.isdigit():
            p.error(f"--rows: {g!r} is not <nchs_log_deaths|vsrr_log_deaths>:<drug index>")
        groups.append((name, int(d)))
    located = location_and_scale(model, sorted({name for name, _ in groups}), one_chain)
    inp = est.inputs(est.prepare_data(est.data))
    picks = posterior_sbc.picked_draws(flat.sizes["sample"], n, seed)
    # the simulations fitted so far with a PIT for the variable (all of them at the end)
    rows_pit = ranks[ranks["parameter"] == a.variable].dropna(subset=["pit"])
    judged = np.sort(rows_pit["sim"].to_numpy().astype(int))
    pit = rows_pit.set_index("sim").loc[judged, "pit"].to_numpy(float)
    picked = picks[judged]
    controls, described = [], []
    for name, d in groups:
        mu, sigma = located[name]
        drug = inp.us.nchs_drug if name.startswith("nchs") else inp.us.vsrr_drug
        rows = drug == d
        real = np.asarray(sims[0].data[name])
        misfit_all = (((real - mu) / sigma)[:, rows] ** 2).mean(1)  # every draw
        copy = np.stack([sims[i].data[posterior_sbc.replicate_name(name)] for i in judged])
        noise = (((copy - mu[picked]) / sigma[picked])[:, rows] ** 2).mean(1)
        controls += [noise - 1.0, misfit_all[picked] - misfit_all.mean()]
        described.append(
            f"  {name} drug {d} ({rows.sum()} rows a world): noise of the simulated copy "
            f"{noise.mean():.4f} (1 expected; se {noise.std(ddof=1) / np.sqrt(len(judged)):.4f}); "
            f"real data's misfit at the truths {misfit_all[picked].mean():.4f} (all draws "
            f"{misfit_all.mean():.4f}; se {misfit_all.std(ddof=1) / np.sqrt(len(judged)):.4f})")
    element, _, label = a.variable.partition("[")
    draws = flat[element]
    if label:
        draws = draws.isel({draws.dims[0]: list(draws[draws.dims[0]].values)
                            .index(label.rstrip("]"))})
    draws = np.asarray(draws)
    truth = draws[picked]
    quantile = ((draws[None, :] < truth[:, None]).mean(1)
                + 0.5 * (draws[None, :] == truth[:, None]).mean(1))
    controls = np.column_stack([*controls, quantile - 0.5])
    est_cv, se_cv = control_variate_mean(pit, controls)
    se_raw = pit.std(ddof=1) / np.sqrt(len(judged))
    print(f"run {a.run} (seed {seed}, {len(judged)} of {n} simulations judged), "
          f"{a.variable}")
    print("\n".join(described))
    print(f"  truth quantile: mean {quantile.mean():.4f} (0.5 expected)")
    print(f"  mean PIT raw {pit.mean():.4f}, se {se_raw:.4f}, z {(pit.mean() - 0.5) / se_raw:+.2f}")
    print(f"  mean PIT with the {controls.shape[1]} controls {est_cv:.4f}, se {se_cv:.4f}, z "
          f"{(est_cv - 0.5) / se_cv:+.2f}")


if __name__ == "__main__":
    main()
