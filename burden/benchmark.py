"""Benchmarks of the real-data fits (benchmarks, not tests): ``burden benchmark MODEL``.

Each (model, sampler) runs in its own Python process, so compilation is cold in that process
and peak memory is its own. A row gives wall time (data -> convergence check), compile and
sampling time apart (nutpie: measured separately; PyMC's NUTS compiles inside sampling),
min bulk ESS over every checked quantity, ESS per second of wall time, max R-hat,
divergences, peak resident memory, and the machine's load average at the start. Prints a
Markdown table; record it with its date in the model docs.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
import warnings
from datetime import UTC, datetime

from burden.fits import FITS, load_fit, read_tables, spec


def run_one(name: str, sampler: str, model_config: dict | None = None) -> dict:
    """Fit ``name`` once with ``sampler`` in this process and measure it."""
    start = time.perf_counter()
    s = spec(name)
    kwargs = {s.upstream: load_fit(s.upstream)} if s.upstream else {}
    model = s.estimator(model_config, {"nuts_sampler": sampler}, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(read_tables(model.data_tables), progressbar=False)
        report = model.check_convergence(warn=False)
    wall = time.perf_counter() - start
    return {
        "model": name, "sampler": sampler, "wall_s": wall,
        "compile_s": model.timings.get("compile_s", float("nan")),
        "sample_s": model.timings["sample_s"], "min_bulk_ess": report["ess_bulk_min"],
        "worst_ess": report["worst_ess"], "ess_per_s": report["ess_bulk_min"] / wall,
        "max_r_hat": report["r_hat_max"], "worst_r_hat": report["worst_r_hat"],
        "divergences": report["divergences"], "converged": report["converged"],
        "peak_mem_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_child(name: str, sampler: str, model_config: dict | None) -> dict | None:
    """``run_one`` in a fresh process; None (reported on stderr) when it fails."""
    argv = [sys.executable, "-m", "burden.benchmark", name, sampler,
            json.dumps(model_config or {})]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not lines:
        print(f"{name}/{sampler} failed:\n{proc.stderr[-3000:]}", file=sys.stderr)
        return None
    return json.loads(lines[-1][len("RESULT "):])


def benchmark(names: list[str], samplers: list[str], model_config: dict | None = None
              ) -> list[dict]:
    """Run every (model, sampler) in its own process and print the Markdown table."""
    unknown = [n for n in names if n not in FITS]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; known: {', '.join(FITS)}")
    load = os.getloadavg()
    print(f"benchmark {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, load "
          f"average at start {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1/5/15 min)")
    rows = []
    for name in names:
        for sampler in samplers:
            row = run_child(name, sampler, model_config)
            if row is not None:
                print(f"done {name}/{sampler}", file=sys.stderr)
                rows.append(row)
    print("| model | sampler | wall s | compile s | sample s | min bulk ESS | ESS/s | "
          "max R-hat | divergences | peak memory MB | converged |")
    print("|---" * 11 + "|")
    for r in rows:
        print(f"| {r['model']} | {r['sampler']} | {r['wall_s']:.0f} | {r['compile_s']:.0f} | "
              f"{r['sample_s']:.0f} | {r['min_bulk_ess']:.0f} ({r['worst_ess']}) | "
              f"{r['ess_per_s']:.1f} | {r['max_r_hat']:.3f} ({r['worst_r_hat']}) | "
              f"{r['divergences']} | {r['peak_mem_mb']:.0f} | {r['converged']} |")
    return rows


if __name__ == "__main__":  # the child process of run_child
    result = run_one(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]))
    print("RESULT " + json.dumps(result))
