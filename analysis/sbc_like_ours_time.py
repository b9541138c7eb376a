"""Time of drawing the certified model's 200 prior worlds like ours (``--worlds
like-ours``, what ``make sbc SBC_MODELS=certified`` draws before any fit), seeds 1 and 2:
prior draws only, no fit. Prints the time, the prior worlds examined and the positions of
the worlds kept (the same positions before and after a change means the same worlds).

    python analysis/sbc_like_ours_time.py

Reads the project's processed tables (``make data``).
"""

from __future__ import annotations

from burden import config

config.use_process_defaults()  # as the command line does, before numpy or Numba load

import logging
import time
import warnings

from burden.validate import sbc, sbc_specs


def main() -> None:
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)  # the undrawable worlds' warnings
    spec = sbc_specs.certified_spec()
    for seed in (1, 2):
        start = time.perf_counter()
        sims, _, record = sbc.simulate_worlds(spec, 200, seed, "like-ours")
        worlds = [s.world for s in sims]
        print(f"seed {seed}: 200 worlds like ours of the first {record['examined']} in "
              f"{time.perf_counter() - start:.1f} s; worlds {worlds[:5]} ... {worlds[-1]}")


if __name__ == "__main__":
    main()
