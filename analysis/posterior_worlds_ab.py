"""Posterior SBC worlds drawn by two commits from the same saved fit: time taken, and
whether every world's data and true values are the same bit for bit.

    python analysis/posterior_worlds_ab.py BEFORE AFTER [--model deaths] [--root DIR]
        [--fit PATH] [--simulations 20] [--seed 3]

BEFORE and AFTER are commits of this repository, each checked out in a temporary git
worktree and run in its own process with ``PYTHONPATH`` set to it, in this project's
environment, on the processed tables of ``--root`` (``BURDEN_ROOT``, default this
project) and its saved fit (default ``models/<model>.nc`` there). A change
to how the worlds are drawn must give the same worlds: a run already started (a
checkpoint or a pack) goes on only with the same worlds, and its fits' seeds and data
come from them. Used for docs/validation/sbc.md, "Posterior worlds".
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from worktrees import ROOT, commit_trees

#: run in the child: draw the worlds with the checked-out package, save them as arrays
CHILD = """
import os, sys, time, warnings
import numpy as np
warnings.simplefilter("ignore")
import burden
from burden.validate import posterior_sbc, sbc, sbc_specs
model, fit, n, seed, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
# the checked-out package, not the environment's own install
assert os.path.realpath(burden.__file__).startswith(os.path.realpath(os.getcwd())), burden.__file__
spec = sbc_specs.spec_for(model)
est = posterior_sbc.load_fit(spec, fit)
spec = posterior_sbc.posterior_spec(spec, est, fit)
start = time.perf_counter()
sims, _, _ = posterior_sbc.posterior_worlds(spec, est, fit, n, seed)
seconds = time.perf_counter() - start
arrays = {"seconds": np.asarray(seconds)}
for s in sims:
    arrays[f"{s.sim}/seed_world"] = np.asarray([s.seed, s.world])
    arrays.update({f"{s.sim}/data/{k}": np.asarray(v) for k, v in s.data.items()})
    arrays.update({f"{s.sim}/truth/{k}": np.asarray(v) for k, v in s.truth.items()})
np.savez(out, **arrays)
"""


def draw(code: Path, root: Path, model: str, fit: Path, n: int, seed: int, out: Path
         ) -> dict:
    env = {**os.environ, "PYTHONPATH": str(code), "BURDEN_ROOT": str(root)}
    subprocess.run([sys.executable, "-c", CHILD, model, str(fit), str(n), str(seed),
                    str(out)], env=env, cwd=code, check=True, stdout=subprocess.DEVNULL)
    with np.load(out) as f:
        return {k: f[k] for k in f.files}


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal dtype, shape and bytes (NaN payloads and -0.0 included)."""
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--model", default="deaths")
    parser.add_argument("--root", type=Path, default=ROOT,
                        help="project with data/processed (and models/) to use")
    parser.add_argument("--fit", type=Path, default=None)
    parser.add_argument("--simulations", type=int, default=20)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    if args.simulations < 1:
        parser.error("--simulations must be at least 1")
    root = args.root.resolve()
    fit = (args.fit or root / "models" / f"{args.model}.nc").resolve()
    with (tempfile.TemporaryDirectory(prefix="worlds-ab-") as tmp,
          commit_trees({"before": args.before, "after": args.after}, Path(tmp)) as trees):
        print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} "
              f"cores, load {os.getloadavg()[0]:.2f}; {args.simulations} worlds of {fit}, "
              f"seed {args.seed}", flush=True)
        drawn = {label: draw(path, root, args.model, fit, args.simulations, args.seed,
                             Path(tmp) / f"{label}.npz") for label, path in trees.items()}
    before, after = drawn["before"], drawn["after"]
    for label in ("before", "after"):
        print(f"{label} ({getattr(args, label)}): {float(drawn[label]['seconds']):.2f} s")
    keys = sorted(set(before) - {"seconds"})
    other = sorted(set(after) - {"seconds"})
    if keys != other:
        print("NOT THE SAME WORLDS: the two commits drew different arrays; only before: "
              f"{sorted(set(keys) - set(other))[:5]}, only after: "
              f"{sorted(set(other) - set(keys))[:5]}")
        sys.exit(1)
    differ = [k for k in keys if not same_bits(before[k], after[k])]
    values = sum(before[k].size for k in keys)
    print(f"{len(keys)} arrays, {values} values: "
          + ("all equal" if not differ else f"{len(differ)} differ, first {differ[:5]}"))
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
