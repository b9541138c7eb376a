"""Does a variable's posterior lean one way across its parameters? The direction test of
SBC runs (``burden.validate.sbc_stats.variable_lean``), one row per run and variable, and
the runs pooled.

    python analysis/sbc_lean.py RUN_FOLDER [RUN_FOLDER ...] [--variables A,B,...]
                                [--from-sim K]

``--from-sim K`` keeps simulations K and after: the new draws of a run extended with
``--resume`` (a lean found in its first K simulations is tested on the others).

Per simulation the mean PIT over the variable's parameters, then the mean over the
simulations with its standard error and z = (mean - 0.5) / se. A PIT below 0.5 is a
posterior above the truth. The pooled rows treat the runs' simulations as one set
(different seeds: independent worlds).

Several variables are tested, so a single |z| near 3 turns up now and then by chance
(for 14 independent variables, some |z| > 2.8 with probability 1 - (1 - 0.0051) ** 14 =
0.07); a lean is a finding when it comes back, with the same sign, in a run it was not
chosen from.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from burden.validate.sbc_stats import read_sbc, variable_lean


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--variables", default="",
                        help="comma-separated variables (default: all)")
    parser.add_argument("--from-sim", type=int, default=0,
                        help="keep simulations numbered K and above (default: all)")
    args = parser.parse_args()
    wanted = [v for v in args.variables.split(",") if v]
    runs = {}
    for folder in args.folders:
        ranks = read_sbc(folder, judge=False)[0]
        runs[folder.name] = ranks[ranks["sim"] >= args.from_sim]
        if runs[folder.name].empty:
            parser.error(f"{folder}: no simulation numbered {args.from_sim} or above")
    tables = [variable_lean(r).assign(run=name) for name, r in runs.items()]
    if len(runs) > 1:
        # the same simulation number in two runs is two worlds: number them apart
        pooled = pd.concat([r.assign(sim=r["sim"].astype(str) + "/" + name)
                            for name, r in runs.items()])
        tables.append(variable_lean(pooled).assign(run="pooled"))
    table = pd.concat(tables)
    if wanted:
        table = table[table["variable"].isin(wanted)]
    columns = ["run", "variable", "simulations", "mean_pit", "se", "z"]
    with pd.option_context("display.width", 120, "display.max_rows", 500):
        print(table[columns].round({"mean_pit": 3, "se": 4, "z": 2}).to_string(index=False))


if __name__ == "__main__":
    main()
