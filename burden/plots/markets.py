"""Destination-market heroin shares by source region, with the signature-program points."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from burden.plots._common import (
    INTERVAL_COLUMNS,
    INTERVAL_LABEL,
    color_map,
    draw_interval,
    draw_points,
    new_axes,
    require,
    require_rows,
    year_axis,
)

DATA_COLUMNS = ["market", "source_region", "region_label", "year", "layer", "prior_driven",
                "basis", "verified", *INTERVAL_COLUMNS]
SIGNATURE_COLUMNS = ["destination", "year", "source_region", "share_pct", "lower_pct",
                     "upper_pct", "basis", "verified"]


def _label(region: str) -> str:
    """A region key such as ``south_america`` as words; published labels stay as they are."""
    return region.replace("_", " ").capitalize() if region == region.lower() else region


def _key_column(summary: pd.DataFrame) -> str:
    for key in ("source_region", "source"):
        if key in summary.columns:
            return key
    raise ValueError("market summary: needs a 'source_region' or 'source' column; found "
                     f"{list(summary.columns)}")


def market_shares_data(summary: pd.DataFrame, *, market: str = "USA",
                       signature: pd.DataFrame | None = None,
                       signature_regions: Mapping[str, str] | None = None) -> pd.DataFrame:
    """What ``plot_market_shares`` draws for one destination ``market``.

    ``summary`` is ``MarketShares.summary(by="source_region")``; shares are fractions.
    ``signature`` is the processed ``signature_shares`` table (percent; divided by 100
    here); ``signature_regions`` maps its region labels to the summary's keys (e.g.
    ``burden.registry.markets.SIGNATURE_REGIONS``; unmapped labels such as "Inconclusive" are
    kept as they are). A published bound without a point ("less than 5%") keeps NaN
    ``mean`` and its bounds.
    """
    require(summary, ["market", "year", "prior_driven", *INTERVAL_COLUMNS], "market summary")
    key = _key_column(summary)
    est = summary[summary["market"] == market]
    require_rows(est, f"market summary (market {market!r})")
    parts = [pd.DataFrame({
        "market": market, "source_region": est[key], "year": est["year"],
        "layer": "estimate", "prior_driven": est["prior_driven"].astype(bool),
        "basis": "model", "verified": True, "mean": est["mean"], "lower": est["lower"],
        "upper": est["upper"]})]
    labels = {key: label for label, key in (signature_regions or {}).items()}
    if signature is not None and not signature.empty:
        require(signature, SIGNATURE_COLUMNS, "signature_shares")
        sig = signature[signature["destination"] == market]
        sig = sig.assign(source_region=sig["source_region"].map(
            lambda r: (signature_regions or {}).get(r, r)))
        sig = sig[sig[["share_pct", "lower_pct", "upper_pct"]].notna().any(axis=1)]
        parts.append(pd.DataFrame({
            "market": market, "source_region": sig["source_region"], "year": sig["year"],
            "layer": "observed", "prior_driven": False, "basis": sig["basis"],
            "verified": sig["verified"].astype(bool), "mean": sig["share_pct"] / 100,
            "lower": sig["lower_pct"] / 100, "upper": sig["upper_pct"] / 100}))
    out = pd.concat(parts, ignore_index=True)
    out["region_label"] = out["source_region"].map(lambda r: labels.get(r, _label(str(r))))
    return out.sort_values(["source_region", "layer", "year"]).reset_index(drop=True)[
        DATA_COLUMNS]


def plot_market_shares(data: pd.DataFrame, *, ax: Axes | None = None) -> Figure:
    """Share of a market's heroin by source region: model mean and 95% interval (dashed
    where the estimate comes mostly from the prior), signature-program points on top."""
    require(data, DATA_COLUMNS, "market share data")
    require_rows(data, "market share data")
    fig, ax = new_axes(ax, (8.5, 4.2))
    colors = color_map(list(dict.fromkeys(
        data.sort_values("layer")["source_region"])))  # estimates first: stable colours
    any_prior = False
    for region, rows in data[data["layer"] == "estimate"].groupby("source_region", sort=False):
        rows = rows.sort_values("year")
        draw_interval(ax, rows, color=colors[region], scale=100,
                      label=rows["region_label"].iloc[0])
        prior = rows["prior_driven"].to_numpy(dtype=bool)
        if prior.any():  # dashed over the years the data say little about
            any_prior = True
            near = prior | np.r_[prior[1:], False] | np.r_[False, prior[:-1]]
            ax.plot(rows["year"], np.where(near, rows["mean"] * 100, np.nan), color="white",
                    linewidth=1.6, linestyle=(0, (2, 2)))
    if any_prior:
        ax.plot([], [], color="grey", linestyle=(0, (2, 2)),
                label="dashed: mostly from the prior")
    obs = data[data["layer"] == "observed"]
    estimated = set(data.loc[data["layer"] == "estimate", "source_region"])
    for region, rows in obs.groupby("source_region", sort=False):
        # a bound stated in words is one-sided: "less than 5%" runs from 0 to 5
        bounds = rows[["lower", "upper"]].notna().any(axis=1)
        if bounds.any():
            b = rows[bounds]
            ax.vlines(b["year"], b["lower"].fillna(0.0) * 100, b["upper"].fillna(1.0) * 100,
                      color=colors[region], linewidth=2.5, alpha=0.7)
        points = rows[rows["mean"].notna()]
        label = None if region in estimated else f"{rows['region_label'].iloc[0]} (published)"
        draw_points(ax, points, color=colors[region], scale=100, label=label,
                    unverified=~points["verified"].astype(bool))
    ax.scatter([], [], marker="o", color="grey", edgecolors="black",
               label="DEA Heroin Signature Program\n(hollow: unverified;\nbar: bounds stated in words)")
    ax.plot([], [], color="grey", label=f"model mean, {INTERVAL_LABEL} shaded")
    ax.set_ylim(0, 100)
    ax.set_ylabel(f"share of {data['market'].iloc[0]} heroin (%)")
    ax.set_xlabel("year")
    year_axis(ax)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig
