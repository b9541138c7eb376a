"""Fit the opioid-deaths model on the real processed data and save it (models/deaths.nc).

    .venv/bin/python analysis/fit_deaths.py                     # defaults
    .venv/bin/python analysis/fit_deaths.py --sampler pymc --draws 2000 --out models/x.nc

Same as `burden fit deaths`. Prints the summary, the US correction and the convergence
report; a fit that falls short of R-hat <= 1.01, bulk ESS >= 400, no divergences raises a
ConvergenceWarning and this script exits with status 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from burden import config
from burden.models.deaths import OpioidDeaths, fit_from_processed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processed", type=Path, default=config.processed_dir())
    parser.add_argument("--out", type=Path, default=config.models_dir() / "deaths.nc")
    parser.add_argument("--sampler", choices=["nutpie", "pymc", "numpyro"], default=None)
    parser.add_argument("--draws", type=int, default=None)
    parser.add_argument("--tune", type=int, default=None)
    parser.add_argument("--forecast-to", type=int, default=None)
    args = parser.parse_args()
    sampler_config = {k: v for k, v in {"nuts_sampler": args.sampler, "draws": args.draws,
                                        "tune": args.tune}.items() if v is not None}
    model_config = {"forecast_to": args.forecast_to} if args.forecast_to else None
    path = fit_from_processed(args.processed, args.out, model_config=model_config,
                              sampler_config=sampler_config)
    model = OpioidDeaths.load(path)
    print(f"saved {path}")
    print(model.summary_text())
    print(model.us_correction_ratio_summary().round(1).to_string(index=False))
    print(model.diagnostics().round(3).to_string(index=False))
    return 0 if model.convergence_report()["converged"] else 1


if __name__ == "__main__":
    sys.exit(main())
