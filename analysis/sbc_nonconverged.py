"""Why the fits of SBC runs did not converge: divergences, slow mixing, or R-hat's chance.

    python analysis/sbc_nonconverged.py RUN_FOLDER [RUN_FOLDER ...]

Reads each run's ``sims.csv`` (``burden validate sbc --out RUN_FOLDER``) and sorts the fits
that missed the convergence rule (R-hat <= 1.01, bulk ESS >= 400, no divergences) into:

- divergent: at least one divergence;
- slow: no divergence, min bulk ESS below 400;
- marginal R-hat: no divergence, min bulk ESS 400 or more, max R-hat at most 1.015. A
  quantity that mixes perfectly well crosses 1.01 by chance in 6-14% of fits at a bulk
  ESS of 580-710 and its 99th percentile R-hat is 1.014-1.018 (``python
  analysis/rhat_tail.py``): these misses are what chance alone gives, not evidence of a
  mixing problem (nor proof that there is none);
- high R-hat: no divergence, ESS 400 or more, R-hat above 1.015.

Prints one Markdown row per run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

#: R-hat up to which a miss with an ESS of 400 or more is within chance (the 99th
#: percentile of R-hat at ESS 580-710 is 1.014-1.018: ``analysis/rhat_tail.py``)
MARGINAL_R_HAT = 1.015


def classify(sims: pd.DataFrame) -> dict[str, int]:
    fits = sims[sims["status"] == "ok"]
    missed = fits[~fits["converged"].astype(bool)]
    calm = missed[missed["divergences"] == 0]
    mixed = calm[calm["ess_bulk_min"] >= 400]
    return {"fits": len(fits), "not converged": len(missed),
            "divergent": int((missed["divergences"] > 0).sum()),
            "slow (ESS < 400)": int((calm["ess_bulk_min"] < 400).sum()),
            "marginal R-hat": int((mixed["r_hat_max"] <= MARGINAL_R_HAT).sum()),
            "high R-hat": int((mixed["r_hat_max"] > MARGINAL_R_HAT).sum())}


def main(folders: list[str]) -> None:
    columns = ["fits", "not converged", "divergent", "slow (ESS < 400)", "marginal R-hat",
               "high R-hat"]
    print("| run | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for folder in folders:
        sims = pd.read_csv(Path(folder) / "sims.csv")
        model = sims["model"].iloc[0] if len(sims) else "?"
        row = classify(sims)
        print(f"| {model} ({Path(folder).name}) | "
              + " | ".join(str(row[c]) for c in columns) + " |")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
