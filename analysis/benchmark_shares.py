"""Benchmark the real-data OpiumProduction and MarketShares fits with each NUTS sampler (a
benchmark, not a test).

Each (model, sampler) runs in its own subprocess, so peak memory is its own and compilation is
cold: wall time (data -> convergence check, including compilation), compile time, sampling
time, min bulk ESS, ESS per second of wall time, max R-hat, divergences, peak resident memory.

    .venv/bin/python analysis/benchmark_shares.py                   # nutpie and pymc
    .venv/bin/python analysis/benchmark_shares.py --samplers nutpie,pymc,numpyro

Reads data/processed/*.parquet (run `burden data` first). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
import warnings
from pathlib import Path

from benchmark_common import run_child, timed_sample


def run_one(which: str, sampler: str, processed: Path, production_path: Path) -> dict:
    start = time.perf_counter()
    import pandas as pd

    from burden.models.markets import MarketShares
    from burden.models.production import OpiumProduction

    if which == "production":
        model = OpiumProduction(sampler_config={"nuts_sampler": sampler})
        data = {"production_measurements":
                pd.read_parquet(processed / "production_measurements.parquet")}
    else:
        model = MarketShares(sampler_config={"nuts_sampler": sampler},
                             production=OpiumProduction.load(production_path))
        data = {"signature_shares": pd.read_parquet(processed / "signature_shares.parquet")}
    model._data = model.prepare_data(data)
    model.build_model(model._data)
    compile_s, sample_s = timed_sample(model, sampler)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = model.check_convergence(warn=False)
    wall = time.perf_counter() - start
    return {
        "model": which, "sampler": sampler, "wall_s": wall, "compile_s": compile_s,
        "sample_s": sample_s, "min_bulk_ess": report["ess_bulk_min"],
        "worst_ess": report["worst_ess"], "ess_per_s": report["ess_bulk_min"] / wall,
        "max_r_hat": report["r_hat_max"], "worst_r_hat": report["worst_r_hat"],
        "divergences": report["divergences"], "converged": report["converged"],
        "peak_mem_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samplers", default="nutpie,pymc")
    parser.add_argument("--models", default="production,markets")
    parser.add_argument("--processed", default=None, help="default: data/processed")
    parser.add_argument("--production", default=None,
                        help="saved production fit for the markets model (default: "
                             "models/production.nc)")
    parser.add_argument("--one", nargs=2, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    from burden import config

    processed = Path(args.processed) if args.processed else config.processed_dir()
    production_path = Path(args.production or config.models_dir() / "production.nc")
    if args.one:
        print("RESULT " + json.dumps(run_one(*args.one, processed, production_path)))
        return
    rows = []
    for which in args.models.split(","):
        for sampler in args.samplers.split(","):
            row = run_child([__file__, "--one", which, sampler, "--processed",
                             str(processed), "--production", str(production_path)],
                            f"{which}/{sampler}")
            if row is not None:
                rows.append(row)
    print("| model | sampler | wall s | compile s | sample s | min bulk ESS | ESS/s | "
          "max R-hat | divergences | peak memory MB | converged |")
    print("|---" * 11 + "|")
    for r in rows:
        print(f"| {r['model']} | {r['sampler']} | {r['wall_s']:.0f} | {r['compile_s']:.0f} | "
              f"{r['sample_s']:.0f} | {r['min_bulk_ess']:.0f} ({r['worst_ess']}) | "
              f"{r['ess_per_s']:.1f} | {r['max_r_hat']:.3f} ({r['worst_r_hat']}) | "
              f"{r['divergences']} | {r['peak_mem_mb']:.0f} | {r['converged']} |")


if __name__ == "__main__":
    main()
