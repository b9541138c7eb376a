"""Opioid deaths over time (small multiples), country ranking, and the US correction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from burden.plots._common import (
    CERTIFIED_ONLY,
    DATA,
    INTERVAL_COLUMNS,
    INTERVAL_LABEL,
    PALETTE,
    PROJECTION,
    draw_interval,
    draw_points,
    new_axes,
    new_grid,
    require,
    require_rows,
    shade_periods,
    source_label,
    source_style,
    thousands_axis,
    year_axis,
)
from burden.registry import estimands
from burden.registry.estimands import DEFAULT_GBD_ROUND

#: the estimands of GBD's modelled deaths and of death-certificate counts (NCHS/VSRR)
GBD = estimands.get("gbd_use_disorder").id
CERTIFIED = estimands.get("certified_overdose").id

SUMMARY_COLUMNS = ["location_id", "location_name", "location_level", "year", "measure",
                   *INTERVAL_COLUMNS]
OBSERVED_COLUMNS = ["location_id", "year", "measure", "value", "source", "definition"]
TIME_COLUMNS = ["location_id", "location_name", "year", "measure", "layer", "source",
                "definition", *INTERVAL_COLUMNS, "period"]
#: axis text of each measure: the deaths model's estimand is GBD's (``GBD``), titled as
#: the registry titles it
_WHAT, _BY = estimands.get(GBD).title_parts()
MEASURE_LABELS = {"deaths": f"{_WHAT}\n({_BY})",
                  "rate_per_100k": f"{_WHAT} per 100,000\n(crude rate, {_BY})"}
#: legend text added to points of another estimand than the model's
POINT_ESTIMANDS = {CERTIFIED: "certified overdose deaths, any opioid"}


def _with_definition(rows: pd.DataFrame, default: str) -> pd.DataFrame:
    """``rows`` with their estimand: the table's ``definition`` column, or for a table
    without one (a simulated world) the estimand its loader writes."""
    return rows if "definition" in rows else rows.assign(definition=default)


def observed_deaths(gbd_deaths: pd.DataFrame | None = None,
                    us_deaths_by_drug: pd.DataFrame | None = None, *,
                    gbd_rounds: Sequence[int] = (DEFAULT_GBD_ROUND,)) -> pd.DataFrame:
    """Death counts as each source reports them, in one table (``OBSERVED_COLUMNS``).

    GBD: cause ``opioid_use_disorders``, measure ``deaths``, of the ``gbd_rounds`` the
    deaths model is fitted to (each round keeps its source id: a marker of its own). NCHS (NIDA table): deaths
    involving any opioid, all groups, both sexes, as ``USA``. The two count different
    things (a modelled underlying cause versus any opioid on the certificate), which is why
    the figures show each source separately; ``definition`` names each row's estimand.
    GBD's age-standardised rates are not overlaid on crude rates: they are a different
    measure.
    """
    parts = []
    if gbd_deaths is not None:
        require(gbd_deaths, ["location_id", "year", "cause", "measure", "value", "source"],
                "gbd_deaths")
        gbd = gbd_deaths[(gbd_deaths["cause"] == "opioid_use_disorders")
                         & (gbd_deaths["measure"] == "deaths")]
        if "gbd_round" in gbd:  # the rounds the deaths model is fitted to
            gbd = gbd[gbd["gbd_round"].isin([int(r) for r in gbd_rounds])]
        parts.append(_with_definition(gbd, GBD)[OBSERVED_COLUMNS])
    if us_deaths_by_drug is not None:
        require(us_deaths_by_drug, ["year", "drug", "group", "sex", "measure", "value",
                                    "source"], "us_deaths_by_drug")
        us = us_deaths_by_drug[(us_deaths_by_drug["drug"] == "any_opioid")
                               & (us_deaths_by_drug["group"] == "all")
                               & (us_deaths_by_drug["sex"] == "both")
                               & (us_deaths_by_drug["measure"] == "deaths")]
        parts.append(_with_definition(us.assign(location_id="USA"), CERTIFIED)[
            OBSERVED_COLUMNS])
    if not parts:
        return pd.DataFrame(columns=OBSERVED_COLUMNS)
    return pd.concat(parts, ignore_index=True)


def deaths_over_time_data(summary: pd.DataFrame, *, level: str = "world",
                          locations: Sequence[str] | None = None, measure: str = "deaths",
                          observed: pd.DataFrame | None = None,
                          last_data_year: int | None = None,
                          certified_to: Mapping[str, int] | None = None) -> pd.DataFrame:
    """What ``plot_deaths_over_time`` draws: estimates and observed points, one table.

    ``summary`` is ``OpioidDeaths.summary(level=...)`` (any levels concatenated).
    ``locations`` (ids, in panel order) overrides ``level``. ``observed`` is
    ``observed_deaths(...)``. Rows have ``layer`` "estimate" (source "model") or
    "observed" (``mean`` holds the reported value; no interval); ``definition`` names
    each row's estimand (the summary's, GBD's when it has none). ``period`` says what
    informs an estimate's year: "projection" where the summary flags it ``projected`` (the
    model's own flag; without the column, years after ``last_data_year``), except
    "certified counts" up to ``certified_to[location]``: a location whose curve certified
    counts carry after GBD's last year (the US); "data" otherwise and for observed rows.
    """
    require(summary, SUMMARY_COLUMNS, "deaths summary")
    rows = summary[summary["measure"] == measure]
    if locations is not None:
        rows = rows[rows["location_id"].isin(locations)]
        order = {loc: i for i, loc in enumerate(locations)}
    else:
        rows = rows[rows["location_level"] == level]
        order = {loc: i for i, loc in enumerate(rows["location_id"].unique())}
    require_rows(rows, f"deaths summary ({measure}, {locations or level})")
    estimate = _with_definition(rows, GBD).assign(
        layer="estimate", source="model",
        period=_periods(rows, last_data_year, certified_to))[TIME_COLUMNS]
    parts = [estimate]
    if observed is not None and not observed.empty:
        require(observed, OBSERVED_COLUMNS, "observed deaths")
        names = estimate.drop_duplicates("location_id").set_index("location_id")[
            "location_name"]
        obs = observed[(observed["measure"] == measure)
                       & observed["location_id"].isin(names.index)]
        parts.append(obs.assign(location_name=obs["location_id"].map(names),
                                layer="observed", mean=obs["value"], lower=np.nan,
                                upper=np.nan, period=DATA)[TIME_COLUMNS])
    out = pd.concat(parts, ignore_index=True)
    out["_order"] = out["location_id"].map(order)
    return (out.sort_values(["_order", "layer", "source", "year"])
            .drop(columns="_order").reset_index(drop=True))


def _periods(rows: pd.DataFrame, last_data_year: int | None,
             certified_to: Mapping[str, int] | None) -> np.ndarray:
    if "projected" in rows:
        projected = rows["projected"].astype(bool).to_numpy()
    elif last_data_year is not None:
        projected = (rows["year"] > last_data_year).to_numpy()
    else:
        projected = np.zeros(len(rows), dtype=bool)
    end = rows["location_id"].map(dict(certified_to or {})).to_numpy(dtype=float)
    certified = projected & (rows["year"].to_numpy(dtype=float) <= end)  # NaN: never
    return np.where(certified, CERTIFIED_ONLY, np.where(projected, PROJECTION, DATA))


def plot_deaths_over_time(data: pd.DataFrame, *, fig: Figure | None = None, ncols: int = 3,
                          title: str | None = None) -> Figure:
    """Small multiples, one panel per location: mean and 95% interval, sources as points.

    Years are shaded by their ``period``: projections (no data inform them), and years
    without GBD data whose curve certified counts carry (``shade_periods``).
    """
    require(data, TIME_COLUMNS, "deaths over time data")
    require_rows(data, "deaths over time data")
    locations = list(dict.fromkeys(data["location_id"]))
    single = len(locations) == 1
    fig, axes = new_grid(fig, len(locations), ncols, (5.5, 3.4) if single else (3.6, 2.6))
    measure = data["measure"].iloc[0]
    for ax, loc in zip(axes, locations):
        panel = data[data["location_id"] == loc]
        est = panel[panel["layer"] == "estimate"]
        draw_interval(ax, est, color=PALETTE[0], label=f"model mean, {INTERVAL_LABEL}")
        for source, points in panel[panel["layer"] == "observed"].groupby("source"):
            color, marker = source_style(source)
            other = POINT_ESTIMANDS.get(str(points["definition"].iloc[0]))
            label = source_label(source) + (f":\n{other}" if other else "")
            draw_points(ax, points, color=color, marker=marker, label=label)
        shade_periods(ax, est)
        ax.set_title(str(panel["location_name"].iloc[0]), fontsize=9)
        ax.set_ylim(bottom=0)
        thousands_axis(ax)
        ax.tick_params(labelsize=8)
        year_axis(ax)
    axes[0].set_ylabel(MEASURE_LABELS.get(measure, measure), fontsize=8)
    handles, labels = {}, []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    labels = list(handles)
    fig.legend([handles[k] for k in labels], labels, loc="outside lower center",
               ncols=1 if single else min(3, len(labels)), fontsize=8, frameon=False)
    if title:
        fig.suptitle(title)
    return fig


RANKING_COLUMNS = ["rank", "location_id", "location_name", "year", "measure",
                   *INTERVAL_COLUMNS]


def country_ranking_data(summary: pd.DataFrame, *, year: int, measure: str = "rate_per_100k",
                         top: int | None = 30) -> pd.DataFrame:
    """Countries ranked by posterior mean ``measure`` in ``year`` (the ``top`` highest)."""
    require(summary, SUMMARY_COLUMNS, "deaths summary")
    rows = summary[(summary["location_level"] == "country") & (summary["year"] == year)
                   & (summary["measure"] == measure)]
    require_rows(rows, f"country ranking ({measure}, {year})")
    rows = rows.dropna(subset=["mean"]).sort_values("mean", ascending=False)
    if top is not None:
        rows = rows.head(top)
    rows = rows.assign(rank=np.arange(1, len(rows) + 1))
    return rows[RANKING_COLUMNS].reset_index(drop=True)


def plot_country_ranking(data: pd.DataFrame, *, ax: Axes | None = None) -> Figure:
    """Forest plot: one row per country, highest first, mean and 95% interval."""
    require(data, RANKING_COLUMNS, "country ranking data")
    require_rows(data, "country ranking data")
    fig, ax = new_axes(ax, (6.0, 0.22 * len(data) + 1.2))
    y = np.arange(len(data))[::-1]
    ax.errorbar(data["mean"], y, xerr=[data["mean"] - data["lower"],
                                       data["upper"] - data["mean"]],
                fmt="o", color=PALETTE[0], ecolor=PALETTE[0], markersize=4, capsize=0,
                label=f"mean, {INTERVAL_LABEL}")
    ax.set_yticks(y, data["location_name"].astype(str), fontsize=8)
    ax.set_ylim(-0.7, len(data) - 0.3)
    measure = data["measure"].iloc[0]
    label = MEASURE_LABELS.get(measure, measure).replace("\n", " ")
    ax.set_xlabel(f"{label}, {int(data['year'].iloc[0])}")
    ax.set_xlim(left=0)
    thousands_axis(ax, "x")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return fig
