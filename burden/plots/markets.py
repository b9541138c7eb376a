"""Destination-market heroin shares by source region, with the signature-program points."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from burden.plots._common import (
    DASHED,
    INTERVAL_COLUMNS,
    INTERVAL_LABEL,
    KEY_COLOR,
    color_map,
    draw_flagged_interval,
    draw_points,
    new_axes,
    require,
    require_rows,
    year_axis,
)

DATA_COLUMNS = ["market", "source_region", "region_label", "year", "layer", "prior_driven",
                "basis", "verified", *INTERVAL_COLUMNS, "drawn"]
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
    ``mean`` and its bounds. ``drawn`` is False for what the figure leaves out and names
    under its legend: a published figure outside the model's years, a region whose estimate
    is 0 in every year (no share by construction: "other" in the US).
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
    estimate = out["layer"] == "estimate"
    zero = (out.loc[estimate, ["mean", "lower", "upper"]] == 0).all(axis=1)
    nil = set(out.loc[estimate, "source_region"]) - set(
        out.loc[estimate, "source_region"][~zero])
    first, last = int(est["year"].min()), int(est["year"].max())
    out["drawn"] = ~out["source_region"].isin(nil) & (
        estimate | out["year"].between(first, last))
    return out.sort_values(["source_region", "layer", "year"]).reset_index(drop=True)[
        DATA_COLUMNS]


def plot_market_shares(data: pd.DataFrame, *, ax: Axes | None = None) -> Figure:
    """Share of a market's heroin by source region: model mean and 95% interval (dashed,
    in the region's colour, where the estimate comes mostly from the prior),
    signature-program points on top: a bound stated in words as a triangle pointing where
    the share lies ("more than 50%": up from 50), hollow points unverified. Rows with
    ``drawn`` False are named in the legend, not drawn."""
    require(data, DATA_COLUMNS, "market share data")
    require_rows(data, "market share data")
    fig, ax = new_axes(ax, (8.5, 4.2))
    colors = color_map(list(dict.fromkeys(
        data.sort_values("layer")["source_region"])))  # estimates first: stable colours
    shown = data[data["drawn"].astype(bool)]
    any_prior = False
    for region, rows in shown[shown["layer"] == "estimate"].groupby("source_region",
                                                                    sort=False):
        prior = rows.sort_values("year")["prior_driven"].to_numpy(dtype=bool)
        any_prior |= bool(prior.any())
        draw_flagged_interval(ax, rows, prior, color=colors[region], scale=100,
                              label=rows["region_label"].iloc[0])
    obs = shown[shown["layer"] == "observed"]
    estimated = set(data.loc[data["layer"] == "estimate", "source_region"])
    drawn_bound = set()
    for region, rows in obs.groupby("source_region", sort=False):
        _draw_bounds(ax, rows[rows["mean"].isna()], colors[region], drawn_bound)
        points = rows[rows["mean"].notna()]
        label = None if region in estimated else f"{rows['region_label'].iloc[0]} (published)"
        draw_points(ax, points, color=colors[region], scale=100, label=label,
                    unverified=~points["verified"].astype(bool))
    _legend_keys(ax, obs, any_prior, drawn_bound)
    _name_left_out(ax, data[~data["drawn"].astype(bool)])
    ax.set_ylim(0, 100)
    ax.set_ylabel(f"share of {data['market'].iloc[0]} heroin (%)")
    ax.set_xlabel("year")
    year_axis(ax)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


#: a bound stated in words: the triangle points to where the share lies
BOUND_MARKERS = {"lower": ("^", "more than (stated in words)"),
                 "upper": ("v", "less than (stated in words)")}


def _draw_bounds(ax: Axes, rows: pd.DataFrame, color, drawn: set) -> None:
    """Bounds without a point: one-sided as a triangle at the bound, two-sided as a bar."""
    both = rows["lower"].notna() & rows["upper"].notna()
    if both.any():
        ax.vlines(rows.loc[both, "year"], rows.loc[both, "lower"] * 100,
                  rows.loc[both, "upper"] * 100, color=color, linewidth=2.5, alpha=0.7)
        drawn.add("range")
    for side, (marker, _) in BOUND_MARKERS.items():
        one = rows[rows[side].notna() & ~both]
        if len(one):
            ax.scatter(one["year"], one[side] * 100, marker=marker, s=30, color=color,
                       edgecolors="black", linewidths=0.4, zorder=3)
            drawn.add(side)


def _legend_keys(ax: Axes, obs: pd.DataFrame, any_prior: bool, bounds: set) -> None:
    """Keys for what is drawn, and only that (black: every region)."""
    ax.plot([], [], color=KEY_COLOR, label=f"model mean, {INTERVAL_LABEL} shaded")
    if any_prior:
        ax.plot([], [], color=KEY_COLOR, linestyle=DASHED, label="dashed: mostly from the prior")
    if obs["mean"].notna().any():
        ax.scatter([], [], marker="o", color=KEY_COLOR, s=18,
                   label="DEA Heroin Signature Program share")
    if (obs["mean"].notna() & ~obs["verified"].astype(bool)).any():
        ax.scatter([], [], marker="o", facecolors="none", edgecolors=KEY_COLOR, s=18,
                   label="hollow: not verified")
    for side, (marker, text) in BOUND_MARKERS.items():
        if side in bounds:
            ax.scatter([], [], marker=marker, color=KEY_COLOR, s=30, label=text)
    if "range" in bounds:
        ax.plot([], [], color=KEY_COLOR, linewidth=2.5, alpha=0.7,
                label="range (stated in words)")


def _name_left_out(ax: Axes, rows: pd.DataFrame) -> None:
    """A legend line naming what the figure leaves out (the data twin keeps it)."""
    parts = []
    for region, r in rows[rows["layer"] == "estimate"].groupby("region_label", sort=False):
        parts.append(f"{region}: 0% in every year")
    obs = rows[rows["layer"] == "observed"]
    for region, r in obs.groupby("region_label", sort=False):
        parts.append(f"{region} {', '.join(map(str, sorted(set(r['year']))))} "
                     "(outside the model's years)")
    if parts:
        ax.plot([], [], linestyle="none", label=textwrap.fill(
            "not drawn (in the plotted data): " + "; ".join(parts), 34))
