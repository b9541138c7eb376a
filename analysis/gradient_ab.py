"""A model's log density and gradient at two commits, alternated in one run: the time of
one evaluation of the kernel the fits sample with, the compiled graph's size, and whether
the two commits give the same log density and gradient at the same points.

    python analysis/gradient_ab.py BEFORE AFTER [--model deaths] [--repeats 4]
        [--evals 2000] [--blocks 5] [--points 20] [--jitter 0.1] [--cold]

BEFORE and AFTER are commits of this repository from ab963c5 on (2026-12-02: the child
needs ``config.use_process_defaults``); the same commit twice measures the noise. Each is
checked out in a temporary git worktree; a child process with ``PYTHONPATH`` set to it
builds the model on this project's processed tables (``BURDEN_ROOT``: this folder) as its
fit would (``prepare_data``, ``build_model``; a model with an upstream fit reads the saved
one) and compiles it as the fit does (``BayesianEstimator.compiled_model``: nutpie's
Numba backend, fastmath off, without the in-place rewrite, its callbacks cached). It then
times nutpie's log density and gradient kernel (the Numba function its C callback calls,
on the joined free variables, without PyTensor's Python wrapper) over ``--evals`` calls in
``--blocks`` blocks, cycling over ``--points`` points: nutpie's initial point of seed 0 plus
Normal(0, ``--jitter``) noise (seed 0), and reports the median block. The runs alternate
(before, after, after, before, ...) so that a change of the machine's speed falls on both;
each row is the median over ``--repeats`` runs. A child's first compilation may be cold
(empty compile cache): its compile time is shown apart and never counted in the time per
call.

A change meant to keep the model's density (a cheaper graph for the same model) must give
the same values up to rounding: the last line counts the values that are equal and gives
the largest difference of the log density and of the gradient between the two commits at
the same points (relative to the value; absolute below 1). It needs the same free
variables and the same points (a reparameterisation is a new model and is refused here:
compare its fits instead, with its own calibration). ``--cold`` instead compiles BEFORE
into empty compile folders, then again from the folders that filled, and compares those
two. The time per evaluation times a fit's leapfrog steps (docs/models/deaths.md, "Speed")
is roughly its sampling time on one core; this script does not sample. It writes
nothing but a temporary folder and, as any fit does, the compile cache's entries.
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
from worktrees import ROOT, commit_trees

#: run in the child, with the commit's package first on ``sys.path``
CHILD = r"""
import json, sys, time
from burden import config
config.use_process_defaults()
import numpy as np
from burden.fits import load_fit, read_tables, spec

name, n_evals, n_blocks, n_points, jitter, out = (
    sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]),
    sys.argv[6])
s = spec(name)
upstream = {} if s.upstream is None else {s.upstream: load_fit(s.upstream)}
est = s.estimator(None, None, **upstream)
model = est.build_model(est.prepare_data(read_tables(s.estimator.data_tables)))
start = time.perf_counter()
compiled = est.compiled_model(model)
fn = compiled.logp_func  # nutpie's PyTensor function: (joined,) -> (logp, gradient)
kernel = fn.vm.jit_fn  # what nutpie's C callback calls, with the shared values after x
shared = [v.get_value(borrow=True) for v in fn.get_shared()]
x0 = np.asarray(compiled.initial_point_func(0), dtype="float64")
kernel(x0, *shared)
compile_s = time.perf_counter() - start
rng = np.random.default_rng(0)
xs = x0 + jitter * rng.standard_normal((n_points, x0.size))
values = [tuple(np.array(o, copy=True) for o in kernel(x, *shared)[:2]) for x in xs]
for i in range(50):
    kernel(xs[i % n_points], *shared)
per_block = max(n_evals // n_blocks, 1)
blocks = []
for _ in range(n_blocks):
    start = time.perf_counter()
    for i in range(per_block):
        kernel(xs[i % n_points], *shared)
    blocks.append((time.perf_counter() - start) / per_block)
np.savez(out + ".npz", points=xs, logp=np.array([float(v[0]) for v in values]),
         grad=np.stack([v[1].ravel() for v in values]))
json.dump({"per_call_us": float(np.median(blocks)) * 1e6, "compile_s": compile_s,
           "dims": int(x0.size), "nodes": len(fn.maker.fgraph.apply_nodes),
           "free": [rv.name for rv in model.free_RVs]}, open(out + ".json", "w"))
"""


def run_child(code: Path, args: argparse.Namespace, out: Path,
              cache: Path | None = None) -> dict:
    """One child at ``code``; ``cache``: PyTensor and Numba compile folders to use instead
    of the machine's (added to any ``PYTENSOR_FLAGS`` already set)."""
    env = {**os.environ, "PYTHONPATH": str(code), "BURDEN_ROOT": str(ROOT)}
    if cache is not None:
        flags = [f for f in (os.environ.get("PYTENSOR_FLAGS", ""),
                             f"base_compiledir={cache}") if f]
        env.update(PYTENSOR_FLAGS=",".join(flags), NUMBA_CACHE_DIR=str(cache / "numba_own"))
    proc = subprocess.run([sys.executable, "-c", CHILD, args.model, str(args.evals),
                           str(args.blocks), str(args.points), str(args.jitter), str(out)],
                          check=False, env=env, cwd=code, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{args.model} at {code} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(Path(f"{out}.json").read_text())
    with np.load(f"{out}.npz") as values:
        result.update({k: values[k] for k in ("points", "logp", "grad")})
    return result


def compare(x: np.ndarray, y: np.ndarray) -> str:
    """How many of ``x`` equal ``y``, and the largest difference (relative to the value,
    absolute below 1) among the finite ones."""
    same = int(np.sum(x == y))
    finite = np.isfinite(x) & np.isfinite(y)
    rel = (np.max(np.abs(x - y)[finite] / np.maximum(np.abs(y[finite]), 1.0))
           if finite.any() else float("nan"))
    text = (f"{same} of {x.size} equal, largest difference {rel:.3g} (relative to the "
            "value, or absolute below 1)")
    if not finite.all():
        text += f", {int((~finite).sum())} not finite in either"
    return text


def comparable(a: dict, b: dict) -> str | None:
    """Why the values of two runs cannot be compared, or None."""
    if a["free"] != b["free"] or a["grad"].shape != b["grad"].shape:
        return "not the same free variables (a reparameterisation is a new model)"
    if not np.array_equal(a["points"], b["points"]):
        return "not the same points (another initial point)"
    return None


def header(args: argparse.Namespace, what: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.2f}; {args.model}; {what}; {args.evals} evaluations "
          f"in {args.blocks} blocks at {args.points} points", flush=True)


def cold_against_warm(tree: Path, args: argparse.Namespace, tmp: Path) -> None:
    """``--cold``: BEFORE compiled into empty compile folders, then again loading from the
    folders that filled; their values at the same points."""
    header(args, f"{args.before} compiled cold, then warm from that cache")
    cache = tmp / "cache"
    cache.mkdir()
    cold = run_child(tree, args, tmp / "cold", cache)
    warm = run_child(tree, args, tmp / "warm", cache)
    print(f"cold: compile {cold['compile_s']:.1f} s, {cold['per_call_us']:.0f} µs; warm: "
          f"compile {warm['compile_s']:.1f} s, {warm['per_call_us']:.0f} µs")
    why = comparable(cold, warm)
    print(f"values not compared: {why}" if why else
          f"same points, cold against warm: log density {compare(cold['logp'], warm['logp'])}"
          f"; gradient {compare(cold['grad'], warm['grad'])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after", help="(not used with --cold)")
    parser.add_argument("--model", default="deaths")
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--evals", type=int, default=2000)
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--points", type=int, default=20)
    parser.add_argument("--jitter", type=float, default=0.1)
    parser.add_argument("--cold", action="store_true",
                        help="instead: BEFORE compiled cold against BEFORE loaded warm")
    args = parser.parse_args()
    commits = {"before": args.before} if args.cold else {"before": args.before,
                                                         "after": args.after}
    with (tempfile.TemporaryDirectory(prefix="gradient-ab-") as tmp,
          commit_trees(commits, Path(tmp)) as trees):
        if args.cold:
            cold_against_warm(trees["before"], args, Path(tmp))
            return
        header(args, f"before {args.before}, after {args.after}; median of "
                     f"{args.repeats} runs each")
        runs: dict[str, list[dict]] = {"before": [], "after": []}
        for k in range(args.repeats):
            # before, after, after, before, ...: a drift of the machine falls on both
            for label in (("before", "after") if k % 2 == 0 else ("after", "before")):
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
        b, a = runs["before"][-1], runs["after"][-1]
        why = comparable(a, b)
        print(f"values not compared: {why}" if why else
              f"same points: log density {compare(a['logp'], b['logp'])}; "
              f"gradient {compare(a['grad'], b['grad'])}")


if __name__ == "__main__":
    main()
