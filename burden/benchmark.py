"""Benchmarks of the real-data fits (benchmarks, not tests): ``burden benchmark MODEL``.

Each (model, sampler) runs in its own Python process, so compilation is cold in that process
and peak memory is its own. A row gives wall time (data -> convergence check), compile and
sampling time apart (nutpie: measured separately; PyMC's NUTS compiles inside sampling),
the mean leapfrog steps a kept draw and step size (a sampler's cost a draw: steps times
the cost of one log density and gradient), min bulk ESS over every checked quantity, ESS
per second of wall time and of sampling time, max R-hat, divergences, peak resident
memory, and the machine's load average at the start. Prints a Markdown table; record it
with its date in the model docs.
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

import numpy as np

from burden.fits import FITS, load_fit, read_tables, spec

#: leapfrog steps a draw and the adapted step size, by the names each sampler records
#: them under, the first found: ``n_steps`` for nutpie and for PyMC's NUTS (its
#: ``tree_size``, renamed so by PyMC's conversion to InferenceData; a raw trace keeps
#: ``tree_size``); ``step_size_bar`` for both (nutpie's ``step_size`` is jittered about
#: it draw by draw; PyMC's is the dual averaging's last iterate, not the step the draws
#: take)
STEP_STATS = {"steps_per_draw": ("n_steps", "tree_size"),
              "step_size": ("step_size_bar", "step_size")}


def step_stats(sample_stats) -> dict:
    """Mean leapfrog steps a kept draw and mean step size over every chain and draw, from
    a fit's ``sample_stats`` (``STEP_STATS``); NaN where the sampler records neither."""
    out = {}
    for key, names in STEP_STATS.items():
        found = next((n for n in names if n in sample_stats), None)
        out[key] = (float(np.mean(np.asarray(sample_stats[found]))) if found is not None
                    else float("nan"))
    return out


def run_one(name: str, sampler: str, model_config: dict | None = None,
            seed: int | None = None) -> dict:
    """Fit ``name`` once with ``sampler`` (and ``seed``, default: the model's) in this
    process and measure it."""
    start = time.perf_counter()
    s = spec(name)
    kwargs = {s.upstream: load_fit(s.upstream)} if s.upstream else {}
    sampler_config = {"nuts_sampler": sampler}
    if seed is not None:
        sampler_config["random_seed"] = seed
    model = s.estimator(model_config, sampler_config, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(read_tables(model.data_tables), progressbar=False)
        report = model.check_convergence(warn=False)
    wall = time.perf_counter() - start
    return {
        "model": name, "sampler": sampler, "seed": model.fit_sampler_config.random_seed,
        "wall_s": wall, "build_s": model.timings.get("build_s", float("nan")),
        "compile_s": model.timings.get("compile_s", float("nan")),
        "sample_s": model.timings["sample_s"], **step_stats(model.idata["sample_stats"]),
        "min_bulk_ess": report["ess_bulk_min"],
        "worst_ess": report["worst_ess"], "ess_per_s": report["ess_bulk_min"] / wall,
        "ess_per_sample_s": report["ess_bulk_min"] / model.timings["sample_s"],
        "max_r_hat": report["r_hat_max"], "worst_r_hat": report["worst_r_hat"],
        "divergences": report["divergences"], "converged": report["converged"],
        "peak_mem_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_child(name: str, sampler: str, model_config: dict | None,
              seed: int | None = None) -> dict | None:
    """``run_one`` in a fresh process; None (reported on stderr) when it fails."""
    argv = [sys.executable, "-m", "burden.benchmark", name, sampler,
            json.dumps(model_config or {}), json.dumps(seed)]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not lines:
        print(f"{name}/{sampler} failed:\n{proc.stderr[-3000:]}", file=sys.stderr)
        return None
    return json.loads(lines[-1][len("RESULT "):])


def benchmark(names: list[str], samplers: list[str], model_config: dict | None = None,
              seeds: list[int] | None = None) -> list[dict]:
    """Run every (model, sampler, seed) in its own process (a cold compile each) and print
    the Markdown table; the load average is printed at the start and after each run."""
    unknown = [n for n in names if n not in FITS]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; known: {', '.join(FITS)}")
    load = os.getloadavg()
    print(f"benchmark {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, load "
          f"average at start {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1/5/15 min)")
    rows = []
    for name in names:
        for sampler in samplers:
            for seed in seeds or [None]:
                row = run_child(name, sampler, model_config, seed)
                if row is not None:
                    row["load_after"] = os.getloadavg()[0]
                    print(f"done {name}/{sampler}/{row['seed']} {datetime.now(UTC):%H:%M} "
                          f"UTC, load {row['load_after']:.2f}", file=sys.stderr)
                    rows.append(row)
    print(markdown_table(rows))
    return rows


COLUMNS = ("model", "sampler", "seed", "wall s", "build s", "compile s", "sample s",
           "steps a draw", "step size", "min bulk ESS", "ESS/s", "ESS/s sampling",
           "max R-hat", "divergences", "peak memory MB", "load after", "converged")


def markdown_table(rows: list[dict]) -> str:
    """The benchmark's rows as a Markdown table of ``COLUMNS``."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|---" * len(COLUMNS) + "|"]
    for r in rows:
        cells = [r["model"], r["sampler"], r["seed"], f"{r['wall_s']:.0f}",
                 f"{r['build_s']:.1f}", f"{r['compile_s']:.0f}", f"{r['sample_s']:.0f}",
                 f"{r['steps_per_draw']:.1f}", f"{r['step_size']:.3f}",
                 f"{r['min_bulk_ess']:.0f} ({r['worst_ess']})", f"{r['ess_per_s']:.1f}",
                 f"{r['ess_per_sample_s']:.1f}", f"{r['max_r_hat']:.3f} ({r['worst_r_hat']})",
                 r["divergences"], f"{r['peak_mem_mb']:.0f}", f"{r['load_after']:.2f}",
                 r["converged"]]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":  # the child process of run_child
    seed_arg = json.loads(sys.argv[4]) if len(sys.argv) > 4 else None
    result = run_one(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), seed_arg)
    print("RESULT " + json.dumps(result))
