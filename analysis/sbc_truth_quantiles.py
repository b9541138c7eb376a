"""Did a posterior SBC run's lean come from the true values it picked? Where each
simulation's true value sits among the real fit's draws, per variable, beside the PITs.

    python analysis/sbc_truth_quantiles.py RUN_FOLDER_OR_PACK [--fit PATH]
        [--simulations N] [--variables A,B,...] [--by-parameter] [--from-sim K]
        [--below-sim M]

A posterior SBC run (``burden validate sbc --worlds posterior``) takes its true values
from the saved real fit, in the order of a seeded permutation of its draws
(``posterior_sbc.picked_draws``). Over many simulations their quantiles among the fit's
draws are uniform; over a hundred they can sit high or low in a variable by chance, and
since each fit sees the real data too, a simulation's PIT follows its truth's quantile
in part (fully for a parameter the new data barely inform).

Per variable (``posterior_sbc.truth_lean``), over the run's simulations K to M - 1:
``mean_quantile`` (0.5 for an even pick), ``mean_pit`` and its lean test's ``pit_z`` (as
``analysis/sbc_lean.py``), the ``slope`` of mean PIT on mean quantile, and
``pit_at_half``, the mean PIT the line gives at an even pick, with ``se`` and ``z``.
Then, for the simulations the run has not fitted yet (up to ``--simulations``, default
the run's full size), the quantiles their truths will have: computable before their
fits, so a test of a lean can be written down before its data exist.

A slope near 1 with little spread about the line marks a parameter the new data hardly
inform (the refit's posterior is the real one, so its PIT is its truth's quantile): its
PITs come out uniform even if the fit made little or wrong use of the new data, and
check only that the refit gives back the real posterior; its ``z`` then measures a
shift too small to matter, not a lean. ``pit_at_half`` and ``z`` describe a lean found;
they are not tests chosen before it.

``--by-parameter`` gives a row per parameter instead. ``--fit`` defaults to the path in
the run's manifest (relative paths read from the current folder: run it in the clone
that made the run); its fingerprint must be the run's, and the run's worlds must be the draws its seed picks from it (for a folder, its
true values those draws, within rounding). A pack (``burden validate
sbc-pack``) is read without drawing its worlds again (``sbc_pack.pack_ranks``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from burden.validate import posterior_sbc, sbc_pack, sbc_specs
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
    from burden.errors import SBCResumeError, SBCWorldsError

    packed = args.run.is_file()
    try:
        if packed:
            pack = sbc_pack.read_pack(args.run)
            manifest, sims = pack["manifest"], pack["sims"]
        else:
            ranks, sims, _, manifest = read_sbc(args.run, judge=False)
    except (SBCResumeError, OSError, ValueError) as exc:
        parser.error(f"{args.run}: not a run folder or pack this version reads ({exc})")
    worlds = manifest.get("worlds") or {}
    if worlds.get("worlds") != posterior_sbc.POSTERIOR:
        parser.error(f"{args.run}: not a posterior SBC run (its manifest's worlds are "
                     f"{worlds.get('worlds')!r})")
    fit = args.fit or Path(worlds["fit"])
    base = sbc_specs.spec_for(manifest["model"])
    try:
        est = posterior_sbc.load_fit(base, fit)
    except SBCWorldsError as exc:
        parser.error(str(exc))
    fingerprint = posterior_sbc.fit_fingerprint(est)
    if fingerprint != worlds.get("fit_fingerprint"):
        parser.error(f"{fit}: fingerprint {fingerprint}, not the run's "
                     f"{worlds.get('fit_fingerprint')}: another fit's draws")
    spec = posterior_sbc.posterior_spec(base, est, fit)
    if packed:
        try:
            ranks = sbc_pack.pack_ranks(pack, args.run, spec)
        except SBCResumeError as exc:
            parser.error(str(exc))
    fitted = sorted(int(i) for i in ranks["sim"].unique())
    full = (manifest.get("checkpoint") or {}).get("of")  # a checkpoint names the run's size
    total = int(full or manifest["simulations"]) if args.simulations is None else \
        args.simulations
    if total < len(fitted) or total < 1:
        parser.error(f"--simulations {total}: the run has {len(fitted)} simulations; "
                     "place at least as many truths")
    try:
        quantiles = posterior_sbc.truth_quantiles(spec, est, total, int(manifest["seed"]))
    except SBCWorldsError as exc:
        parser.error(str(exc))
    # the truths placed are the run's: each simulation's world is its draw, and a folder's
    # true values are those draws
    picks = posterior_sbc.picked_draws(est.posterior.sizes["chain"]
                                       * est.posterior.sizes["draw"], total,
                                       int(manifest["seed"]))
    if "world" not in sims.columns:
        parser.error(f"{args.run}: its simulations table has no world column (a run made "
                     "before posterior worlds)")
    worlds_drawn = sims.set_index("sim")["world"].reindex(fitted).to_numpy()
    if (worlds_drawn != picks[fitted]).any():
        parser.error(f"{args.run}: its simulations' worlds are not the draws the seed "
                     "picks from this fit")
    if not packed:
        both = ranks.merge(quantiles, on=["sim", "variable", "index"],
                           suffixes=("", "_placed"), validate="one_to_one")
        # within rounding: a few deterministic quantities near 0 are computed again on
        # the stacked draws (relative 6e-11 at 5.6e-5 seen, 2026-12-06)
        if not np.allclose(both["true"], both["true_placed"], rtol=1e-9, atol=1e-12):
            parser.error(f"{args.run}: its true values are not the draws of {fit} placed")
    wanted = [v for v in args.variables.split(",") if v]
    unknown = sorted(set(wanted) - set(quantiles["variable"]))
    if unknown:
        parser.error(f"--variables: {', '.join(unknown)} not ranked by this run")
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
