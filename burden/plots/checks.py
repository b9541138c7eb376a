"""Model checks: posterior predictive checks, R-hat / ESS, back-test coverage (the data
coverage figure is in ``burden.plots.coverage``)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter
from scipy import stats

from burden.models.fast_diagnostics import ESS_MIN, RHAT_MAX
from burden.plots._common import (
    INTERVAL_LABEL,
    PALETTE,
    color_map,
    new_axes,
    new_grid,
    require,
    require_rows,
)

# the table is computed without plotting imports (``burden.validate.ppc``); re-exported
from burden.validate.ppc import PPC_COLUMNS, ppc_data, ppc_from_idata  # noqa: F401

# ---- posterior predictive checks ---------------------------------------------------------

def plot_ppc(data: pd.DataFrame, *, fig: Figure | None = None, ncols: int = 3) -> Figure:
    """Observed against predicted (mean and 95% predictive interval), one panel per model
    variable; the title gives the share of observations inside their interval."""
    require(data, PPC_COLUMNS, "ppc data")
    require_rows(data, "ppc data")
    panels = list(dict.fromkeys(zip(data["model"], data["variable"])))
    fig, axes = new_grid(fig, len(panels), ncols, (3.4, 3.2), sharex=False)
    for ax, (model, var) in zip(axes, panels):
        rows = data[(data["model"] == model) & (data["variable"] == var)]
        color = [PALETTE[0] if inside else PALETTE[3] for inside in rows["inside"]]
        dense = len(rows) > 2000  # keep the SVG small: thousands of marks as one raster
        ax.vlines(rows["observed"], rows["lower"], rows["upper"], colors=color, alpha=0.4,
                  linewidth=0.8, rasterized=dense)
        ax.scatter(rows["observed"], rows["mean"], c=color, s=8, zorder=3, rasterized=dense)
        values = rows[["observed", "lower", "upper"]].to_numpy(dtype=float)
        positive = values[values > 0]
        if positive.size and (values >= 0).all() and positive.max() / positive.min() > 100:
            ax.set_xscale("symlog", linthresh=max(1.0, float(positive.min())))
            ax.set_yscale("symlog", linthresh=max(1.0, float(positive.min())))
        lims = [np.nanmin(values), np.nanmax(values)]
        ax.plot(lims, lims, color="grey", linewidth=0.8, linestyle=":")
        ax.set_title(f"{model}: {var}\n{rows['inside'].mean():.0%} inside the "
                     f"{INTERVAL_LABEL} (n={len(rows)})", fontsize=8)
        ax.set_xlabel("observed", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("predicted", fontsize=8)
    return fig


# ---- convergence ---------------------------------------------------------------------------

CONVERGENCE_COLUMNS = ["model", "variable", "size", "r_hat_max", "ess_bulk_min",
                       "ess_tail_min", "ok"]


def convergence_data(diagnostics: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per model variable (``estimator.diagnostics()`` by model name), with ``ok``
    when R-hat <= RHAT_MAX and bulk ESS >= ESS_MIN (thresholds in burden.models.base)."""
    parts = []
    for model, frame in diagnostics.items():
        require(frame, CONVERGENCE_COLUMNS[1:-1], f"{model} diagnostics")
        parts.append(frame.assign(model=model))
    if not parts:
        raise ValueError("convergence data: no model diagnostics given")
    out = pd.concat(parts, ignore_index=True)
    out["ok"] = (out["r_hat_max"] <= RHAT_MAX) & (out["ess_bulk_min"] >= ESS_MIN)
    return out[CONVERGENCE_COLUMNS]


def plot_convergence(data: pd.DataFrame, *, ax: Axes | None = None, label_worst: int = 6
                     ) -> Figure:
    """Each variable's worst R-hat against its lowest bulk ESS, with the thresholds; the
    ``label_worst`` failing variables with the highest R-hat are named."""
    require(data, CONVERGENCE_COLUMNS, "convergence data")
    require_rows(data, "convergence data")
    fig, ax = new_axes(ax, (6.0, 4.0))
    colors = color_map(list(dict.fromkeys(data["model"])))
    for model, rows in data.groupby("model", sort=False):
        ax.scatter(rows["ess_bulk_min"], rows["r_hat_max"], color=colors[model], s=16,
                   label=model)
    # name the worst offenders only: more labels would overlap into noise
    worst = data[~data["ok"]].sort_values("r_hat_max", ascending=False).head(label_worst)
    for _, bad in worst.iterrows():
        ax.annotate(f"{bad['model']}: {bad['variable']}", (bad["ess_bulk_min"],
                                                          bad["r_hat_max"]),
                    fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.axhline(RHAT_MAX, color="black", linestyle="--", linewidth=0.8,
               label=f"R-hat {RHAT_MAX}")
    ax.axvline(ESS_MIN, color="black", linestyle=":", linewidth=0.8,
               label=f"bulk ESS {ESS_MIN}")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    ax.set_xlabel("lowest bulk ESS of the variable")
    ax.set_ylabel("highest R-hat of the variable")
    ax.legend(fontsize=7)
    return fig


# ---- back-test coverage --------------------------------------------------------------------

BACKTEST_COLUMNS = ["group", "n", "covered", "coverage", "coverage_lower", "coverage_upper",
                    "nominal"]


def backtest_coverage_data(backtest: pd.DataFrame, *, by: str = "model",
                           nominal: float = 0.95) -> pd.DataFrame:
    """Share of held-out observations inside their predictive interval, by ``by``.

    ``backtest`` has ``observed``, ``lower``, ``upper`` and the ``by`` column; the intervals'
    level is its ``nominal`` column when present, else the ``nominal`` argument. The coverage interval is the Jeffreys interval for a binomial proportion
    (Brown, Cai & DasGupta 2001, Statistical Science 16(2)), so few held-out points show as
    a wide interval rather than a bare percentage.
    """
    require(backtest, [by, "observed", "lower", "upper"], "back-test table")
    rows = backtest.dropna(subset=["observed", "lower", "upper"])
    require_rows(rows, "back-test table")
    inside = (rows["observed"] >= rows["lower"]) & (rows["observed"] <= rows["upper"])
    grouped = inside.groupby(rows[by], sort=False).agg(["size", "sum"])
    n, k = grouped["size"].to_numpy(), grouped["sum"].to_numpy()
    if "nominal" in rows:
        nominal = rows.groupby(by, sort=False)["nominal"].first().to_numpy()
    return pd.DataFrame({
        "group": grouped.index.astype(str), "n": n, "covered": k, "coverage": k / n,
        "coverage_lower": np.where(k > 0, stats.beta.ppf(0.025, k + 0.5, n - k + 0.5), 0.0),
        "coverage_upper": np.where(k < n, stats.beta.ppf(0.975, k + 0.5, n - k + 0.5), 1.0),
        "nominal": nominal,
    })


def plot_backtest_coverage(data: pd.DataFrame, *, ax: Axes | None = None) -> Figure:
    """Observed coverage (with its Jeffreys 95% interval) against the nominal level."""
    require(data, BACKTEST_COLUMNS, "back-test coverage data")
    require_rows(data, "back-test coverage data")
    fig, ax = new_axes(ax, (6.0, 0.4 * len(data) + 1.5))
    y = np.arange(len(data))[::-1]
    ax.errorbar(data["coverage"] * 100, y,
                xerr=[(data["coverage"] - data["coverage_lower"]) * 100,
                      (data["coverage_upper"] - data["coverage"]) * 100],
                fmt="o", color=PALETTE[0], label="held-out coverage (Jeffreys 95% interval)")
    for level in data["nominal"].unique():
        ax.axvline(level * 100, color="black", linestyle="--", linewidth=0.8,
                   label=f"nominal {level:.0%}")
    ax.set_yticks(y, [f"{g} (n={n})" for g, n in zip(data["group"], data["n"])], fontsize=8)
    ax.set_xlim(0, 100)
    ax.set_ylim(-0.6, len(data) - 0.4)
    ax.set_xlabel("% of held-out observations inside their predictive interval")
    ax.legend(fontsize=7, loc="lower left")
    return fig
