"""The in-sample posterior predictive check as a table: each observation beside its
predictive mean and central interval, and whether it lies inside (the data twin of
``burden.plots.checks.plot_ppc``; computed by ``burden summarise`` without plotting imports).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import xarray as xr

from burden.draws import interval_dataset
from burden.table_checks import INTERVAL_COLUMNS, require

log = logging.getLogger(__name__)

PPC_COLUMNS = ["model", "variable", "observed", *INTERVAL_COLUMNS, "inside"]


def ppc_from_idata(idata: xr.DataTree, model: str, prob: float = 0.95) -> pd.DataFrame:
    """Each observation beside its posterior predictive mean and central interval.

    Needs the ``observed_data`` and ``posterior_predictive`` groups; one row per observed
    element of every observed variable.
    """
    observed = idata["observed_data"].to_dataset()
    predictive = idata["posterior_predictive"].to_dataset()
    parts = []
    for var in observed.data_vars:
        if var not in predictive:
            continue
        dims = observed[var].dims  # same element order for observations and predictions
        # vectorised over elements (xarray's quantile goes slice by slice: 2.1 s of the
        # deaths summary), NaNs skipped as xarray skips them
        stats = interval_dataset(predictive[var], prob=prob)
        parts.append(pd.DataFrame({
            "model": model, "variable": var,
            "observed": np.asarray(observed[var]).ravel(),
            **{col: np.asarray(stats[col].transpose(*dims)).ravel()
               for col in ("mean", "lower", "upper")},
        }))
    if not parts:
        raise ValueError(f"{model}: no observed variable has posterior predictive draws")
    return ppc_data(pd.concat(parts, ignore_index=True))


def ppc_data(frame: pd.DataFrame) -> pd.DataFrame:
    """Checked PPC table with ``inside`` (observation within its predictive interval).

    Elements without an observed value (NaN: nothing to check the prediction against) are
    left out, and a log line counts them by model and variable."""
    require(frame, ["model", "variable", "observed", *INTERVAL_COLUMNS], "ppc table")
    missing = frame["observed"].isna()
    if missing.any():
        keys = ["model", "variable"]
        total = frame.groupby(keys).size()
        left_out = frame[missing].groupby(keys).size()
        log.info("posterior predictive check: elements left out (no observed value to "
                 "check against): %s", "; ".join(f"{m} {v} {n} of {total[(m, v)]}"
                                                 for (m, v), n in left_out.items()))
    frame = frame[~missing]
    inside = (frame["observed"] >= frame["lower"]) & (frame["observed"] <= frame["upper"])
    return frame.assign(inside=inside.to_numpy())[PPC_COLUMNS].reset_index(drop=True)
