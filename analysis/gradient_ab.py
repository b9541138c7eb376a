"""A model's log density and gradient at two commits, alternated in one run: the time of
one evaluation as a sampler calls it, the compiled graph's size, and whether the two
commits give the same log density and gradient at the same points.

    python analysis/gradient_ab.py BEFORE AFTER [--model deaths] [--repeats 3]
        [--evals 2000] [--points 20] [--jitter 0.1] [--cold]

BEFORE and AFTER are commits of this repository (the same commit twice measures the
noise). Each is checked out in a temporary git worktree; a child process with
``PYTHONPATH`` set to it builds the model on this project's processed tables
(``BURDEN_ROOT``: this folder), as its fit would (``prepare_data``, ``build_model``; a
model with an upstream fit reads the saved one), compiles the log density and its gradient
over the raveled free variables with PyTensor's Numba backend (what nutpie samples with),
and times ``--evals`` calls cycling over ``--points`` points: the model's initial point
plus Normal(0, ``--jitter``) noise in the unconstrained space, the same points for both
commits (seed 0). The runs alternate (before, after, before, ...) so that a change of the
machine's speed falls on both; each row is the median over ``--repeats``. A child's first
compilation may be cold (empty compile cache): its compile time is shown apart and never
counted in the time per call.

A change meant to keep the model's density (a cheaper graph for the same model) must give
the same values up to rounding: the last line counts the values that are equal and gives
the largest difference of the log density and of the gradient between the two commits
at the same points (relative to the value; absolute below 1), from each commit's last
run, which loads its compiled code from the cache: a cold compilation's own code and the
cached copy of it differed in the last bits of 1,191 of the deaths gradient's 54,280
values (at most 2.5e-14 of the value; 2026-12-06 21:47 UTC, docs/performance.md,
"A benchmark of the gradient's cost"), so with ``--repeats 1`` after a change a
difference in the last bits may be the cache's (``--cold`` shows it: BEFORE's child
compiled into empty compile folders, then again loading from them). The comparison needs
the same free variables
in the same order (a reparameterisation is a new model and is refused here: compare its
fits instead, with its own calibration). The time per evaluation times the leapfrog
steps of a fit (docs/models/deaths.md, "Speed") is its sampling time; this script does not
sample. Nothing is saved but a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

#: run in the child, with the commit's package first on ``sys.path``
CHILD = r"""
import json, sys, time
from burden import config
config.use_process_defaults()
import numpy as np
from pymc.blocking import DictToArrayBijection
from burden.fits import load_fit, read_tables, spec

name, n_evals, n_points, jitter, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
    float(sys.argv[4]), sys.argv[5]
s = spec(name)
upstream = {} if s.upstream is None else {s.upstream: load_fit(s.upstream)}
est = s.estimator(None, None, **upstream)
model = est.build_model(est.prepare_data(read_tables(s.estimator.data_tables)))
start = time.perf_counter()
fn = model.logp_dlogp_function(ravel_inputs=True, mode="NUMBA")
point = model.initial_point(0)
names = [v.name for v in fn._grad_vars]
x0 = DictToArrayBijection.map({k: point[k] for k in names}).data
fn(x0)
compile_s = time.perf_counter() - start
rng = np.random.default_rng(0)
xs = x0 + jitter * rng.standard_normal((n_points, x0.size))
values = [fn(x) for x in xs]
for i in range(50):
    fn(xs[i % n_points])
start = time.perf_counter()
for i in range(n_evals):
    fn(xs[i % n_points])
per_call = (time.perf_counter() - start) / n_evals
np.savez(out + ".npz", logp=np.array([float(v[0]) for v in values]),
         grad=np.stack([np.asarray(v[1]) for v in values]))
json.dump({"per_call_us": per_call * 1e6, "compile_s": compile_s, "dims": int(x0.size),
           "nodes": len(fn._pytensor_function.maker.fgraph.apply_nodes),
           "free": names}, open(out + ".json", "w"))
"""


def run_child(code: Path, args: argparse.Namespace, out: Path,
              cache: Path | None = None) -> dict:
    """One child at ``code``; ``cache``: PyTensor and Numba compile folders to use instead
    of the machine's."""
    env = {**os.environ, "PYTHONPATH": str(code), "BURDEN_ROOT": str(ROOT)}
    if cache is not None:
        env.update(PYTENSOR_FLAGS=f"base_compiledir={cache}",
                   NUMBA_CACHE_DIR=str(cache / "numba_own"))
    proc = subprocess.run([sys.executable, "-c", CHILD, args.model, str(args.evals),
                           str(args.points), str(args.jitter), str(out)],
                          check=False, env=env, cwd=code, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{args.model} at {code} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(Path(f"{out}.json").read_text())
    with np.load(f"{out}.npz") as values:
        result["logp"], result["grad"] = values["logp"], values["grad"]
    return result


def compare(x: np.ndarray, y: np.ndarray) -> str:
    same = int(np.sum(x == y))
    rel = np.max(np.abs(x - y) / np.maximum(np.abs(y), 1.0))
    return (f"{same} of {x.size} equal, largest difference {rel:.3g} "
            "(relative to the value, or absolute below 1)")


def cold_against_warm(tree: Path, args: argparse.Namespace, tmp: Path) -> None:
    """``--cold``: the BEFORE commit's child compiled into empty compile folders, then
    again loading from the folders it filled; their values at the same points."""
    cache = tmp / "cache"
    cache.mkdir()
    cold = run_child(tree, args, tmp / "cold", cache)
    warm = run_child(tree, args, tmp / "warm", cache)
    print(f"cold: compile {cold['compile_s']:.1f} s, {cold['per_call_us']:.0f} µs; warm: "
          f"compile {warm['compile_s']:.1f} s, {warm['per_call_us']:.0f} µs")
    print(f"same points, cold against warm: log density {compare(cold['logp'], warm['logp'])}"
          f"; gradient {compare(cold['grad'], warm['grad'])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--model", default="deaths")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--evals", type=int, default=2000)
    parser.add_argument("--points", type=int, default=20)
    parser.add_argument("--jitter", type=float, default=0.1)
    parser.add_argument("--cold", action="store_true",
                        help="instead: BEFORE's values compiled cold against loaded warm")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gradient-ab-") as tmp:
        trees = {}
        for label, commit in (("before", args.before), ("after", args.after)):
            path = Path(tmp) / label
            subprocess.run(["git", "worktree", "add", "--detach", "-q", str(path), commit],
                           cwd=ROOT, check=True)
            trees[label] = path
        try:
            if args.cold:
                cold_against_warm(trees["before"], args, Path(tmp))
                return
            print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
                  f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; {args.model}; "
                  f"before {args.before}, after {args.after}; median of {args.repeats} "
                  f"runs of {args.evals} evaluations at {args.points} points", flush=True)
            runs: dict[str, list[dict]] = {"before": [], "after": []}
            for k in range(args.repeats):
                for label in ("before", "after"):
                    runs[label].append(run_child(trees[label], args,
                                                 Path(tmp) / f"{label}-{k}"))
            print("| version | free dimensions | graph nodes | first compile (s) | "
                  "per evaluation (µs) | range over runs (µs) |")
            print("|---|---|---|---|---|---|")
            for label in ("before", "after"):
                r = runs[label]
                times = [x["per_call_us"] for x in r]
                print(f"| {label} | {r[0]['dims']} | {r[0]['nodes']} | "
                      f"{r[0]['compile_s']:.1f} | {statistics.median(times):.0f} | "
                      f"{min(times):.0f}–{max(times):.0f} |", flush=True)
            ratio = (statistics.median(x["per_call_us"] for x in runs["after"])
                     / statistics.median(x["per_call_us"] for x in runs["before"]))
            print(f"after / before: {ratio:.3f}; load after {os.getloadavg()[0]:.2f}")
            # the last runs: by then both load their compiled code from the cache (a
            # cold compilation's code and the cached copy can differ in the last bits)
            b, a = runs["before"][-1], runs["after"][-1]
            if b["free"] != a["free"] or b["grad"].shape != a["grad"].shape:
                print("not the same free variables: the values are not compared (a "
                      "reparameterisation is a new model)")
            else:
                print(f"same points: log density {compare(a['logp'], b['logp'])}; "
                      f"gradient {compare(a['grad'], b['grad'])}")
        finally:
            for path in trees.values():
                subprocess.run(["git", "worktree", "remove", "--force", str(path)],
                               cwd=ROOT, check=False)


if __name__ == "__main__":
    main()
