"""``burden benchmark``'s sampler statistics (the fits themselves are measured by running
the benchmark, not in tests)."""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from burden.benchmark import step_stats


def test_steps_and_step_size_are_means_over_chains_and_draws():
    """n_steps and step_size as both samplers name them, in a fit's DataTree group; the
    means are over every chain and draw, not one chain's."""
    stats = xr.Dataset({"n_steps": (("chain", "draw"), np.array([[63, 63, 31], [127, 63, 63]])),
                        "step_size": (("chain", "draw"), np.array([[0.1] * 3, [0.2] * 3])),
                        "diverging": (("chain", "draw"), np.zeros((2, 3), bool))})
    out = step_stats(xr.DataTree(dataset=stats))
    assert out["steps_per_draw"] == (63 * 4 + 31 + 127) / 6
    assert math.isclose(out["step_size"], 0.15)


def test_a_statistic_the_sampler_does_not_record_is_nan():
    out = step_stats(xr.DataTree(dataset=xr.Dataset(
        {"diverging": (("chain", "draw"), np.zeros((2, 3), bool))})))
    assert math.isnan(out["steps_per_draw"]) and math.isnan(out["step_size"])
