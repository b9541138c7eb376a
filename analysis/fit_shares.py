"""Example: fit the opium production and market-share models, check them against published
statements, and try another route prior (a script to read and adapt; the pipeline itself
runs `burden fit production` and `burden fit markets`).

    .venv/bin/python analysis/fit_shares.py                 # fit, save to models/examples/
    .venv/bin/python analysis/fit_shares.py --sampler pymc
    .venv/bin/python analysis/fit_shares.py --route "Western and Central Europe=0.6"

Reads data/processed/production_measurements.parquet and signature_shares.parquet (run
`burden data` first). Saves to models/examples/ so the pipeline's own fits are untouched.
"""

from __future__ import annotations

from burden import config

config.use_process_defaults()  # as the command line does, before numpy or Numba load

import argparse
import time
from pathlib import Path

from burden.fits import read_tables
from burden.models.markets import MarketShares
from burden.models.production import OpiumProduction
from burden.registry.keys import US

#: Published statements the fit is checked against (sources in docs/models/shares.md).
STATEMENTS = [
    ("AFG", 2017, "Afghanistan > 80% of world production (UNODC WDR)",
     lambda r: r["mean"] > 0.8),
    ("AFG", 2018, "Afghanistan > 80% of world production (UNODC WDR)",
     lambda r: r["mean"] > 0.8),
    ("MMR", 2017, "Myanmar about 5% of world production (UNODC)",
     lambda r: abs(r["mean"] - 0.05) < 0.015),
]


def production_report(model: OpiumProduction) -> str:
    s = model.summary()
    shares = s[s.measure == "share"].set_index(["source", "year"])
    lines = ["", model.summary_text(), "", "Against the published statements:"]
    draws = model.share_draws()
    for source, year, text, check in STATEMENTS:
        r = shares.loc[(source, year)]
        above = float((draws.sel(source=source, year=year) > 0.8).mean())
        prob = f", P(> 80%) = {above:.2f}" if "80%" in text else ""
        lines.append(f"  {text}, {year}: model {100 * r['mean']:.1f}% "
                     f"[{100 * r.lower:.1f}-{100 * r.upper:.1f}]{prob} -> "
                     f"{'agrees' if check(r) else 'DISAGREES'} (by the posterior mean)")
    return "\n".join(lines)


def markets_report(model: MarketShares) -> str:
    us = model.region_share_draws(US).sel(year=2015)
    mexico = us.sel(source_region="mexico")
    others = us.drop_sel(source_region="mexico").max("source_region")
    p_main = float((mexico > others).mean())
    verdict = (f"Mexico the main source of US heroin in 2015 (DEA): posterior "
               f"probability {p_main:.2f}, share {100 * float(mexico.mean()):.0f}%")
    return f"\n{model.summary_text()}\n\n{verdict}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sampler", default="nutpie", choices=["nutpie", "pymc", "numpyro"])
    parser.add_argument("--processed", default=None)
    parser.add_argument("--out", default=None, help="folder for the .nc files (models/)")
    parser.add_argument("--route", action="append", default=[],
                        help="override a route prior's main share: 'MARKET=0.6'")
    args = parser.parse_args()
    processed = Path(args.processed) if args.processed else config.processed_dir()
    out = Path(args.out) if args.out else config.models_dir() / "examples"
    sampler = {"nuts_sampler": args.sampler}

    start = time.perf_counter()
    production = OpiumProduction(sampler_config=sampler)
    production.fit(read_tables(OpiumProduction.data_tables, processed))
    print(f"production: {time.perf_counter() - start:.0f} s, "
          f"{production.convergence_report()}")
    production.save(out / "production.nc")
    print(production_report(production))

    overrides = {}
    for item in args.route:
        market, value = item.rsplit("=", 1)
        overrides[market] = {"main_share_mean": float(value)}
    start = time.perf_counter()
    markets = MarketShares({"route_overrides": overrides}, sampler, production=production)
    markets.fit(read_tables(MarketShares.data_tables, processed))
    print(f"markets: {time.perf_counter() - start:.0f} s, {markets.convergence_report()}")
    markets.save(out / "markets.nc")
    print(markets_report(markets))


if __name__ == "__main__":
    main()
