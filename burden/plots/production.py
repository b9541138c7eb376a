"""World opium production by source country (stacked, with the interval of the total) and
each source's share of world production."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from burden.draws import total_from_draws  # noqa: F401  (computed in burden.draws)
from burden.plots._common import (
    INTERVAL_COLUMNS,
    INTERVAL_LABEL,
    MARKERS,
    PALETTE,
    color_map,
    draw_interval,
    draw_points,
    new_axes,
    new_grid,
    require,
    require_rows,
    thousands_axis,
    year_axis,
)

SUMMARY_COLUMNS = ["source", "year", "measure", *INTERVAL_COLUMNS]
DATA_COLUMNS = ["source", "source_name", "year", "layer", "publisher", "verified",
                *INTERVAL_COLUMNS]
MEASUREMENT_COLUMNS = ["country", "iso3", "year", "measure", "value", "publisher",
                       "verified"]
WORLD = "WLD"
SPECIAL_NAMES = {"ROW": "Rest of world", WORLD: "World"}


def source_names(measurements: pd.DataFrame | None) -> dict[str, str]:
    """ISO3 -> country name: as the production publications print it, else the location
    registry's name (e.g. China, named only in fentanyl assumptions)."""
    from burden.registry import locations

    names = {loc.id: loc.name for loc in locations.countries()}
    names.update(SPECIAL_NAMES)
    if measurements is not None and not measurements.empty:
        rows = measurements.dropna(subset=["iso3"]).drop_duplicates("iso3")
        names.update(dict(zip(rows["iso3"], rows["country"])))
    return names


def _observed(measurements: pd.DataFrame | None, measure: str, sources: Sequence[str],
              scale: float) -> pd.DataFrame:
    if measurements is None or measurements.empty:
        return pd.DataFrame(columns=DATA_COLUMNS)
    require(measurements, MEASUREMENT_COLUMNS, "production_measurements")
    rows = measurements[(measurements["measure"] == measure)
                        & measurements["iso3"].isin(sources) & measurements["value"].notna()]
    return pd.DataFrame({
        "source": rows["iso3"], "year": rows["year"], "layer": "observed",
        "publisher": rows["publisher"], "verified": rows["verified"].astype(bool),
        "mean": rows["value"] * scale, "lower": np.nan, "upper": np.nan,
    })


def production_data(summary: pd.DataFrame, *, total: pd.DataFrame | None = None,
                    measurements: pd.DataFrame | None = None) -> pd.DataFrame:
    """What ``plot_production`` draws.

    ``summary`` is ``OpiumProduction.summary()``; ``total`` is ``total_from_draws(...)``
    (or rows with source ``WLD`` in ``summary``); ``measurements`` the processed
    ``production_measurements`` table, whose world production figures are overlaid.
    Layers: "stack" (posterior mean by source), "total" (world, with its interval),
    "observed" (published world totals).
    """
    require(summary, SUMMARY_COLUMNS, "production summary")
    prod = summary[summary["measure"] == "production_t"]
    require_rows(prod, "production summary (production_t)")
    stack = prod[prod["source"] != WORLD]
    if total is None:
        total = prod[prod["source"] == WORLD]
        if total.empty:
            raise ValueError("production_data needs the world total's interval: pass "
                             "total=total_from_draws(model.production_draws()); a sum of "
                             "the sources' intervals is not an interval of the total")
    require(total, ["year", *INTERVAL_COLUMNS], "production total")
    # largest producers at the bottom of the stack
    order = stack.groupby("source")["mean"].sum().sort_values(ascending=False).index
    stack = stack.assign(layer="stack", publisher="model", verified=True)
    stack["_order"] = stack["source"].map({s: i for i, s in enumerate(order)})
    stack = stack.sort_values(["_order", "year"]).drop(columns="_order")
    parts = [stack,
             total.assign(source=WORLD, layer="total", publisher="model", verified=True),
             _observed(measurements, "production_t", [WORLD], 1.0)]
    out = pd.concat([p for p in parts if not p.empty], ignore_index=True)
    out["source_name"] = out["source"].map(source_names(measurements)).fillna(out["source"])
    return out[DATA_COLUMNS]


def plot_production(data: pd.DataFrame, *, ax: Axes | None = None) -> Figure:
    """Stacked posterior-mean production by source, the total's 95% interval, published
    world totals as points (hollow: recalled, unverified figures)."""
    require(data, DATA_COLUMNS, "production data")
    fig, ax = new_axes(ax, (8.5, 4.2))
    stack = data[data["layer"] == "stack"]
    wide = stack.pivot(index="year", columns="source", values="mean")
    wide = wide[list(dict.fromkeys(stack["source"]))].fillna(0.0)
    names = dict(zip(data["source"], data["source_name"]))
    colors = color_map(list(wide.columns))
    ax.stackplot(wide.index, wide.T.to_numpy(), labels=[names[s] for s in wide.columns],
                 colors=[colors[s] for s in wide.columns], alpha=0.8)
    total = data[data["layer"] == "total"].sort_values("year")
    ax.fill_between(total["year"], total["lower"], total["upper"], facecolor="none",
                    edgecolor="black", hatch="///", linewidth=0,
                    label=f"world total, {INTERVAL_LABEL}")
    ax.plot(total["year"], total["mean"], color="black", linewidth=1.2,
            label="world total, mean")
    for i, (publisher, rows) in enumerate(data[data["layer"] == "observed"].groupby(
            "publisher")):
        draw_points(ax, rows, color=PALETTE[(i + 7) % len(PALETTE)],
                    marker=MARKERS[(i + 1) % len(MARKERS)], label=f"published ({publisher})",
                    unverified=~rows["verified"])
    ax.set_ylabel("opium production (tonnes)")
    ax.set_xlabel("year")
    year_axis(ax)
    ax.set_ylim(bottom=0)
    thousands_axis(ax)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


def production_share_data(summary: pd.DataFrame, *, measurements: pd.DataFrame | None = None,
                          sources: Sequence[str] | None = None) -> pd.DataFrame:
    """What ``plot_production_shares`` draws: each source's share of world production
    (a fraction) with its interval, and published shares (percent / 100)."""
    require(summary, SUMMARY_COLUMNS, "production summary")
    share = summary[summary["measure"] == "share"]
    if sources is not None:
        share = share[share["source"].isin(sources)]
    require_rows(share, "production summary (share)")
    order = (list(sources) if sources is not None else
             list(share.groupby("source")["mean"].mean().sort_values(ascending=False).index))
    est = share.assign(layer="estimate", publisher="model", verified=True)
    obs = _observed(measurements, "share_of_world", order, 0.01)  # published in percent
    out = pd.concat([p for p in (est, obs) if not p.empty], ignore_index=True)
    out["source_name"] = out["source"].map(source_names(measurements)).fillna(out["source"])
    out["_order"] = out["source"].map({s: i for i, s in enumerate(order)})
    return (out.sort_values(["_order", "layer", "year"]).drop(columns="_order")
            .reset_index(drop=True)[DATA_COLUMNS])


def plot_production_shares(data: pd.DataFrame, *, fig: Figure | None = None,
                           ncols: int = 3) -> Figure:
    """Small multiples: one source a panel, share of world production in percent."""
    require(data, DATA_COLUMNS, "production share data")
    require_rows(data, "production share data")
    sources = list(dict.fromkeys(data["source"]))
    fig, axes = new_grid(fig, len(sources), ncols, (3.2, 2.4))
    for ax, source in zip(axes, sources):
        rows = data[data["source"] == source]
        draw_interval(ax, rows[rows["layer"] == "estimate"], color=PALETTE[0], scale=100,
                      label=f"model mean, {INTERVAL_LABEL}")
        obs = rows[rows["layer"] == "observed"]
        if not obs.empty:
            draw_points(ax, obs, color=PALETTE[1], label="published share", scale=100,
                        unverified=~obs["verified"])
        ax.set_title(str(rows["source_name"].iloc[0]), fontsize=9)
        ax.set_ylim(0, 100)
        ax.tick_params(labelsize=8)
        year_axis(ax)
    axes[0].set_ylabel("% of world production", fontsize=8)
    handles = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    fig.legend(list(handles.values()), list(handles), loc="outside lower center",
               ncols=len(handles), fontsize=8, frameon=False)
    return fig
