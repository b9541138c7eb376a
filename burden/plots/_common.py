"""Shared plumbing for the figure modules: input checks, axes creation, interval drawing.

Figures are built on ``matplotlib.figure.Figure`` directly rather than through pyplot, so
no global state is touched and saving uses the non-interactive Agg canvas whatever
backend the user has selected.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from burden.registry.estimands import DEFINITIONS
from burden.registry.sources import SOURCES
from burden.table_checks import INTERVAL_COLUMNS, require, require_rows  # noqa: F401

#: Legend/label text for every interval drawn by this package.
INTERVAL_LABEL = "95% interval"
#: Colours for successive series (matplotlib's colour-blind-safe "tab10" order).
PALETTE = [matplotlib.colormaps["tab10"](i) for i in range(10)]
#: The same without its grey (tab10's 8th): series coloured by ``color_map`` never take
#: the grey of legend keys that stand for every series ("mean, 95% interval")
SERIES_PALETTE = [c for i, c in enumerate(PALETTE) if i != 7]
#: Legend keys that stand for every series are drawn in this colour
KEY_COLOR = "black"
#: Line style of the years an estimate comes mostly from a prior or an assumption
DASHED = (0, (3, 2))
#: Markers for observed data sources, so sources differ in shape as well as colour.
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]


def new_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """Use ``ax`` when given, else make a new figure with one axes."""
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def new_grid(fig: Figure | None, n_panels: int, ncols: int, panel_size: tuple[float, float],
             sharex: bool = True) -> tuple[Figure, list[Axes]]:
    """``n_panels`` small-multiple axes on ``fig`` (a new figure when None)."""
    ncols = max(1, min(ncols, n_panels))
    nrows = int(np.ceil(n_panels / ncols))
    if fig is None:
        fig = Figure(figsize=(panel_size[0] * ncols, panel_size[1] * nrows),
                     layout="constrained")
    axes = fig.subplots(nrows, ncols, sharex=sharex, squeeze=False).ravel().tolist()
    for extra in axes[n_panels:]:
        fig.delaxes(extra)
    return fig, axes[:n_panels]


def draw_interval(ax: Axes, frame: pd.DataFrame, *, x: str = "year", color=None,
                  label: str | None = None, linestyle: str = "-", scale: float = 1.0) -> None:
    """Mean line and shaded 2.5–97.5% band of a frame sorted by ``x``."""
    frame = frame.sort_values(x)
    line, = ax.plot(frame[x], frame["mean"] * scale, color=color, label=label,
                    linestyle=linestyle)
    ax.fill_between(frame[x], frame["lower"] * scale, frame["upper"] * scale,
                    color=line.get_color(), alpha=0.25, linewidth=0)


def draw_flagged_interval(ax: Axes, frame: pd.DataFrame, flagged: np.ndarray, *,
                          x: str = "year", color=None, label: str | None = None,
                          scale: float = 1.0) -> None:
    """Mean line and 95% band of a frame sorted by ``x``, the line dashed (``DASHED``, in
    its own colour) between years either of which is ``flagged`` (e.g. prior-driven)."""
    frame = frame.sort_values(x)
    xs, y = frame[x].to_numpy(), frame["mean"].to_numpy(dtype=float) * scale
    ax.fill_between(xs, frame["lower"] * scale, frame["upper"] * scale, color=color,
                    alpha=0.25, linewidth=0)
    flagged = np.asarray(flagged, dtype=bool)
    dashed = flagged[:-1] | flagged[1:]  # one per segment between consecutive years
    on_solid = np.r_[~dashed, False] | np.r_[False, ~dashed]
    on_dashed = np.r_[dashed, False] | np.r_[False, dashed]
    if len(y) == 1:
        on_solid, on_dashed = ~flagged, flagged
    ax.plot(xs, np.where(on_solid, y, np.nan), color=color, label=label)
    if on_dashed.any():
        ax.plot(xs, np.where(on_dashed, y, np.nan), color=color, linestyle=DASHED)


def draw_points(ax: Axes, frame: pd.DataFrame, *, x: str = "year", y: str = "mean",
                color=None, marker: str = "o", label: str | None = None,
                scale: float = 1.0, unverified: pd.Series | None = None,
                hollow_note: str | None = "unverified") -> None:
    """Observed points; rows flagged in ``unverified`` are drawn hollow, their label
    followed by ``hollow_note`` in brackets (None: the label as it is)."""
    hollow = (unverified.to_numpy(dtype=bool) if unverified is not None
              else np.zeros(len(frame), dtype=bool))
    solid = frame[~hollow]
    if not solid.empty:
        ax.scatter(solid[x], solid[y] * scale, color=color, marker=marker, s=18, zorder=3,
                   label=label, edgecolors="black", linewidths=0.4)
    if hollow.any():
        ax.scatter(frame[hollow][x], frame[hollow][y] * scale, facecolors="none",
                   edgecolors=color, marker=marker, s=18, zorder=3,
                   label=f"{label} ({hollow_note})" if label and hollow_note else label)


def year_axis(ax: Axes) -> None:
    """Whole years on the x axis (no "2002.5")."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins="auto", min_n_ticks=3))


def _with_separators(value: float, _pos=None) -> str:
    """``350000`` as ``350,000``, ``2500.5`` as ``2,500.5`` (up to 3 decimals, no "1e6")."""
    text = f"{value:,.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def thousands_axis(ax: Axes, axis: str = "y") -> None:
    """Thousands separators on the tick labels of ``axis`` ("x", "y" or "both"): the one
    formatter of every axis that counts deaths or tonnes (no "350000", no offset text)."""
    for name in ("x", "y") if axis == "both" else (axis,):
        getattr(ax, f"{name}axis").set_major_formatter(FuncFormatter(_with_separators))


#: axis text naming the estimand of a death count (``burden.registry.estimands`` ids): the
#: figures count opioid deaths, GBD's by underlying cause or the certificates' (NCHS/VSRR;
#: PHAC's apparent opioid toxicity deaths in Canada, the nearest published equivalent)
ESTIMAND_LABELS = {d.id: d.axis_title for d in DEFINITIONS.values()}


def estimand_label(definition: str, default: str = "Opioid deaths (estimand not stated)"
                   ) -> str:
    """The axis text of a death count of ``definition`` (``default`` when unknown)."""
    return ESTIMAND_LABELS.get(definition, default)


#: what informs an estimate's year (the ``period`` column of a data twin) and how a figure
#: shades it; "data" years are not shaded
DATA, CERTIFIED_ONLY, NOWCAST, PROJECTION = "data", "certified counts", "nowcast", "projection"
PERIOD_STYLES = {
    CERTIFIED_ONLY: {"facecolor": "none", "edgecolor": "0.7", "hatch": "//"},
    NOWCAST: {"facecolor": "none", "edgecolor": "0.7", "hatch": ".."},
    PROJECTION: {"color": "grey", "alpha": 0.12},
}
PERIOD_LABELS = {
    CERTIFIED_ONLY: "no GBD data: curve carried by certified counts (NCHS/VSRR)",
    NOWCAST: "nowcast: counts still being reported",
    PROJECTION: "projection (no data)",
}


def shade_periods(ax: Axes, frame: pd.DataFrame, *, x: str = "year",
                  labels: dict[str, str] | None = None) -> None:
    """Shade each run of consecutive years of ``frame`` whose ``period`` is not "data",
    in the style of ``PERIOD_STYLES``, labelled once (``labels`` overrides
    ``PERIOD_LABELS``)."""
    years = frame[[x, "period"]].drop_duplicates(x).sort_values(x)
    for period, style in PERIOD_STYLES.items():
        run = [int(y) for y in years.loc[years["period"] == period, x]]
        label = {**PERIOD_LABELS, **(labels or {})}[period]
        starts = [y for y in run if y - 1 not in run]
        for start in starts:
            end = start
            while end + 1 in run:
                end += 1
            ax.axvspan(start - 0.5, end + 0.5, linewidth=0, zorder=0,
                       label=label if start == starts[0] else None, **style)


#: markers fixed for sources drawn together whose registry order gives the same marker:
#: VSRR's national counts share the US panel with NIDA's triangles; a square, as the VSRR
#: points of the certified figure
SOURCE_MARKERS = {"vsrr_national": "s"}


def source_style(source_id: str) -> tuple[object, str]:
    """The same colour and marker for a data source in every figure (registry order;
    colour 0 is kept for model estimates; ``SOURCE_MARKERS`` overrides the marker)."""
    ids = list(SOURCES)
    i = ids.index(source_id) if source_id in ids else len(ids) + sum(map(ord, source_id))
    return (PALETTE[1 + i % (len(PALETTE) - 1)],
            SOURCE_MARKERS.get(source_id, MARKERS[i % len(MARKERS)]))


def source_label(source_id: str) -> str:
    """Readable label for a registry source id (the id itself when unknown)."""
    src = SOURCES.get(source_id)
    return f"{src.publisher} ({source_id})" if src else source_id


def color_map(keys: Sequence[str]) -> dict[str, object]:
    """Stable colour per key, in the order given (``SERIES_PALETTE``: never grey)."""
    return {k: SERIES_PALETTE[i % len(SERIES_PALETTE)] for i, k in enumerate(keys)}


def interval_text(mean: float, lower: float, upper: float, *, digits: int = 0,
                  percent: bool = False) -> str:
    """``12,345 (10,000–15,000)`` style text; percent values are given as fractions."""
    scale, unit = (100.0, "%") if percent else (1.0, "")
    fmt = f"{{:,.{digits}f}}"
    return (f"{fmt.format(mean * scale)}{unit} "
            f"({fmt.format(lower * scale)}–{fmt.format(upper * scale)}{unit})")
