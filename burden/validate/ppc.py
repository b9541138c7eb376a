"""The in-sample posterior predictive check as a table: each observation beside its
predictive mean and central interval, and whether it lies inside (the data twin of
``burden.plots.checks.plot_ppc``; computed by ``burden summarise`` without plotting imports).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from burden.table_checks import INTERVAL_COLUMNS, require

PPC_COLUMNS = ["model", "variable", "observed", *INTERVAL_COLUMNS, "inside"]


def ppc_from_idata(idata: xr.DataTree, model: str, prob: float = 0.95) -> pd.DataFrame:
    """Each observation beside its posterior predictive mean and central interval.

    Needs the ``observed_data`` and ``posterior_predictive`` groups; one row per observed
    element of every observed variable.
    """
    lo, hi = (1 - prob) / 2, 1 - (1 - prob) / 2
    observed = idata["observed_data"].to_dataset()
    predictive = idata["posterior_predictive"].to_dataset()
    parts = []
    for var in observed.data_vars:
        if var not in predictive:
            continue
        dims = observed[var].dims  # same element order for observations and predictions
        draws = predictive[var].stack(sample=("chain", "draw"))
        parts.append(pd.DataFrame({
            "model": model, "variable": var,
            "observed": np.asarray(observed[var]).ravel(),
            "mean": np.asarray(draws.mean("sample").transpose(*dims)).ravel(),
            "lower": np.asarray(draws.quantile(lo, dim="sample").transpose(*dims)).ravel(),
            "upper": np.asarray(draws.quantile(hi, dim="sample").transpose(*dims)).ravel(),
        }))
    if not parts:
        raise ValueError(f"{model}: no observed variable has posterior predictive draws")
    return ppc_data(pd.concat(parts, ignore_index=True))


def ppc_data(frame: pd.DataFrame) -> pd.DataFrame:
    """Checked PPC table with ``inside`` (observation within its predictive interval)."""
    require(frame, ["model", "variable", "observed", *INTERVAL_COLUMNS], "ppc table")
    frame = frame.dropna(subset=["observed"])
    inside = (frame["observed"] >= frame["lower"]) & (frame["observed"] <= frame["upper"])
    return frame.assign(inside=inside.to_numpy())[PPC_COLUMNS].reset_index(drop=True)
