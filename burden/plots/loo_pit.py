"""LOO-PIT per model and data source: ECDF-difference plots with simultaneous 95% bands.

Reads the ``loo_pit`` result table of each fit (``burden.validate.loo_pit``). For a
calibrated model a source's LOO-PIT values are uniform, and the line (their ECDF minus the
uniform CDF) stays inside the simultaneous band (Saeilynoja, Buerkner & Vehtari 2022,
Statistics and Computing 32(32)): a line rising then falling (an S) means intervals too
narrow for that source, the mirror too wide, a line above or below zero throughout a bias.
Sources with fewer than ``MIN_PANEL`` observations are pooled per model ("other sources")
so that no panel rests on a handful of points.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from burden.plots._common import PALETTE, new_axes, new_grid, require, require_rows
from burden.registry import observations
from burden.validate.sbc_stats import BAND_PROB, ecdf_band

#: sources with fewer observations are pooled per model into OTHER
MIN_PANEL = 10
OTHER = "other sources"
#: at most this many plotted points per panel (the band is checked at every point)
MAX_POINTS = 400
#: Pareto k above which an observation's LOO estimate is unreliable (Vehtari et al. 2024)
PARETO_K_MAX = 0.7

LOO_PIT_ECDF_COLUMNS = ["model", "source", "label", "n", "share_k_high", "x", "ecdf_diff",
                        "lower_diff", "upper_diff", "inside"]


def panel_sources(table: pd.DataFrame) -> pd.Series:
    """Each row's panel label: its source, or ``OTHER`` when its source is small."""
    size = table.groupby(["model", "source"])["pit"].transform("size")
    return table["source"].where(size >= MIN_PANEL, OTHER)


def loo_pit_ecdf_data(table: pd.DataFrame, prob: float = BAND_PROB) -> pd.DataFrame:
    """What ``plot_loo_pit`` draws: per model and source, the LOO-PIT ECDF minus the uniform
    CDF and the simultaneous ``prob`` band (also minus x), thinned to ``MAX_POINTS``;
    ``label`` is the source's readable name (``registry.observations.label``), the
    panel's title and the page's name for it;
    ``inside`` says whether the whole line (every point, not only those kept) stays in the
    band; ``share_k_high`` is the share of observations with Pareto k > 0.7."""
    require(table, ["model", "source", "pit", "pareto_k"], "LOO-PIT table")
    require_rows(table, "LOO-PIT table")
    table = table.assign(panel=panel_sources(table))
    parts = []
    for (model, source), group in table.groupby(["model", "panel"], sort=False):
        if len(group) < 2:
            continue
        band = ecdf_band(group["pit"].to_numpy(float), prob)
        inside = bool(((band["ecdf"] >= band["lower"]) & (band["ecdf"] <= band["upper"]))
                      .all())
        keep = np.unique(np.linspace(0, len(band) - 1, min(len(band), MAX_POINTS))
                         .round().astype(int))
        band = band.iloc[keep]
        parts.append(pd.DataFrame({
            "model": model, "source": source,
            "label": observations.label(model, source),
            "n": len(group),
            "share_k_high": float((group["pareto_k"] > PARETO_K_MAX).mean()),
            "x": band["x"].to_numpy(), "ecdf_diff": (band["ecdf"] - band["x"]).to_numpy(),
            "lower_diff": (band["lower"] - band["x"]).to_numpy(),
            "upper_diff": (band["upper"] - band["x"]).to_numpy(), "inside": inside}))
    if not parts:
        raise ValueError("LOO-PIT table: no model and source with at least 2 observations")
    return pd.concat(parts, ignore_index=True)[LOO_PIT_ECDF_COLUMNS]


def plot_loo_pit_panel(data: pd.DataFrame, *, model: str, source: str,
                       ax: Axes | None = None) -> Figure:
    """One source's ECDF difference and band."""
    require(data, LOO_PIT_ECDF_COLUMNS, "LOO-PIT ECDF data")
    sub = data[(data["model"] == model) & (data["source"] == source)].sort_values("x")
    require_rows(sub, f"LOO-PIT ECDF data for {model}: {source}")
    fig, ax = new_axes(ax, (3.2, 2.5))
    inside = bool(sub["inside"].iloc[0])
    ax.fill_between(sub["x"], sub["lower_diff"], sub["upper_diff"], color=PALETTE[0],
                    alpha=0.2, linewidth=0)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.step(sub["x"], sub["ecdf_diff"], where="post",
            color=PALETTE[0] if inside else "tab:red", linewidth=1.0)
    k_high = float(sub["share_k_high"].iloc[0])
    note = f"; k>0.7: {k_high:.0%}" if k_high > 0 else ""
    title = textwrap.fill(f"{model}: {sub['label'].iloc[0]}", 44)
    ax.set_title(f"{title}\nn={int(sub['n'].iloc[0])}, "
                 f"{'inside' if inside else 'OUTSIDE'} the band{note}", fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("LOO-PIT", fontsize=8)
    ax.tick_params(labelsize=7)
    return fig


def plot_loo_pit(data: pd.DataFrame, *, fig: Figure | None = None, ncols: int = 4) -> Figure:
    """One panel per model and data source (small multiples, shared y range)."""
    require(data, LOO_PIT_ECDF_COLUMNS, "LOO-PIT ECDF data")
    require_rows(data, "LOO-PIT ECDF data")
    panels = list(dict.fromkeys(zip(data["model"], data["source"])))
    fig, axes = new_grid(fig, len(panels), ncols, (3.2, 2.5), sharex=False)
    for ax, (model, source) in zip(axes, panels):
        plot_loo_pit_panel(data, model=model, source=source, ax=ax)
    lim = float(np.nanmax(np.abs(data[["ecdf_diff", "lower_diff", "upper_diff"]]
                                 .to_numpy(float))))
    for i, ax in enumerate(axes):
        ax.set_ylim(-1.05 * lim, 1.05 * lim)
        if i % max(1, min(ncols, len(panels))) == 0:
            ax.set_ylabel("ECDF - uniform CDF", fontsize=8)
    return fig
