"""The production model's parameterisations on the recovery test's simulated worlds.

    python analysis/production_recovery_forms.py [SEEDS] [DRAWS] [--weights | --options]

SEEDS (default ``11,12,13,14,15``, the recovery test's ``RECOVERY_SEEDS``) names the
simulated data sets of ``tests/test_production.py`` (``_simulate``: four sources,
2000-2011, the test's true error and walk scales); DRAWS (default 400, the test's) is the
draws a chain. Each data set is fitted with the test's sampler settings and seed under
four forms, the yield walk centred or partially centred (``yield_centring``) and the area
walks' anchors centred or not (``anchor_centring``): the same prior, other coordinates.
Prints one line a fit: max R-hat and min bulk ESS with the worst variables, divergences,
the true values inside their central 90% intervals (the test's count) and the fit's wall
time. Run from the project folder (it imports the test module). Nothing is saved.

``--weights`` fits the partial yield walk (anchors non-centred) with other centring weights
instead, subclasses defined here (each with its own model type, so each compiles its own
sampler): constant weights 0, 0.5 and 0.8 (no dependence on any parameter), and a weight
per source from every figure that pins its yields (a yield figure adds 1 / (floor^2 +
sigma_production^2) to a pinned year's precision, an area and production pair of a series
1 / (2 floor^2 + sigma_production^2 + sigma_area^2); the error variance is one over the
mean precision of the source's pinned years), and s^2 / (s^2 + 0.0214), which moves with
``yield_year_sd`` only (0.0214: the pair error variance at the test's true scales).

``--options`` fits the model's own other yield centrings instead, anchors non-centred:
``"constant"`` with weight 0.5 and ``"floors"`` (``ProductionConfig.yield_centring``).
"""

from __future__ import annotations

from burden import config

config.use_process_defaults()  # as the command line does, before numpy or Numba load

import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytensor.tensor as pt

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import test_production as tp

from burden.models.production import OpiumProduction
from burden.models.production_walk import walk_design, walk_levels

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


PARTIAL = FORMS["yield partial, anchor non-centred"]

#: ``--options``: the model's other yield centrings (anchors non-centred), as options
OPTION_FORMS = {
    "yield constant 0.5, anchor non-centred": {
        "yield_centring": "constant", "yield_centring_weight": 0.5,
        "anchor_centring": "non-centred"},
    "yield floors, anchor non-centred": {"yield_centring": "floors",
                                         "anchor_centring": "non-centred"},
}


class _WeightedYieldWalk(OpiumProduction):
    """The partial yield walk with the centring weight of ``weight`` (source,)."""

    def weight(self, m, sd, obs_sigma):
        raise NotImplementedError

    def _log_yield(self, m, mean, sd, obs_sigma):
        n, n_years = len(self.sources), len(self.years)
        design = walk_design(self.yield_pinned_years(m), np.zeros(n, dtype=int),
                             np.zeros((n, n_years - 1), dtype=bool))
        return walk_levels(design, mean, pt.zeros(n) + sd, 1.0, free_name="log_yield_free",
                           innovation_name="yield_innovation", sources=list(self.sources),
                           years=self.years.tolist(),
                           centring=pt.zeros(n) + self.weight(m, sd, obs_sigma))


def constant_weight(w: float) -> type[OpiumProduction]:
    class Constant(_WeightedYieldWalk):
        _model_type = f"opium_production_constant_weight_{w}"

        def weight(self, m, sd, obs_sigma):
            return w
    return Constant


class EveryFigureWeight(_WeightedYieldWalk):
    _model_type = "opium_production_every_figure_weight"

    def weight(self, m, sd, obs_sigma):
        n, n_years = len(self.sources), len(self.years)
        pinned = self.yield_pinned_years(m)
        single = m.members.sum(1) == 1
        count = {}
        for key, kinds in (("yield", ("yield",)), ("area", ("area",)),
                           ("production", ("production", "share"))):
            for series in (0, 1):
                c = np.zeros((n, n_years))
                for row in np.flatnonzero(single & np.isin(m.kind, kinds)
                                          & (m.series == series)):
                    c[np.flatnonzero(m.members[row])[0], m.year_idx[row]] += 1
                count[key, series] = c
        floor2 = self.model_config.obs_sd_floor ** 2
        precision = 0.0
        for series in (0, 1):
            pair = (count["area", series] > 0) & (count["production", series] > 0)
            precision = (precision
                         + count["yield", series] / (floor2 + obs_sigma[series, 0] ** 2)
                         + pair / (2 * floor2 + obs_sigma[series, 0] ** 2
                                   + obs_sigma[series, 1] ** 2))
        mean_precision = (precision * pinned).sum(axis=1) / np.maximum(pinned.sum(1), 1)
        return sd ** 2 / (sd ** 2 + 1.0 / pt.maximum(mean_precision, 1e-12))


class ScaleOnlyWeight(_WeightedYieldWalk):
    """s^2 / (s^2 + e^2) with e^2 fixed at 0.0214, the pair error variance at the recovery
    test's true error scales (``TRUE_FIXED``: 2 x 0.05^2 + 0.08^2 + 0.10^2): the weight
    moves with ``yield_year_sd`` only. A diagnostic (it reads the test's truth)."""

    _model_type = "opium_production_scale_only_weight"

    def weight(self, m, sd, obs_sigma):
        return sd ** 2 / (sd ** 2 + 0.0214)


WEIGHTED = {
    "partial, constant weight 0": constant_weight(0.0),
    "partial, constant weight 0.5": constant_weight(0.5),
    "partial, constant weight 0.8": constant_weight(0.8),
    "partial, weight from every figure": EveryFigureWeight,
    "partial, weight of yield_year_sd only": ScaleOnlyWeight,
}


def main(seeds: list[int], draws: int, weights: bool = False, options: bool = False
         ) -> None:
    if weights:
        forms = {name: (cls, PARTIAL) for name, cls in WEIGHTED.items()}
    else:
        forms = {name: (OpiumProduction, form)
                 for name, form in (OPTION_FORMS if options else FORMS).items()}
    for seed in seeds:
        table, truth = tp._simulate(seed)
        for name, (cls, form) in forms.items():
            est = cls(
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
    args = [a for a in sys.argv[1:] if a not in ("--weights", "--options")]
    main([int(s) for s in (args[0] if args else "11,12,13,14,15").split(",")],
         int(args[1]) if len(args) > 1 else 400, weights="--weights" in sys.argv,
         options="--options" in sys.argv)
