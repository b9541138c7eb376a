"""``burden benchmark``'s sampler statistics (the fits themselves are measured by running
the benchmark, not in tests)."""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from burden.benchmark import step_stats

DIMS = ("chain", "draw")


def _tree(**arrays) -> xr.DataTree:
    return xr.DataTree(dataset=xr.Dataset({k: (DIMS, np.asarray(v)) for k, v in arrays.items()}))


def test_nutpie_steps_and_adapted_step_size_are_means_over_chains_and_draws():
    """nutpie's names (the certified fit's sample_stats, 2026-12-07): ``n_steps``, and
    ``step_size_bar`` (constant in each chain) beside the jittered ``step_size``; the
    means are over every chain and draw, not one chain's."""
    out = step_stats(_tree(n_steps=[[63, 63, 31], [127, 63, 63]],
                           step_size=[[0.09, 0.11, 0.1], [0.25, 0.15, 0.2]],
                           step_size_bar=[[0.1] * 3, [0.3] * 3],
                           diverging=np.zeros((2, 3), bool)))
    assert out["steps_per_draw"] == (63 * 4 + 31 + 127) / 6
    assert math.isclose(out["step_size"], 0.2)  # the adapted steps', not the jittered


def test_pymc_nuts_step_is_its_step_size_bar_and_a_raw_trace_gives_tree_size():
    """PyMC's NUTS in InferenceData: ``n_steps`` (its ``tree_size``, renamed by PyMC's
    conversion) and ``step_size_bar``, the step the draws take; its ``step_size`` (the
    last dual-averaging iterate) is not used. A raw trace keeps ``tree_size``."""
    out = step_stats(_tree(n_steps=[[15.0, 7.0], [31.0, 15.0]],
                           step_size=[[0.5, 0.5], [0.5, 0.5]],
                           step_size_bar=[[0.25, 0.25], [0.35, 0.35]]))
    assert out["steps_per_draw"] == 17.0
    assert math.isclose(out["step_size"], 0.3)
    assert step_stats(_tree(tree_size=[[15.0, 7.0], [31.0, 15.0]]))["steps_per_draw"] == 17.0


def test_a_statistic_the_sampler_does_not_record_is_nan():
    out = step_stats(_tree(diverging=np.zeros((2, 3), bool)))
    assert math.isnan(out["steps_per_draw"]) and math.isnan(out["step_size"])


def test_the_table_has_a_cell_for_every_column_in_its_order():
    from burden.benchmark import COLUMNS, markdown_table

    row = {"model": "deaths", "sampler": "nutpie", "seed": 20171, "wall_s": 126.2,
           "build_s": 0.31, "compile_s": 8.4, "sample_s": 102.3, "steps_per_draw": 63.0,
           "step_size": 0.1034, "min_bulk_ess": 781.2, "worst_ess": "tau",
           "ess_per_s": 6.19, "ess_per_sample_s": 7.64, "max_r_hat": 1.0049,
           "worst_r_hat": "sigma", "divergences": 0, "peak_mem_mb": 2009.4,
           "load_after": 1.91, "converged": True}
    header, rule, line = markdown_table([row]).splitlines()
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert len(cells) == len(COLUMNS) == header.count("|") - 1 == rule.count("|") - 1
    by_column = dict(zip(COLUMNS, cells, strict=True))
    assert by_column["steps a draw"] == "63.0" and by_column["ESS/s sampling"] == "7.6"
    assert by_column["min bulk ESS"] == "781 (tau)" and by_column["converged"] == "True"
