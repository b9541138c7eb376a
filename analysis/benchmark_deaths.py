"""Benchmark the full real-data OpioidDeaths fit with each NUTS sampler (a benchmark, not a test).

Each sampler runs in its own subprocess (so peak memory is its own and compilation is cold):
wall time (data -> converged check, including compilation), compile time, sampling time,
min bulk ESS over every reported quantity and parameter, ESS per second of wall time,
max R-hat, divergences and peak resident memory (getrusage of the child).

    .venv/bin/python analysis/benchmark_deaths.py                      # nutpie and pymc
    .venv/bin/python analysis/benchmark_deaths.py --samplers nutpie,pymc,numpyro
    .venv/bin/python analysis/benchmark_deaths.py --country-effects non_centred

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


def run_one(sampler: str, processed: Path, effects: str) -> dict:
    """Fit once with ``sampler``; return the measurements (runs inside the child)."""
    start = time.perf_counter()

    from burden.models.deaths import OpioidDeaths, read_processed

    model = OpioidDeaths({"country_effects": effects}, {"nuts_sampler": sampler})
    data = model.prepare_data(read_processed(processed))
    model._data = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        pm_model = model.build_model(data)
    model.model = pm_model
    compile_s, sample_s = timed_sample(model, sampler)
    model._attach_fit_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = model.check_convergence(warn=False)
    wall = time.perf_counter() - start
    return {
        "sampler": sampler, "country_effects": effects, "wall_s": wall,
        "compile_s": compile_s, "sample_s": sample_s,
        "min_bulk_ess": report["ess_bulk_min"], "worst_ess": report["worst_ess"],
        "ess_per_s": report["ess_bulk_min"] / wall, "max_r_hat": report["r_hat_max"],
        "worst_r_hat": report["worst_r_hat"], "divergences": report["divergences"],
        "converged": report["converged"],
        "peak_mem_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samplers", default="nutpie,pymc")
    parser.add_argument("--processed", default=None, help="default: data/processed")
    parser.add_argument("--country-effects", default="centred",
                        choices=["centred", "non_centred"])
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    from burden import config

    processed = Path(args.processed) if args.processed else config.processed_dir()
    if args.one:
        print("RESULT " + json.dumps(run_one(args.one, processed, args.country_effects)))
        return
    rows = []
    for sampler in args.samplers.split(","):
        row = run_child([__file__, "--one", sampler, "--processed", str(processed),
                         "--country-effects", args.country_effects], sampler)
        if row is not None:
            rows.append(row)
    header = ("| sampler | effects | wall s | compile s | sample s | min bulk ESS | ESS/s | "
              "max R-hat | divergences | peak memory MB | converged |")
    print(header)
    print("|---" * 11 + "|")
    for r in rows:
        print(f"| {r['sampler']} | {r['country_effects']} | {r['wall_s']:.0f} | "
              f"{r['compile_s']:.0f} | {r['sample_s']:.0f} | {r['min_bulk_ess']:.0f} "
              f"({r['worst_ess']}) | {r['ess_per_s']:.1f} | {r['max_r_hat']:.3f} "
              f"({r['worst_r_hat']}) | {r['divergences']} | {r['peak_mem_mb']:.0f} | "
              f"{r['converged']} |")


if __name__ == "__main__":
    main()
