"""Did a posterior SBC run's lean come from the true values it picked? Where each
simulation's true value sits among the real fit's draws, per variable, beside the PITs.

    python analysis/sbc_truth_quantiles.py RUN_FOLDER_OR_PACK [--fit PATH]
        [--simulations N] [--variables A,B,...] [--from-sim K] [--below-sim M]

A posterior SBC run (``burden validate sbc --worlds posterior``) takes its true values
from the saved real fit, in the order of a seeded permutation of its draws
(``posterior_sbc.picked_draws``). Over many simulations their quantiles among the fit's
draws are uniform; over a hundred they can sit high or low in a variable by chance, and
since each fit sees the real data too, a simulation's PIT follows its truth's quantile.

Per variable (``posterior_sbc.truth_lean``), over the run's simulations K to M - 1:
``mean_quantile`` (0.5 for an even pick), ``mean_pit`` and its lean test's ``pit_z`` (as
``analysis/sbc_lean.py``), the ``slope`` of mean PIT on mean quantile, and
``pit_at_half``, the mean PIT the line gives at an even pick, with ``se`` and ``z``.
Then, for the simulations the run has not fitted yet (up to ``--simulations``, default
the run's full size), the quantiles their truths will have: computable before their
fits, so a test of a lean can be written down before its data exist.

A slope near 1 with a small ``se`` marks a parameter the new data hardly inform (the
fit's posterior is the real one, so its PIT is its truth's quantile): its PITs check
that the fit finds the real posterior again, little more, and its ``z`` measures a
shift too small to matter, not a lean. ``pit_at_half`` and ``z`` describe a lean found;
they are not tests chosen before it.

``--by-parameter`` gives a row per parameter instead. ``--fit`` defaults to the path in
the run's manifest (relative paths read from the current folder: run it in the clone
that made the run); its fingerprint must be the run's. A pack (``burden validate
sbc-pack``) is read without drawing its worlds again (``sbc_pack.pack_ranks``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from burden.validate import posterior_sbc, sbc, sbc_pack
from burden.validate.sbc_stats import read_sbc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a run folder or a pack (.npz)")
    parser.add_argument("--fit", type=Path, default=None,
                        help="the saved real fit (default: the one the manifest names)")
    parser.add_argument("--simulations", type=int, default=None,
                        help="truths to place (default: the run's full size)")
    parser.add_argument("--variables", default="",
                        help="comma-separated variables (default: all)")
    parser.add_argument("--from-sim", type=int, default=0,
                        help="judge simulations numbered K and above (default: all)")
    parser.add_argument("--by-parameter", action="store_true",
                        help="a row per parameter, not per variable")
    parser.add_argument("--below-sim", type=int, default=None,
                        help="judge simulations numbered below M (default: all)")
    args = parser.parse_args()
    packed = args.run.is_file()
    if packed:
        pack = sbc_pack.read_pack(args.run)
        manifest = pack["manifest"]
    else:
        ranks, _, _, manifest = read_sbc(args.run, judge=False)
    worlds = manifest.get("worlds") or {}
    if worlds.get("worlds") != posterior_sbc.POSTERIOR:
        parser.error(f"{args.run}: not a posterior SBC run (its manifest's worlds are "
                     f"{worlds.get('worlds')!r})")
    fit = args.fit or Path(worlds["fit"])
    base = sbc.spec_for(manifest["model"])
    est = posterior_sbc.load_fit(base, fit)
    fingerprint = posterior_sbc.fit_fingerprint(est)
    if fingerprint != worlds.get("fit_fingerprint"):
        parser.error(f"{fit}: fingerprint {fingerprint}, not the run's "
                     f"{worlds.get('fit_fingerprint')}: another fit's draws")
    spec = posterior_sbc.posterior_spec(base, est, fit)
    if packed:
        ranks = sbc_pack.pack_ranks(pack, args.run, spec)
    full = (manifest.get("checkpoint") or {}).get("of")  # a checkpoint names the run's size
    total = args.simulations or int(full or manifest["simulations"])
    quantiles = posterior_sbc.truth_quantiles(spec, est, total, int(manifest["seed"]))
    wanted = [v for v in args.variables.split(",") if v]
    if wanted:
        quantiles = quantiles[quantiles["variable"].isin(wanted)]
    if args.by_parameter:  # each parameter its own variable
        def alone(table):
            name = table["variable"].where(table["index"] == "",
                                           table["variable"] + "[" + table["index"] + "]")
            return table.assign(variable=name, index="")
        ranks, quantiles = alone(ranks), alone(quantiles)
    below = args.below_sim if args.below_sim is not None else ranks["sim"].max() + 1
    done = ranks[(ranks["sim"] >= args.from_sim) & (ranks["sim"] < below)]
    if done.empty:
        parser.error(f"{args.run}: no simulation numbered {args.from_sim} to {below - 1}")
    lean = posterior_sbc.truth_lean(done, quantiles)
    fitted = set(ranks["sim"].unique())
    rest = quantiles[~quantiles["sim"].isin(fitted)]
    upcoming = rest.groupby("variable", sort=False)["truth_quantile"].agg(
        ["mean", "count"]).rename(columns={"mean": "mean_quantile_unfitted",
                                           "count": "unfitted_values"})
    table = lean.merge(upcoming, left_on="variable", right_index=True, how="left")
    print(f"run {args.run}: {len(fitted)} simulations fitted, {done['sim'].nunique()} "
          f"judged ({args.from_sim} to {below - 1}), truths placed for {total} (seed "
          f"{manifest['seed']}, fit {fit}, fingerprint {fingerprint})")
    with pd.option_context("display.width", 160, "display.max_rows", 500):
        print(table.round({"mean_quantile": 3, "mean_pit": 3, "pit_z": 2, "slope": 3,
                           "pit_at_half": 3, "se": 4, "z": 2,
                           "mean_quantile_unfitted": 3}).to_string(index=False))


if __name__ == "__main__":
    main()
