"""Simulation-based calibration: ECDF-difference plots of the rank PITs with simultaneous
95% bands (Saeilynoja, Buerkner & Vehtari 2022, Statistics and Computing 32(32)).

Reads the rank table of ``burden validate sbc`` (``burden.validate.sbc_stats.SBC_RANKS``).
A calibrated parameter's line (ECDF of its PIT values minus the uniform CDF) stays inside
the band; a line above zero in the middle means too many true values in the lower half
(posterior too high), a line dipping near 0 and rising near 1 (a U-shaped PIT histogram)
means posteriors too narrow.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from burden.plots._common import PALETTE, new_axes, new_grid, require, require_rows
from burden.validate.sbc_stats import BAND_PROB, ecdf_band

SBC_ECDF_COLUMNS = ["variable", "parameter", "x", "ecdf_diff", "lower_diff", "upper_diff",
                    "inside"]


def sbc_ecdf_data(ranks: pd.DataFrame, prob: float = BAND_PROB) -> pd.DataFrame:
    """What ``plot_sbc_ecdf`` draws: per parameter, the PIT ECDF minus the uniform CDF at
    x = k/n and the simultaneous ``prob`` band (also minus x); ``inside`` says whether the
    parameter's whole line stays inside its band. Failed simulations (no rank) are left
    out (the rank table and ``sims.csv`` say how many), and so are constants (a true value
    the same in every simulation)."""
    require(ranks, ["variable", "parameter", "pit", "status"], "SBC rank table")
    ok = ranks[ranks["status"] == "ok"]
    require_rows(ok, "SBC rank table")
    parts = []
    for (variable, parameter), group in ok.groupby(["variable", "parameter"], sort=False):
        if "true" in group and group["true"].nunique() == 1 and len(group) > 1:
            continue  # a constant by construction: nothing to calibrate (``uniformity``)
        band = ecdf_band(group["pit"].to_numpy(float), prob)
        inside = bool(((band["ecdf"] >= band["lower"]) & (band["ecdf"] <= band["upper"]))
                      .all())
        parts.append(pd.DataFrame({
            "variable": variable, "parameter": parameter, "x": band["x"],
            "ecdf_diff": band["ecdf"] - band["x"], "lower_diff": band["lower"] - band["x"],
            "upper_diff": band["upper"] - band["x"], "inside": inside}))
    return pd.concat(parts, ignore_index=True)[SBC_ECDF_COLUMNS]


def plot_sbc_ecdf(data: pd.DataFrame, *, variable: str | None = None,
                  ax: Axes | None = None) -> Figure:
    """ECDF difference of every parameter of ``variable`` (default: the first) on one axes:
    grey lines inside the band, red lines that leave it, the band shaded."""
    require(data, SBC_ECDF_COLUMNS, "SBC ECDF data")
    variable = variable if variable is not None else str(data["variable"].iloc[0])
    sub = data[data["variable"] == variable]
    require_rows(sub, f"SBC ECDF data for {variable!r}")
    fig, ax = new_axes(ax, (4.0, 3.0))
    first = sub[sub["parameter"] == sub["parameter"].iloc[0]].sort_values("x")
    ax.fill_between(first["x"], first["lower_diff"], first["upper_diff"], color=PALETTE[0],
                    alpha=0.2, linewidth=0, label=f"{BAND_PROB:.0%} simultaneous band")
    ax.axhline(0, color="black", linewidth=0.6)
    params = sub.groupby("parameter", sort=False)
    failing = []
    for parameter, group in params:
        group = group.sort_values("x")
        inside = bool(group["inside"].iloc[0])
        if not inside:
            failing.append(parameter)
        ax.step(group["x"], group["ecdf_diff"], where="post",
                color="0.45" if inside else "tab:red", linewidth=0.8 if inside else 1.2,
                alpha=0.6 if inside else 0.9)
    n = params.ngroups
    ax.set_title(f"{variable}: {n - len(failing)}/{n} inside", fontsize=9)
    ax.set_xlabel("PIT of the rank", fontsize=8)
    ax.set_ylabel("ECDF - uniform CDF", fontsize=8)
    ax.set_xlim(0, 1)
    ax.tick_params(labelsize=7)
    return fig


def plot_sbc_ecdf_grid(data: pd.DataFrame, *, fig: Figure | None = None,
                       ncols: int = 4) -> Figure:
    """One ``plot_sbc_ecdf`` panel per variable (small multiples)."""
    require(data, SBC_ECDF_COLUMNS, "SBC ECDF data")
    variables = list(dict.fromkeys(data["variable"]))
    fig, axes = new_grid(fig, len(variables), ncols, (3.2, 2.5))
    for ax, variable in zip(axes, variables):
        plot_sbc_ecdf(data, variable=variable, ax=ax)
    lim = float(np.nanmax(np.abs(data[["ecdf_diff", "lower_diff", "upper_diff"]].to_numpy())))
    for ax in axes:
        ax.set_ylim(-1.05 * lim, 1.05 * lim)
    return fig
