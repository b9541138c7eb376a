"""Deaths attributable to each source country, and how that split moves with the stated
assumptions (sensitivity scenarios)."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping

import numpy as np
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
    estimand_label,
    new_axes,
    require,
    require_rows,
    thousands_axis,
    year_axis,
)

SUMMARY_COLUMNS = ["market", "source", "year", *INTERVAL_COLUMNS]
SENSITIVITY_COLUMNS = ["scenario", "market", "source", "year", *INTERVAL_COLUMNS]
DATA_COLUMNS = ["market", "source", "source_name", "year", *INTERVAL_COLUMNS]
SENSITIVITY_DATA_COLUMNS = ["scenario", *DATA_COLUMNS]
#: the attributable-deaths figure's data: also whether each row comes mostly from a prior
#: or an assumption, whether its year is after the deaths fit's last data year, and the
#: estimand its deaths count (``definition``; "" when the summary does not say)
FLAGGED_DATA_COLUMNS = [*DATA_COLUMNS, "prior_driven", "projected", "definition", "drawn"]


def _named(rows: pd.DataFrame, names: Mapping[str, str] | None) -> pd.DataFrame:
    return rows.assign(source_name=rows["source"].map(lambda s: (names or {}).get(s, s)))


def _one_market(frame: pd.DataFrame, market: str | None, what: str) -> pd.DataFrame:
    markets = list(dict.fromkeys(frame["market"]))
    if market is None:
        if len(markets) != 1:
            raise ValueError(f"{what}: several markets {markets}; choose one with market=")
        market = markets[0]
    rows = frame[frame["market"] == market]
    require_rows(rows, f"{what} (market {market!r})")
    return rows


#: sources of the world table that are not a source country (``burden.summarise``)
NOT_A_SOURCE = ("none", "total")


def by_source_rows(summary: pd.DataFrame, *, illicit_only: bool = True) -> pd.DataFrame:
    """The rows of an attribution summary by source country: with a ``supply_chain``
    column (the world table), each source over all chains (``all``), without the total and,
    when ``illicit_only``, without the not-attributed rows."""
    if "supply_chain" in summary:
        summary = summary[summary["supply_chain"] == "all"]
        drop = NOT_A_SOURCE if illicit_only else ("total",)
        summary = summary[~summary["source"].isin(drop)]
    return summary


def attributable_deaths_data(summary: pd.DataFrame, *, market: str | None = None,
                             top: int | None = 8, names: Mapping[str, str] | None = None
                             ) -> pd.DataFrame:
    """What ``plot_attributable_deaths`` draws: deaths attributable to each source by year
    in one market (``attribution_summary(...)``), every source, ``drawn`` for the ``top``
    sources by total mean (the others are named under the plot, not drawn); ``names`` maps
    source codes to the names shown."""
    require(summary, SUMMARY_COLUMNS, "attribution summary")
    summary = by_source_rows(summary)
    rows = _one_market(summary, market, "attribution summary")
    order = rows.groupby("source")["mean"].sum().sort_values(ascending=False).index
    drawn = set(order if top is None else order[:top])
    rows = rows.assign(_order=rows["source"].map({s: i for i, s in enumerate(order)}),
                       drawn=rows["source"].isin(drawn))
    for flag in ("prior_driven", "projected"):  # summaries of before 2026-12-07: unflagged
        if flag not in rows:
            rows = rows.assign(**{flag: False})
    if "definition" not in rows:
        rows = rows.assign(definition="")
    return _named(rows.sort_values(["_order", "year"]).drop(columns="_order")
                  .reset_index(drop=True), names)[FLAGGED_DATA_COLUMNS]


def plot_attributable_deaths(data: pd.DataFrame, *, ax: Axes | None = None) -> Figure:
    """One line and 95% band per drawn source country (``drawn``; the others named under
    the plot); the line dashed, in its colour, over the years whose figure comes mostly
    from a prior or an assumption; the deaths fit's projected years shaded grey."""
    require(data, DATA_COLUMNS, "attributable deaths data")
    require_rows(data, "attributable deaths data")
    fig, ax = new_axes(ax, (8.5, 4.2))
    shown = data[data["drawn"].astype(bool)] if "drawn" in data else data
    sources = list(dict.fromkeys(shown["source"]))
    colors = color_map(sources)
    any_prior = False
    for source in sources:
        rows = shown[shown["source"] == source].sort_values("year")
        prior = (rows["prior_driven"].to_numpy(dtype=bool) if "prior_driven" in rows
                 else np.zeros(len(rows), dtype=bool))
        any_prior |= bool(prior.any())
        draw_flagged_interval(ax, rows, prior, color=colors[source],
                              label=rows["source_name"].iloc[0])
    ax.plot([], [], color=KEY_COLOR, label=f"mean, {INTERVAL_LABEL} shaded")
    if any_prior:
        ax.plot([], [], color=KEY_COLOR, linestyle=DASHED,
                label="dashed: mostly from a prior\nor an assumption")
    if "projected" in data and data["projected"].astype(bool).any():
        first = int(data.loc[data["projected"].astype(bool), "year"].min())
        ax.axvspan(first - 0.5, int(data["year"].max()) + 0.5, color="grey", alpha=0.12,
                   linewidth=0, label="projected: after GBD's last\ndata year (deaths fit)")
    hidden = list(dict.fromkeys(data.loc[~data["source"].isin(sources), "source_name"]))
    if hidden:  # named, not silently dropped
        names = ", ".join(str(h).replace("_", " ") for h in hidden)
        ax.plot([], [], linestyle="none", label=textwrap.fill(
            f"not drawn (fewer deaths; in the plotted data): {names}", 36))
    definition = (str(data["definition"].iloc[0]) if "definition" in data else "")
    what = estimand_label(definition)
    ax.set_ylabel(f"{what}\nin {data['market'].iloc[0]}, attributable to source")
    ax.set_xlabel("year")
    year_axis(ax)
    ax.set_ylim(bottom=0)
    thousands_axis(ax)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


def attribution_sensitivity_data(sensitivity: pd.DataFrame, *, year: int,
                                 market: str | None = None,
                                 names: Mapping[str, str] | None = None,
                                 top: int | None = 6) -> pd.DataFrame:
    """What ``plot_attribution_sensitivity`` draws: each scenario's attributable deaths by
    source in ``year`` (``sensitivity_table(...)``), with their estimand (``definition``;
    "" when the table does not say)."""
    require(sensitivity, SENSITIVITY_COLUMNS, "sensitivity table")
    rows = _one_market(sensitivity, market, "sensitivity table")
    rows = rows[rows["year"] == year]
    require_rows(rows, f"sensitivity table (year {year})")
    order = rows.groupby("source")["mean"].max().sort_values(ascending=False).index
    if top is not None:  # the sources that matter under some scenario
        order = order[:top]
        rows = rows[rows["source"].isin(order)]
    rows = rows.assign(_order=rows["source"].map({s: i for i, s in enumerate(order)}))
    if "definition" not in rows:
        rows = rows.assign(definition="")
    return _named(rows.sort_values(["_order", "scenario"], kind="stable")
                  .drop(columns="_order").reset_index(drop=True), names)[
        [*SENSITIVITY_DATA_COLUMNS, "definition"]]


def plot_attribution_sensitivity(data: pd.DataFrame, *, ax: Axes | None = None) -> Figure:
    """Forest plot: sources down the side, one mark and 95% interval per scenario."""
    require(data, SENSITIVITY_DATA_COLUMNS, "sensitivity data")
    require_rows(data, "sensitivity data")
    sources = list(dict.fromkeys(data["source"]))
    labels = dict(zip(data["source"], data["source_name"]))
    scenarios = list(dict.fromkeys(data["scenario"]))
    fig, ax = new_axes(ax, (7.0, 0.16 * len(sources) * len(scenarios) + 2.0))
    colors = color_map(scenarios)
    width = 0.8 / len(scenarios)
    base = {s: len(sources) - 1 - i for i, s in enumerate(sources)}
    for j, scenario in enumerate(scenarios):
        rows = data[data["scenario"] == scenario]
        y = rows["source"].map(base).to_numpy() + 0.4 - width * (j + 0.5)
        ax.errorbar(rows["mean"], y, xerr=[rows["mean"] - rows["lower"],
                                           rows["upper"] - rows["mean"]],
                    fmt="o", markersize=4, color=colors[scenario], label=scenario)
    ax.set_yticks(np.arange(len(sources)), [labels[s] for s in sources[::-1]], fontsize=8)
    definition = str(data["definition"].iloc[0]) if "definition" in data else ""
    ax.set_xlabel(f"{estimand_label(definition)} attributable to source,\n"
                  f"{data['market'].iloc[0]} {int(data['year'].iloc[0])} "
                  f"(mean, {INTERVAL_LABEL})")
    ax.set_xlim(left=0)
    thousands_axis(ax, "x")
    ax.grid(axis="x", alpha=0.3)
    ax.set_ylim(-0.6, len(sources) - 0.4)
    fig.legend(*ax.get_legend_handles_labels(), title="scenario", fontsize=7,
               title_fontsize=8, loc="outside lower center", ncols=min(3, len(scenarios)),
               frameon=False)
    return fig
