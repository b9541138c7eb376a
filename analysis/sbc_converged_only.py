"""The band test of an SBC run on its converged fits only, beside the whole run: does a
parameter out of its band come from the fits that did not converge?

    python analysis/sbc_converged_only.py RUN_FOLDER [PARAMETER ...]

Prints, for every parameter out of its band in any set (or the parameters named), the
excess beyond the band, the band test's p-value, the mean PIT, the share of PITs outside
[0.05, 0.95], the PIT's standard deviation (0.289 if uniform) and the ECDF at 0.3 less
0.3, for all fits, the converged ones, the others, and the first and second half of the
simulations. The band of a smaller set is wider: a parameter inside it there has less
evidence against it, not more for it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from burden.validate.sbc_stats import read_sbc, uniformity


def main(argv: list[str]) -> None:
    if not argv:
        raise SystemExit(__doc__)
    ranks, sims, _, _ = read_sbc(Path(argv[0]), judge=False)
    converged = set(sims.loc[sims["converged"].astype(bool), "sim"])
    half = (int(sims["sim"].max()) + 1) // 2
    parts = {"all": ranks, "converged": ranks[ranks["sim"].isin(converged)],
             "not converged": ranks[~ranks["sim"].isin(converged)],
             "first half": ranks[ranks["sim"] < half],
             "second half": ranks[ranks["sim"] >= half]}
    tables = {k: uniformity(v).set_index("parameter") for k, v in parts.items()}
    wanted = argv[1:] or sorted(set().union(*[set(t.index[~t["pass"].astype(bool)])
                                              for t in tables.values()]))
    rows = []
    for p in wanted:
        row = {"parameter": p}
        for k, t in tables.items():
            row[f"{k}: n"] = int(t.loc[p, "n"])
            row[f"{k}: excess"] = round(float(t.loc[p, "max_excess"]), 4)
            row[f"{k}: p"] = float(f'{t.loc[p, "p_value"]:.2g}')  # band test (sbc_stats)
            row[f"{k}: mean PIT"] = round(float(t.loc[p, "mean_pit"]), 3)
            row[f"{k}: outside 90%"] = round(float(t.loc[p, "share_outside_90"]), 3)
            pit = parts[k].loc[parts[k]["parameter"] == p, "pit"].to_numpy()
            row[f"{k}: PIT sd"] = round(float(pit.std()), 3)  # uniform: 0.289
            row[f"{k}: ECDF(0.3) - 0.3"] = round(float((pit <= 0.3).mean() - 0.3), 3)
        rows.append(row)
    pd.set_option("display.width", 250)
    print(pd.DataFrame(rows).set_index("parameter").T.to_string())


if __name__ == "__main__":
    main(sys.argv[1:])
