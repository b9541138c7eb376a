"""Build the HTML report from the saved models and the processed tables.

    python reports/build_report.py [--models models] [--processed data/processed]
                                   [--out reports/output] [--countries USA,CAN,...]

Reads models/{deaths,production,markets,attribution}.nc and data/processed/*.parquet;
writes reports/output/index.html, reports/output/figures/*.png|svg and
reports/output/tables/*.csv. A missing model is an error unless --allow-missing is given, in
which case the report shows which parts are not available. ``--demo`` builds the page from
synthetic inputs (a red banner says so) to preview the layout.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # a script: never open windows, even where a display exists

from burden import config
from burden.report.build import MissingInputsError, ReportOptions, build_from_saved, build_report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", type=Path, default=config.models_dir(),
                   help="folder of saved models (default: %(default)s)")
    p.add_argument("--processed", type=Path, default=config.processed_dir(),
                   help="folder of processed tables (default: %(default)s)")
    p.add_argument("--raw", type=Path, default=config.raw_dir(),
                   help="raw files, hashed for provenance (default: %(default)s)")
    p.add_argument("--out", type=Path, default=config.reports_dir(),
                   help="output folder (default: %(default)s)")
    p.add_argument("--backtest", type=Path, default=None,
                   help="back-test CSV (columns model, observed, lower, upper[, nominal], "
                   "or the scored table of analysis/backtest_deaths.py); default: "
                   "<models>/deaths_backtest.csv when it exists")
    p.add_argument("--countries", default="",
                   help="comma-separated ISO3 codes for the country panels (default: the "
                   "six with most deaths in the last data year)")
    p.add_argument("--year", type=int, default=None,
                   help="year of the country ranking (default: last data year)")
    p.add_argument("--market", default="USA", help="destination market (default: USA)")
    p.add_argument("--no-ppc", action="store_true",
                   help="skip posterior predictive checks of models saved without them")
    p.add_argument("--allow-missing", action="store_true",
                   help="build a partial report when some models are missing")
    p.add_argument("--demo", action="store_true",
                   help="synthetic inputs (layout preview; not estimates)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    options = ReportOptions(
        countries=[c.strip() for c in args.countries.split(",") if c.strip()] or None,
        ranking_year=args.year, market=args.market)
    if args.demo:
        from burden.report.synthetic import synthetic_inputs

        path = build_report(synthetic_inputs(), args.out, options)
    else:
        try:
            path = build_from_saved(args.out, models_dir=args.models,
                                    processed_dir=args.processed, raw_dir=args.raw,
                                    backtest=args.backtest, ppc=not args.no_ppc,
                                    allow_missing=args.allow_missing, options=options)
        except MissingInputsError as err:
            print(f"{err}\n(use --allow-missing for a partial report)", file=sys.stderr)
            return 2
    print(f"report written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
