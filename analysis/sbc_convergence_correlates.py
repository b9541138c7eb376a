"""What a model's SBC fits that did not converge have in common (docs/validation/sbc.md).

    python analysis/sbc_convergence_correlates.py MODEL RUN_FOLDER [--seed S]

redraws the prior worlds of the run in RUN_FOLDER (``burden validate sbc --model MODEL
--sims N --seed S --out RUN_FOLDER``: the same N and seed give the same worlds) and prints
the Spearman correlation of each fit's convergence measures (having a divergence, max
R-hat, min bulk ESS, converged) with the smallest and the median value of each simulated
data set and with the true values of the scalar and small parameters. Needs
``data/processed`` (``make data``).
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import pandas as pd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("run", type=Path)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    from burden.validate import sbc, sbc_specs

    sims_table = pd.read_csv(args.run / "sims.csv").set_index("sim")
    sims, _ = sbc.simulate(sbc_specs.spec_for(args.model), len(sims_table), args.seed)
    rows = []
    for sim in sims:
        row = {}
        for name, values in sim.data.items():
            values = np.asarray(values, dtype=float)
            row[f"min {name}"], row[f"median {name}"] = np.nanmin(values), np.nanmedian(values)
        for name, values in sim.truth.items():
            values = np.ravel(values)
            if values.size <= 3:
                row.update({f"true {name}[{j}]": v for j, v in enumerate(values)})
        rows.append(pd.Series(row, name=sim.sim))
    table = pd.DataFrame(rows).join(sims_table[["divergences", "r_hat_max", "ess_bulk_min",
                                                "converged"]])
    table["has divergence"] = table.pop("divergences") > 0
    measures = ["has divergence", "r_hat_max", "ess_bulk_min", "converged"]
    corr = table.astype(float).corr(method="spearman").loc[:, measures].drop(index=measures)
    pd.set_option("display.width", 200)
    print(f"{args.model}, {len(table)} simulations of {args.run}: Spearman correlations")
    print(corr.round(2).to_string())


if __name__ == "__main__":
    main()
