"""Do an SBC run's prior worlds explain its failures? The true values of a run, ranked
among fresh prior draws instead of among the fits' posterior draws.

    python analysis/sbc_prior_draws.py RUN_FOLDER [--draws R] [--seed S] [PARAMETER ...]
        [--variables NAME ... [--pair-with RANKED]] [--null-sets B [--null-worlds N]]

The run's prior worlds come from its seed: two runs with the same ``--seed`` draw the
same true values (``burden.validate.sbc.simulate``), whatever the fits. For every
parameter this script ranks each simulation's true value among R new draws from the
same prior (the run's model, reduced design and model settings, from its manifest;
another seed) and turns the rank into a randomised PIT, as the run does with posterior
draws. These "prior-only" PITs are uniform for any prior; what they measure is the
sample of worlds. Where the data say little about a quantity, its posterior is near its
prior and its fitted PIT follows its prior-only PIT (their Spearman correlation is near
1). A failure of the fitted PITs that the prior-only PITs share comes from the worlds
drawn, not from the fits: another seed tests it.

``--variables`` does the same for model variables the run did not rank (a Deterministic
such as production's ``log_yield_year``): their true values are the run's worlds drawn
again with its seed (checked against the ranked true values the run saved), and with
``--pair-with production_t`` each element's prior-only PIT is correlated with the fitted
PIT of the ranked parameter with the same index (production_t[MEX,2009] for
log_yield_year[MEX,2009]).

``--null-sets B`` asks how often a variable-level rule fails on worlds alone: B more sets
of worlds, each as many as the run's (or ``--null-worlds N``), drawn with another seed,
their prior-only PITs band-tested as the run's are. Two rules: the Bonferroni rule the runs
apply (``sbc_stats.summarise_uniformity``: the variable fails when one of its k parameters
has a band-test p-value at most 0.05 / k) and the count rule it replaced on 2026-12-04 (more
parameters out of their band than the 95% point of Binomial(k, 0.05), the parameters taken
as independent). A calibrated rule fails in at most 5% of the sets; where a variable's
parameters move together (the years of one walk) the count rule fails more often. The
table also gives the 95% point of the number of parameters out of band over the sets.
Prior-only PITs are not fitted PITs: where the data pin a quantity its fitted PITs are
less tied to the prior's dependence, so this is a check of the rule, not a calibration of
the fits.

Prints, for every parameter out of its band in the run or among the prior-only PITs (or
the parameters named): for both sets of PITs the excess beyond the band, the share
outside [0.05, 0.95] (0.10 expected) and the mean (0.5), and the Spearman correlation
between them; then, per variable, how many parameters leave their band in each set and
the smallest band-test p-value against the Bonferroni level. With ``--null-sets`` the last
rows, "(any variable)" and "(two or more variables)", are the shares of sets in which at
least one and at least two variables fail: how often a run of a calibrated model fails
somewhere by chance, since every variable is tested at 5%.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from burden.validate import sbc, sbc_specs
from burden.validate.sbc_stats import ecdf_band, read_sbc, summarise_uniformity, uniformity

#: the seed of the fresh prior draws (not a run's seed: those draw the worlds themselves)
DEFAULT_SEED = 777


def spec_of_run(manifest: dict) -> sbc_specs.SBCSpec:
    """The run's spec: its model's reduced design with the manifest's model settings."""
    spec = sbc_specs.spec_for(manifest["model"])
    return sbc_specs.SBCSpec(**{**spec.__dict__, "model_config": dict(manifest["model_config"])})


def prior_values(spec: sbc_specs.SBCSpec, draws: int, seed: int, extra: tuple[str, ...] = ()
                 ) -> dict[str, np.ndarray]:
    """parameter label ("name[index]") -> (draws,) values from the prior: the ranked
    quantities and the model variables ``extra``. With the run's own seed and its number of
    simulations these are the run's worlds (drawn as ``sbc.simulate`` draws them: one
    stream from the seed, reseeded after a world that could not be drawn,
    ``sbc.prior_worlds``); a world that could not be drawn is NaN."""
    model = spec.build()
    names = sbc.ranked_names(model, spec)
    unknown = [n for n in extra if n not in model.named_vars]
    if unknown:
        raise SystemExit(f"{', '.join(unknown)}: not a variable of the {spec.model} model")
    idata, where, _ = sbc.prior_worlds(spec, model, draws, seed)
    prior = idata["prior"].to_dataset()
    qty = sbc.quantities(prior, names, spec, ("chain", "draw"))
    qty.update({n: sbc._flatten(prior[n], ("chain", "draw")) for n in extra})
    drawn = np.array([j is not None for j in where])
    at = np.array([0 if j is None else j for j in where])
    out = {}
    for name, (values, labels) in qty.items():
        for j, lab in enumerate(labels):
            out[f"{name}[{lab}]" if lab else name] = np.where(drawn, values[0, at, j],
                                                              np.nan)
    return out


def world_ranks(ranks: pd.DataFrame, manifest: dict, spec: sbc_specs.SBCSpec,
                extra: tuple[str, ...]) -> pd.DataFrame:
    """Rows like ``ranks``' for the variables ``extra`` (true values only): the run's worlds
    drawn again with its seed. Raises when the ranked true values drawn again differ from
    the run's (another model, design or version)."""
    if manifest.get("worlds", {}).get("worlds", "all") != "all":
        raise SystemExit("--variables needs a run over every prior world (--worlds all)")
    sims = sorted(ranks["sim"].unique())
    worlds = prior_values(spec, max(sims) + 1, int(manifest["seed"]), extra)
    saved = ranks.set_index(["parameter", "sim"])["true"]
    again = np.array([worlds[p][s] for p, s in saved.index])
    if not np.allclose(again, saved.to_numpy(), rtol=1e-9, atol=1e-12, equal_nan=True):
        raise SystemExit("the run's worlds drawn again differ from its saved true values: "
                         "the model changed since the run")
    rows = []
    for parameter, values in worlds.items():
        name, _, index = parameter.partition("[")
        if name in extra:
            rows += [{"model": manifest["model"], "sim": s, "variable": name,
                      "index": index.rstrip("]"), "parameter": parameter,
                      "true": float(values[s]), "status": "ok"} for s in sims]
    return pd.DataFrame(rows)


def prior_only_ranks(ranks: pd.DataFrame, prior: dict[str, np.ndarray], seed: int
                     ) -> pd.DataFrame:
    """``ranks`` with ``pit`` replaced by each true value's randomised PIT among the
    prior draws (every simulation counts, fitted or not)."""
    rng = np.random.default_rng(seed)
    table = ranks[ranks["parameter"].isin(list(prior))].copy()
    pits = np.empty(len(table))
    for i, (parameter, truth) in enumerate(zip(table["parameter"], table["true"])):
        values = prior[parameter]
        values = values[np.isfinite(values)]  # not the worlds that could not be drawn
        below = float((values < truth).sum())
        pits[i] = (below + rng.uniform()) / (values.size + 1)
    table["pit"] = pits
    table["status"] = "ok"
    return table


def compare(ranks: pd.DataFrame, prior_ranks: pd.DataFrame, wanted: list[str]
            ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per parameter, per variable) tables of the fitted against the prior-only PITs."""
    fitted_u = uniformity(ranks).set_index("parameter")
    prior_u = uniformity(prior_ranks).set_index("parameter")
    if not wanted:
        out = set(fitted_u.index[fitted_u["pass"] == False])  # None: no verdict
        out |= set(prior_u.index[prior_u["pass"] == False])
        wanted = sorted(out)
    ok = ranks[ranks["status"] == "ok"]
    rows = []
    for p in wanted:
        if p not in fitted_u.index or p not in prior_u.index:
            raise SystemExit(f"{p}: not a ranked parameter of this run")
        fit_pit = ok.loc[ok["parameter"] == p].set_index("sim")["pit"]
        pri_pit = prior_ranks.loc[prior_ranks["parameter"] == p].set_index("sim")["pit"]
        rho = spearmanr(fit_pit, pri_pit.loc[fit_pit.index]).statistic
        rows.append({
            "parameter": p,
            "fitted: pass": fitted_u.loc[p, "pass"],
            "fitted: excess": round(float(fitted_u.loc[p, "max_excess"]), 4),
            "fitted: p": float(f'{fitted_u.loc[p, "p_value"]:.2g}'),
            "fitted: outside 90%": round(float(fitted_u.loc[p, "share_outside_90"]), 3),
            "fitted: mean PIT": round(float(fitted_u.loc[p, "mean_pit"]), 3),
            "prior-only: pass": prior_u.loc[p, "pass"],
            "prior-only: excess": round(float(prior_u.loc[p, "max_excess"]), 4),
            "prior-only: p": float(f'{prior_u.loc[p, "p_value"]:.2g}'),
            "prior-only: outside 90%": round(float(prior_u.loc[p, "share_outside_90"]), 3),
            "prior-only: mean PIT": round(float(prior_u.loc[p, "mean_pit"]), 3),
            "Spearman(fitted, prior-only)": round(float(rho), 3)})
    fitted_v = summarise_uniformity(fitted_u.reset_index()).set_index("variable")
    prior_v = summarise_uniformity(prior_u.reset_index()).set_index("variable")
    variables = pd.DataFrame({
        "parameters": fitted_v["parameters"],
        "level": fitted_v["level"],
        "fitted: out of band": fitted_v["failed"],
        "fitted: smallest p": fitted_v["p_min"],
        "prior-only: out of band": prior_v["failed"].reindex(fitted_v.index),
        "prior-only: smallest p": prior_v["p_min"].reindex(fitted_v.index)})
    return pd.DataFrame(rows).set_index("parameter"), variables


def extra_variables(prior_ranks: pd.DataFrame, ranks: pd.DataFrame,
                    pair_with: str | None) -> pd.DataFrame:
    """Per element of the ``--variables``: its prior-only band test, and with
    ``pair_with`` the Spearman correlation with that variable's fitted PIT, same index."""
    table = uniformity(prior_ranks).set_index("parameter")
    out = table[["pass", "max_excess", "share_outside_90", "mean_pit"]].rename(
        columns=lambda c: f"prior-only: {c}").round(4)
    if pair_with:
        ok = ranks[(ranks["status"] == "ok") & (ranks["variable"] == pair_with)]
        fitted = ok.set_index(["index", "sim"])["pit"]
        rho = {}
        for parameter, group in prior_ranks.groupby("parameter"):
            index = group["index"].iloc[0]
            if index in fitted.index.get_level_values(0):
                f = fitted.loc[index]
                rho[parameter] = round(float(spearmanr(
                    f, group.set_index("sim")["pit"].loc[f.index]).statistic), 3)
        out[f"Spearman with fitted {pair_with}"] = pd.Series(rho)
    return out


def out_of_band(pits: np.ndarray) -> np.ndarray:
    """(k,) bool: which columns of ``pits`` (n, k) have an ECDF outside the simultaneous
    band (``sbc_stats.ecdf_band``, the test ``uniformity`` applies)."""
    out = np.empty(pits.shape[1], dtype=bool)
    for j in range(pits.shape[1]):
        band = ecdf_band(pits[:, j])
        out[j] = bool(((band["ecdf"] < band["lower"]) | (band["ecdf"] > band["upper"])).any())
    return out


def null_sets(spec: sbc_specs.SBCSpec, prior: dict[str, np.ndarray], n_worlds: int, sets: int,
              seed: int) -> pd.DataFrame:
    """Per variable: the share of ``sets`` sets of ``n_worlds`` prior worlds (seed
    ``seed``) in which each variable-level rule fails on prior-only PITs among ``prior``:
    the Bonferroni rule of ``sbc_stats.summarise_uniformity`` and the count rule it replaced
    (more parameters out of band than the 95% point of Binomial(k, 0.05)); and the 95%
    point of the number of parameters out of band."""
    from scipy.stats import binom

    from burden.validate.sbc_stats import BAND_PROB, band_p_values

    worlds = prior_values(spec, n_worlds * sets, seed)
    rng = np.random.default_rng(seed)
    flags: dict[str, list[np.ndarray]] = {}
    p_values: dict[str, list[np.ndarray]] = {}
    for parameter, values in worlds.items():
        if parameter not in prior:
            continue
        ref = np.sort(prior[parameter][np.isfinite(prior[parameter])])
        if np.ptp(ref) == 0:  # a constant: no verdict (as in the run's table)
            continue
        pit = (np.searchsorted(ref, values) + rng.uniform(size=values.size)) / (ref.size + 1)
        variable = parameter.partition("[")[0]
        flags.setdefault(variable, []).append(out_of_band(pit.reshape(sets, n_worlds).T))
        p_values.setdefault(variable, []).append(band_p_values(pit.reshape(sets, n_worlds)))
    rows = []
    n_bonferroni = np.zeros(sets, dtype=int)  # variables failing in each set
    n_count = np.zeros(sets, dtype=int)
    for variable, flag in flags.items():
        failed = np.array(flag).sum(axis=0)  # (sets,) parameters out of band in each
        k = len(flag)
        allowed = int(binom.ppf(0.95, k, 1 - BAND_PROB))
        p_min = np.array(p_values[variable]).min(axis=0)  # (sets,)
        bonferroni, count = p_min <= (1 - BAND_PROB) / k, failed > allowed
        n_bonferroni += bonferroni
        n_count += count
        rows.append({"variable": variable, "parameters": k,
                     "fails: Bonferroni rule": round(float(bonferroni.mean()), 3),
                     "fails: count rule": round(float(count.mean()), 3),
                     "count rule allows": allowed,
                     "out of band: mean": round(float(failed.mean()), 2),
                     "out of band: 95% point": int(np.quantile(failed, 0.95))})
    # the run's verdict: a calibrated model still fails some variable in this share of runs
    for least, label in ((1, "(any variable)"), (2, "(two or more variables)")):
        rows.append({"variable": label, "parameters": sum(len(f) for f in flags.values()),
                     "fails: Bonferroni rule": round(float((n_bonferroni >= least).mean()), 3),
                     "fails: count rule": round(float((n_count >= least).mean()), 3)})
    return pd.DataFrame(rows).set_index("variable")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="an SBC run folder (its manifest.json)")
    parser.add_argument("parameters", nargs="*", help="parameters to show (default: every "
                        "one out of its band in either set)")
    parser.add_argument("--draws", type=int, default=4000, help="prior draws (default 4000)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help=f"seed of the prior draws (default {DEFAULT_SEED})")
    parser.add_argument("--variables", nargs="+", default=[], metavar="NAME",
                        help="model variables not ranked by the run (e.g. log_yield_year)")
    parser.add_argument("--pair-with", metavar="RANKED", help="a ranked variable whose "
                        "fitted PIT each --variables element is correlated with (same index)")
    parser.add_argument("--null-sets", type=int, default=0, metavar="B",
                        help="B more sets of worlds: how often the variable rule fails on "
                        "worlds alone")
    parser.add_argument("--null-worlds", type=int, metavar="N",
                        help="worlds in each --null-sets set (default: the run's simulations)")
    args = parser.parse_args(argv)
    ranks, _, _, manifest = read_sbc(args.run, judge=False)
    if manifest["seed"] in (args.seed, args.seed + 1):
        raise SystemExit(f"--seed {args.seed}: it or the next seed (--null-sets) is the run's "
                         "own seed, whose first draws are the run's worlds; choose another")
    spec = spec_of_run(manifest)
    prior = prior_values(spec, args.draws, args.seed, tuple(args.variables))
    missing = sorted(set(ranks["parameter"]) - set(prior))
    if missing:  # another design (e.g. deaths with --countries-per-region): not comparable
        raise SystemExit(f"{len(missing)} ranked parameters of the run have no prior draws "
                         f"in the default {manifest['model']} design (first: {missing[0]}); "
                         "this script reads runs of the default reduced design")
    params, variables = compare(ranks, prior_only_ranks(ranks, prior, args.seed),
                                args.parameters)
    extra_table = None
    if args.variables:
        truths = world_ranks(ranks, manifest, spec, tuple(args.variables))
        extra_table = extra_variables(prior_only_ranks(truths, prior, args.seed), ranks,
                                      args.pair_with)
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 20)
    print(f"run {args.run} ({manifest['model']}, seed {manifest['seed']}, "
          f"{manifest['simulations']} simulations, {manifest['run_utc']}); "
          f"{args.draws} prior draws, seed {args.seed}\n")
    print(params.T.to_string() if len(params) else "no parameter out of its band")
    print()
    print(variables.to_string())
    if extra_table is not None:
        print()
        print(extra_table.to_string())
    if args.null_sets:
        n_worlds = args.null_worlds or int(ranks["sim"].nunique())
        print(f"\n{args.null_sets} sets of {n_worlds} prior worlds each (seed {args.seed + 1})")
        print(null_sets(spec, prior, n_worlds, args.null_sets, args.seed + 1).to_string())


if __name__ == "__main__":
    main()
