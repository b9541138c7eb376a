"""Post-processing steps of two commits, alternated in one run: wall, user and system CPU
time and peak memory of each, median over repeats.

    python analysis/steps_ab.py BEFORE AFTER [--repeats 3] [--steps "summarise deaths;attribute"]

BEFORE and AFTER are commits of this repository. Each is checked out in a temporary git
worktree and run with ``PYTHONPATH`` set to it, in this project's environment, on this
project's data and saved fits (``BURDEN_ROOT``: the fits are read and the result tables
rewritten in place, as ``make`` would). The runs alternate (before, after, before, ...) so
that a change of the machine's speed during the run falls on both. Used for
docs/performance.md, "Memory is CPU time here".
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from worktrees import ROOT, commit_trees

DEFAULT_STEPS = "summarise deaths;attribute;summarise attribution"


def run_step(code: Path, step: str) -> dict[str, float]:
    """One ``burden STEP`` with the package of ``code`` (run from there: ``python -c``
    puts the working folder first on ``sys.path``); its times and peak memory."""
    env = {**os.environ, "PYTHONPATH": str(code), "BURDEN_ROOT": str(ROOT)}
    start = time.perf_counter()
    program = "import sys; from burden.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen([sys.executable, "-c", program, *shlex.split(step)], env=env,
                            cwd=code, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # this child's own usage (RUSAGE_CHILDREN's peak is the largest of every child so far)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{step!r} with {code} failed")
    return {"wall": wall, "user": usage.ru_utime, "system": usage.ru_stime,
            "peak_mb": usage.ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", default=DEFAULT_STEPS, help="';'-separated")
    args = parser.parse_args()
    steps = [s.strip() for s in args.steps.split(";") if s.strip()]
    with (tempfile.TemporaryDirectory(prefix="steps-ab-") as tmp,
          commit_trees({"before": args.before, "after": args.after}, Path(tmp)) as trees):
        print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
              f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; before "
              f"{args.before}, after {args.after}; median of {args.repeats}", flush=True)
        print("| step | version | wall (s) | user (s) | system (s) | CPU (s) | peak (MB) |")
        print("|---|---|---|---|---|---|---|")
        for step in steps:
            runs = {"before": [], "after": []}
            for _ in range(args.repeats):
                for label in ("before", "after"):
                    runs[label].append(run_step(trees[label], step))
            for label in ("before", "after"):
                med = {k: statistics.median(r[k] for r in runs[label])
                       for k in runs[label][0]}
                print(f"| {step} | {label} | {med['wall']:.1f} | {med['user']:.1f} | "
                      f"{med['system']:.1f} | {med['user'] + med['system']:.1f} | "
                      f"{med['peak_mb']:.0f} |", flush=True)
        print(f"load after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
