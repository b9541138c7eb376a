"""Which numpy float64 functions give other bits with numpy's AVX-512 loops than without?
Runs the same inputs (a million values, seed 0) in two processes, one with every SIMD loop
(``NPY_DISABLE_CPU_FEATURES=""``) and one without the AVX-512 ones
(``config.NUMPY_DISABLED_SIMD``, what the command line sets on AVX-512 CPUs), both on the
pinned OpenBLAS kernel, and prints for each function whether the results are identical and
the largest difference in units of the last place. On a CPU without AVX-512 both runs are
the same run.

    python analysis/numpy_simd_ufuncs.py

docs/architecture.md, "Across machines", records what it found.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from burden import config

CHILD = """
import json, sys
import numpy as np
from burden.models.storage import numpy_simd_targets
x = np.random.default_rng(0).uniform(-20, 20, 1_000_000)
y = np.abs(x) + 1e-3
out = {"simd": numpy_simd_targets()}
for name, f, a in [("exp", np.exp, x), ("log", np.log, y), ("log1p", np.log1p, y),
                   ("expm1", np.expm1, x), ("tanh", np.tanh, x), ("sqrt", np.sqrt, y),
                   ("sum", np.sum, x), ("dot", lambda v: v @ v, x)]:
    out[name] = np.atleast_1d(f(a)).tolist()
json.dump(out, sys.stdout)
"""


def run(disabled: str) -> dict:
    env = dict(os.environ, NPY_DISABLE_CPU_FEATURES=disabled,
               OPENBLAS_CORETYPE=os.environ.get("OPENBLAS_CORETYPE",
                                                config.OPENBLAS_KERNEL_DEFAULT))
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, check=True,
                          capture_output=True, text=True)
    return json.loads(done.stdout)


def main() -> None:
    import numpy as np

    every, without = run(""), run(config.NUMPY_DISABLED_SIMD)
    print(f"numpy SIMD targets: every loop {every['simd']}; without AVX-512 {without['simd']}")
    for name in every:
        if name == "simd":
            continue
        a, b = np.asarray(every[name]), np.asarray(without[name])
        ulps = np.abs(a - b) / np.spacing(np.maximum(np.abs(a), np.abs(b)))
        print(f"{name}\t{'identical' if np.array_equal(a, b) else 'differs'}\t"
              f"values that differ {int((a != b).sum()):,} of {a.size:,}\t"
              f"max {float(ulps.max()):.1f} ulp")


if __name__ == "__main__":
    main()
