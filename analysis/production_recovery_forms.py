"""The production model's parameterisations on the recovery test's simulated worlds.

    python analysis/production_recovery_forms.py [SEEDS] [DRAWS]

SEEDS (default ``11,12,13,14,15``, the recovery test's ``RECOVERY_SEEDS``) names the
simulated data sets of ``tests/test_production.py`` (``_simulate``: four sources,
2000-2011, the test's true error and walk scales); DRAWS (default 400, the test's) is the
draws a chain. Each data set is fitted with the test's sampler settings and seed under
four forms, the yield walk centred or partially centred (``yield_centring``) and the area
walks' anchors centred or not (``anchor_centring``): the same prior, other coordinates.
Prints one line a fit: max R-hat and min bulk ESS with the worst variables, divergences,
the true values inside their central 90% intervals (the test's count) and the fit's wall
time. Run from the project folder (it imports the test module). Nothing is saved.
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import test_production as tp

from burden.models.production import OpiumProduction

FORMS = {
    "yield centred, anchor centred": {"yield_centring": "centred",
                                      "anchor_centring": "centred"},
    "yield centred, anchor non-centred": {"yield_centring": "centred",
                                          "anchor_centring": "non-centred"},
    "yield partial, anchor centred": {"yield_centring": "partial",
                                      "anchor_centring": "centred"},
    "yield partial, anchor non-centred": {"yield_centring": "partial",
                                          "anchor_centring": "non-centred"},
}


def main(seeds: list[int], draws: int) -> None:
    for seed in seeds:
        table, truth = tp._simulate(seed)
        for name, form in FORMS.items():
            est = OpiumProduction(
                {"sources": tp.SMALL_SOURCES, "years": tp.SMALL_YEARS, **form},
                {**tp.SMALL_SAMPLER, "random_seed": seed, "draws": draws})
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est.fit({"production_measurements": table}, progressbar=False)
            r = est.convergence_report()
            inside, total = tp._inside_90(est, truth)
            print(f"data set {seed}, {name}, {draws} draws: max R-hat {r['r_hat_max']:.4f} "
                  f"({r['worst_r_hat']}), min bulk ESS {r['ess_bulk_min']:.0f} "
                  f"({r['worst_ess']}), {r['divergences']} divergences, {inside}/{total} "
                  f"inside 90%, {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    main([int(s) for s in (args[0] if args else "11,12,13,14,15").split(",")],
         int(args[1]) if len(args) > 1 else 400)
