"""US opioid deaths reported and corrected for certificates that name no drug (the
certified model), with the NCHS counts as points."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from burden.plots._common import (
    DATA,
    INTERVAL_COLUMNS,
    INTERVAL_LABEL,
    NOWCAST,
    PALETTE,
    PROJECTION,
    draw_interval,
    draw_points,
    estimand_label,
    new_axes,
    require,
    require_rows,
    shade_periods,
    source_style,
    thousands_axis,
    year_axis,
)
from burden.plots.deaths import CERTIFIED, FINAL, OBSERVED_COLUMNS

US_CORRECTION_COLUMNS = ["year", "series", *INTERVAL_COLUMNS, "period"]


def us_correction_data(summary: pd.DataFrame, observed: pd.DataFrame | None = None, *,
                       last_data_year: int | None = None, nowcast_years: Sequence[int] = ()
                       ) -> pd.DataFrame:
    """What ``plot_us_correction`` draws: the "reported" and "corrected" series of
    ``CertifiedDeaths.us_correction_summary()`` (its "unspecified" and "imputed" series are
    not drawn) and, from ``observed`` (``observed_deaths``), the US counts of the
    certificate definition (``CERTIFIED``: NCHS, never a GBD round, whatever its source id)
    that are final counts (``FINAL``: not VSRR's provisional ones) as series "NCHS
    reported" (no interval). ``period`` of the model's years: "nowcast"
    in ``nowcast_years`` (counts still being reported), "projection" after
    ``last_data_year`` (no US count), else "data"."""
    require(summary, US_CORRECTION_COLUMNS[:-1], "US correction summary")
    unknown = set(summary["series"]) - {"reported", "corrected", "imputed", "unspecified"}
    if unknown:
        raise ValueError(f"US correction summary: unknown series {sorted(unknown)}; "
                         "expected 'reported', 'corrected', 'imputed', 'unspecified'")
    require_rows(summary, "US correction summary")
    summary = summary[summary["series"].isin(["reported", "corrected"])]
    years = summary["year"]
    period = np.where(years.isin(list(nowcast_years)), NOWCAST,
                      np.where(years > (last_data_year if last_data_year is not None
                                        else np.inf), PROJECTION, DATA))
    parts = [summary.assign(period=period)[US_CORRECTION_COLUMNS]]
    if observed is not None and not observed.empty:
        require(observed, OBSERVED_COLUMNS, "observed deaths")
        nchs = observed[(observed["definition"] == CERTIFIED)
                        & (observed["value_type"] == FINAL)
                        & (observed["location_id"] == "USA")
                        & (observed["measure"] == "deaths")]
        parts.append(pd.DataFrame({"year": nchs["year"], "series": "NCHS reported",
                                   "mean": nchs["value"], "lower": np.nan,
                                   "upper": np.nan, "period": DATA}))
    return (pd.concat(parts, ignore_index=True).sort_values(["series", "year"])
            .reset_index(drop=True))


def plot_us_correction(data: pd.DataFrame, *, ax: Axes | None = None) -> Figure:
    """Reported versus corrected US opioid deaths (drug unspecified on some certificates);
    NCHS counts as points; nowcast and projected years shaded (their ``period``)."""
    require(data, US_CORRECTION_COLUMNS, "US correction data")
    fig, ax = new_axes(ax, (6.0, 3.6))
    styles = {"reported": (PALETTE[7], "--"), "corrected": (PALETTE[0], "-")}
    for series in ("reported", "corrected"):
        rows = data[data["series"] == series]
        if rows.empty:
            continue
        color, linestyle = styles[series]
        has_interval = bool((rows["upper"] > rows["lower"]).any())
        label = f"{series}, mean and {INTERVAL_LABEL}" if has_interval else series
        draw_interval(ax, rows, color=color, linestyle=linestyle, label=label)
    nchs = data[data["series"] == "NCHS reported"]
    if not nchs.empty:
        color, marker = source_style("nida_deaths")
        draw_points(ax, nchs, color=color, marker=marker, label="NCHS reported (any opioid)")
    shade_periods(ax, data[data["series"] != "NCHS reported"],
                  labels={PROJECTION: "projection (no US count)"})
    ax.set_ylabel(f"US {estimand_label(CERTIFIED).lower()}\n(NCHS/VSRR)")
    ax.set_xlabel("year")
    year_axis(ax)
    ax.set_ylim(bottom=0)
    thousands_axis(ax)
    ax.legend(fontsize=8)
    return fig
