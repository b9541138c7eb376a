"""Opioid deaths over time (small multiples), country ranking, and the US correction."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from burden.models.deaths_data import VSRR_TABLE, vsrr_december
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
from burden.registry.sources import SOURCES

#: the estimands of GBD's modelled deaths and of death-certificate counts (NCHS/VSRR)
GBD = estimands.get("gbd_use_disorder").id
CERTIFIED = estimands.get("certified_overdose").id
#: the source id of the VSRR national table (for a table without a ``source`` column)
VSRR_SOURCE = next(s.id for s in SOURCES.values() if s.table == VSRR_TABLE)

SUMMARY_COLUMNS = ["location_id", "location_name", "location_level", "year", "measure",
                   *INTERVAL_COLUMNS]
OBSERVED_COLUMNS = ["location_id", "year", "measure", "value", "source", "definition",
                    "value_type", "reported_value"]
TIME_COLUMNS = ["location_id", "location_name", "year", "measure", "layer", "source",
                "definition", "value_type", *INTERVAL_COLUMNS, "reported_value", "period"]
#: ``value_type`` of an observed point: what its ``value`` is. GBD's published totals and
#: country values; GBD country values summed over an aggregate's countries (a round whose
#: totals at that level are not in the files read); NCHS final counts; CDC VSRR
#: provisional counts (12 months ending December) as published, or VSRR's predicted value
#: where VSRR flags the count underreported (what the deaths fit reads; ``reported_value``
#: keeps the published count)
PUBLISHED, SUMMED, FINAL = "published", "sum of country values", "final"
PROVISIONAL, PREDICTED = "provisional", "provisional, predicted"
#: legend text of each kind of point (after its source)
VALUE_TYPE_LABELS = {
    SUMMED: "sum of its country values\n(its totals are not in the files read)",
    FINAL: "final counts",
    PROVISIONAL: "provisional, 12 months ending December",
    PREDICTED: "provisional, VSRR's predicted value\n(December count flagged underreported)",
}
#: kinds of point drawn hollow: not a value the publisher gives as the count itself
HOLLOW = (SUMMED, PREDICTED)
#: longest line of a legend entry, in characters (longer ones are wrapped)
LEGEND_WIDTH = 46
#: the levels whose GBD points may be sums of a round's country values
SUMMED_LEVELS = {"region": "region_id", "super_region": "super_region_id"}
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
                    us_deaths_by_drug: pd.DataFrame | None = None,
                    us_provisional: pd.DataFrame | None = None, *,
                    gbd_rounds: Sequence[int] = (DEFAULT_GBD_ROUND,),
                    hierarchy: pd.DataFrame | None = None,
                    last_year: int | None = None) -> pd.DataFrame:
    """Death counts as each source reports them, in one table (``OBSERVED_COLUMNS``).

    GBD: cause ``opioid_use_disorders``, measure ``deaths``, of the ``gbd_rounds`` the
    deaths model is fitted to (each round keeps its source id: a marker of its own). With
    ``hierarchy`` (``registry.locations.hierarchy()``), a round without published totals
    at a level of ``SUMMED_LEVELS`` gets its country values summed over each aggregate's
    countries, in the years all of them have a value (``value_type`` "sum of country
    values": not a published number). NCHS (NIDA table): deaths involving any opioid, all
    groups, both sexes, as ``USA`` (final counts). CDC VSRR (``us_provisional``, the
    national table): the December 12-month-ending provisional counts of any opioid as the
    deaths fit reads them (``models.deaths_data.vsrr_december``: VSRR's predicted value
    where it flags the count underreported, the published count in ``reported_value``), up
    to ``last_year``. GBD and the certificates count different things (a modelled
    underlying cause versus any opioid on the certificate), which is why the figures show
    each source separately; ``definition`` names each row's estimand. GBD's
    age-standardised rates are not overlaid on crude rates: they are a different measure.
    """
    parts = []
    if gbd_deaths is not None:
        require(gbd_deaths, ["location_id", "year", "cause", "measure", "value", "source"],
                "gbd_deaths")
        gbd = gbd_deaths[(gbd_deaths["cause"] == "opioid_use_disorders")
                         & (gbd_deaths["measure"] == "deaths")]
        if "gbd_round" in gbd:  # the rounds the deaths model is fitted to
            gbd = gbd[gbd["gbd_round"].isin([int(r) for r in gbd_rounds])]
        gbd = _with_definition(gbd, GBD).assign(value_type=PUBLISHED, reported_value=np.nan)
        parts.append(gbd[OBSERVED_COLUMNS])
        if hierarchy is not None and {"gbd_round", "location_level"} <= set(gbd):
            parts += _summed_rounds(gbd, hierarchy)
    if us_deaths_by_drug is not None:
        require(us_deaths_by_drug, ["year", "drug", "group", "sex", "measure", "value",
                                    "source"], "us_deaths_by_drug")
        us = us_deaths_by_drug[(us_deaths_by_drug["drug"] == "any_opioid")
                               & (us_deaths_by_drug["group"] == "all")
                               & (us_deaths_by_drug["sex"] == "both")
                               & (us_deaths_by_drug["measure"] == "deaths")]
        parts.append(_with_definition(us.assign(location_id="USA", value_type=FINAL,
                                                reported_value=np.nan), CERTIFIED)[
            OBSERVED_COLUMNS])
    if us_provisional is not None:
        vsrr = vsrr_december(us_provisional, last_data_year=last_year)
        vsrr = vsrr[vsrr["indicator"] == "any_opioid"]
        if "source" not in vsrr:
            vsrr = vsrr.assign(source=VSRR_SOURCE)
        predicted = vsrr["predicted_used"].astype(bool)
        parts.append(_with_definition(vsrr.assign(
            location_id="USA", measure="deaths",
            value_type=np.where(predicted, PREDICTED, PROVISIONAL),
            reported_value=vsrr["reported"].where(predicted)), CERTIFIED)[OBSERVED_COLUMNS])
    if not parts:
        return pd.DataFrame(columns=OBSERVED_COLUMNS)
    return pd.concat(parts, ignore_index=True)


def _summed_rounds(gbd: pd.DataFrame, hierarchy: pd.DataFrame) -> list[pd.DataFrame]:
    """Each round's country values summed at each level of ``SUMMED_LEVELS`` where the
    round has no published totals, in the (aggregate, year)s where every country of the
    round in that aggregate has a value."""
    parts = []
    country = gbd[gbd["location_level"] == "country"]
    for (round_, source), rows in country.groupby(["gbd_round", "source"]):
        published = set(gbd.loc[gbd["gbd_round"] == round_, "location_level"])
        for level, column in SUMMED_LEVELS.items():
            if level in published:
                continue
            member = dict(zip(hierarchy["iso3"], hierarchy[column]))
            mapped = rows.assign(aggregate=rows["location_id"].map(member)).dropna(
                subset=["aggregate"])
            expected = mapped.groupby("aggregate")["location_id"].nunique()
            sums = mapped.groupby(["aggregate", "year"]).agg(
                value=("value", "sum"), n=("location_id", "nunique")).reset_index()
            sums = sums[sums["n"] == sums["aggregate"].map(expected)]
            parts.append(pd.DataFrame({
                "location_id": sums["aggregate"], "year": sums["year"], "measure": "deaths",
                "value": sums["value"], "source": source, "definition": GBD,
                "value_type": SUMMED, "reported_value": np.nan})[OBSERVED_COLUMNS])
    return parts


def deaths_over_time_data(summary: pd.DataFrame, *, level: str = "world",
                          locations: Sequence[str] | None = None, measure: str = "deaths",
                          observed: pd.DataFrame | None = None,
                          last_data_year: int | None = None,
                          certified_to: Mapping[str, int] | None = None) -> pd.DataFrame:
    """What ``plot_deaths_over_time`` draws: estimates and observed points, one table.

    ``summary`` is ``OpioidDeaths.summary(level=...)`` (any levels concatenated).
    ``locations`` (ids, in panel order) overrides ``level``. ``observed`` is
    ``observed_deaths(...)``. Rows have ``layer`` "estimate" (source "model") or
    "observed" (``mean`` holds the value drawn; no interval); ``definition`` names
    each row's estimand (the summary's, GBD's when it has none), ``value_type`` what an
    observed value is (``PUBLISHED``, ``SUMMED``, ``FINAL``, ``PROVISIONAL``,
    ``PREDICTED``) and ``reported_value`` the published count where another value is
    drawn (VSRR's predicted value). ``period`` says what
    informs an estimate's year: "projection" where the summary flags it ``projected`` (the
    model's own flag; without the column, years after ``last_data_year``), except
    "certified counts" after GBD's last year (from the first year the summary flags
    projected at another location; else ``last_data_year``) up to
    ``certified_to[location]``: a location
    whose curve certified counts carry after GBD's last year (the US, which the model
    flags projected only after them); "data" otherwise and for observed rows.
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
        layer="estimate", source="model", value_type=np.nan, reported_value=np.nan,
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
    years = rows["year"].to_numpy(dtype=float)
    end = rows["location_id"].map(dict(certified_to or {})).to_numpy(dtype=float)
    # after GBD's last year: the model's own flag marks a location its certified counts
    # carry (the US) projected only after them, so GBD's end is read from the first year
    # flagged elsewhere; with no other location flagged, ``last_data_year``
    others = projected & np.isnan(end)
    if "projected" in rows and others.any():
        after_gbd = years >= years[others].min()
    elif last_data_year is not None:
        after_gbd = years > last_data_year
    else:
        after_gbd = projected
    certified = after_gbd & (years <= end)  # NaN: never
    return np.where(certified, CERTIFIED_ONLY, np.where(projected, PROJECTION, DATA))


def plot_deaths_over_time(data: pd.DataFrame, *, fig: Figure | None = None, ncols: int = 3,
                          title: str | None = None) -> Figure:
    """Small multiples, one panel per location: mean and 95% interval, sources as points
    (one legend entry per source and ``value_type``; hollow: ``HOLLOW``, values that are
    not the publisher's count itself).

    Years are shaded by their ``period``: projections (no data inform them), and years
    without GBD data whose curve certified counts carry (``shade_periods``).
    """
    require(data, TIME_COLUMNS, "deaths over time data")
    require_rows(data, "deaths over time data")
    locations = list(dict.fromkeys(data["location_id"]))
    single = len(locations) == 1
    fig, axes = new_grid(fig, len(locations), ncols, (7.0, 4.6) if single else (3.6, 2.6))
    measure = data["measure"].iloc[0]
    for ax, loc in zip(axes, locations):
        panel = data[data["location_id"] == loc]
        est = panel[panel["layer"] == "estimate"]
        draw_interval(ax, est, color=PALETTE[0], label=f"model mean, {INTERVAL_LABEL}")
        observed = panel[panel["layer"] == "observed"]
        for (source, kind), points in observed.groupby(["source", "value_type"], sort=False):
            color, marker = source_style(source)
            other = POINT_ESTIMANDS.get(str(points["definition"].iloc[0]))
            label = ":\n".join([source_label(source)]
                               + [t for t in (VALUE_TYPE_LABELS.get(kind), other) if t])
            draw_points(ax, points, color=color, marker=marker, label=label,
                        unverified=points["value_type"].isin(HOLLOW), hollow_note=None)
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
    # lines wrapped to LEGEND_WIDTH characters: three columns of them fit the figure
    wrapped = ["\n".join(textwrap.fill(line, LEGEND_WIDTH) for line in label.split("\n"))
               for label in labels]
    fig.legend([handles[k] for k in labels], wrapped, loc="outside lower center",
               ncols=min(2 if single else 3, len(labels)), fontsize=8, frameon=False)
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
