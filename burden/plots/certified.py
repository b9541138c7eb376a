"""Certified opioid-involved overdose deaths to the present (US by drug, Canada): the model's
estimates with the certified counts they were fitted to."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from burden.plots._common import (
    INTERVAL_LABEL,
    PALETTE,
    draw_interval,
    draw_points,
    new_grid,
    require,
    thousands_axis,
    year_axis,
)

CERTIFIED_COLUMNS = ["series", "year", "layer", "mean", "lower", "upper", "nowcast"]
LABELS = {"any_opioid": "any opioid", "heroin": "heroin (T40.1)",
          "rx_opioids": "prescription (T40.2-T40.3)",
          "natural_semisynthetic_opioids": "natural/semi-synthetic (T40.2)",
          "methadone": "methadone (T40.3)", "synthetic_opioids": "synthetic (T40.4)"}


def certified_deaths_data(summary: pd.DataFrame,
                          tables: dict[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """What ``plot_certified_deaths`` draws: the model's estimates by series and year and
    the complete certified counts (final NCHS; VSRR December counts not underreported;
    PHAC full years) as points."""
    require(summary, ["series", "year", "mean", "lower", "upper", "nowcast"],
            "certified summary")
    parts = [summary.assign(layer="estimate")[CERTIFIED_COLUMNS]]
    tables = tables or {}
    nchs = tables.get("us_deaths_by_drug")
    if nchs is not None:
        rows = nchs[(nchs["group"] == "all") & (nchs["sex"] == "both")
                    & (nchs["measure"] == "deaths")]
        parts.append(pd.DataFrame({"series": "USA:" + rows["drug"], "year": rows["year"],
                                   "layer": "NCHS final", "mean": rows["value"]}))
    vsrr = tables.get("us_provisional_national")
    if vsrr is not None:
        rows = vsrr[(vsrr["month"] == 12) & ~vsrr["underreported"].astype(bool)]
        parts.append(pd.DataFrame({"series": "USA:" + rows["indicator"], "year": rows["year"],
                                   "layer": "VSRR December", "mean": rows["value"]}))
    phac = tables.get("canada_opioid_deaths")
    if phac is not None:
        rows = phac[(phac["location_id"] == "CAN") & (phac["measure"] == "deaths")
                    & (phac["category"] == "all_opioids") & phac["quarter"].isna()
                    & ~phac["partial_year"].astype(bool)]
        parts.append(pd.DataFrame({"series": "CAN:any_opioid", "year": rows["year"],
                                   "layer": "PHAC", "mean": rows["value"]}))
    out = pd.concat(parts, ignore_index=True)
    out = out[out["series"].isin(set(summary["series"]))]
    return out.reindex(columns=CERTIFIED_COLUMNS).reset_index(drop=True)


def plot_certified_deaths(data: pd.DataFrame, *, fig: Figure | None = None) -> Figure:
    """Two panels: US deaths by drug (overlapping series) and Canada; nowcast years (counts
    still being reported) marked with hollow points at the estimate."""
    require(data, CERTIFIED_COLUMNS, "certified deaths data")
    fig, axes = new_grid(fig, 2, 2, (5.2, 3.6))
    markers = {"NCHS final": "o", "VSRR December": "s", "PHAC": "D"}
    for ax, country, title, ylabel in (
            (axes[0], "USA", "United States, by drug (overlapping)",
             "certified opioid overdose deaths (NCHS/VSRR)"),
            (axes[1], "CAN", "Canada", "apparent opioid toxicity deaths (PHAC)")):
        rows = data[data["series"].str.startswith(f"{country}:")]
        series = list(dict.fromkeys(rows.loc[rows["layer"] == "estimate", "series"]))
        for i, s in enumerate(series):
            color = PALETTE[i % len(PALETTE)]
            est = rows[(rows["series"] == s) & (rows["layer"] == "estimate")]
            draw_interval(ax, est, color=color, label=LABELS.get(s.split(":")[1], s))
            now = est[est["nowcast"].astype(bool)]
            if not now.empty:
                ax.plot(now["year"], now["mean"], "o", mfc="none", color=color)
            for layer, marker in markers.items():
                pts = rows[(rows["series"] == s) & (rows["layer"] == layer)]
                if not pts.empty:
                    draw_points(ax, pts, color=color, marker=marker)
        ax.set_title(title, fontsize=10)
        ax.set_ylabel(ylabel)
        ax.set_xlabel("year")
        ax.set_ylim(bottom=0)
        thousands_axis(ax)
        year_axis(ax)
        ax.legend(fontsize=7, title=f"mean and {INTERVAL_LABEL}; hollow: nowcast",
                  title_fontsize=7)
    return fig
