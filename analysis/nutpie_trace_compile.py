"""nutpie's compile time of a model when its trace holds every variable (Deterministics
included) against the free variables only (what `BayesianEstimator.compiled_model` does).

    PYTENSOR_FLAGS=base_compiledir=<empty folder> python analysis/nutpie_trace_compile.py FIT all|free

Run each variant in its own process and its own compile folder (an empty one for a cold
compile; run again in the same folder for a warm one). Needs the processed tables (and,
for markets, the production fit).
"""

from __future__ import annotations

from burden import config

config.use_process_defaults()  # as the command line does, before numpy or Numba load

import sys
import time

import nutpie
import pytensor

from burden.fits import load_fit, read_tables, spec
from burden.models.base import NUMBA_FASTMATH


def main(name: str, which: str) -> None:
    if which not in ("all", "free"):
        raise SystemExit(__doc__)
    s = spec(name)
    cls = s.estimator
    est = cls(None, None, **({s.upstream: load_fit(s.upstream)} if s.upstream else {}))
    model = est.build_model(est.prepare_data(read_tables(cls.data_tables)))
    options = est.compile_options(model)
    if which == "free":
        options["var_names"] = [rv.name for rv in model.free_RVs]
    start = time.perf_counter()
    with pytensor.config.change_flags(numba__fastmath=NUMBA_FASTMATH):
        nutpie.compile_pymc_model(model, backend="numba", **options)
    print(f"{name} {which}: compile {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])
