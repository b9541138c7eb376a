"""Data coverage: how many countries each data source informs in each year, for the
sources and years the fits read."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from burden.plots._common import new_axes, require, require_rows, year_axis

COVERAGE_COLUMNS = ["source", "label", "table", "year", "n_countries"]
#: what each processed table holds, for the figure's row labels
TABLE_WHAT = {
    "gbd_deaths": "opioid use-disorder deaths", "population": "population",
    "us_deaths_by_drug": "US certified deaths by drug, final",
    "us_provisional": "US certified deaths, provisional by state",
    "us_provisional_national": "US certified deaths, provisional",
    "us_county_deaths": "US certified deaths by county",
    "canada_opioid_deaths": "Canada apparent opioid toxicity deaths",
    "production_measurements": "opium production figures",
    "signature_shares": "US heroin shares by source region",
    "drug_use_prevalence": "drug use prevalence",
    "drug_seizures": "drug seizures",
}


def _fit_rows(name: str, table: pd.DataFrame, gbd_rounds: Sequence[int] | None
              ) -> pd.DataFrame:
    """The rows of a processed table the fits read: GBD's opioid use-disorder death counts
    (of ``gbd_rounds``; not its rates nor other causes), NCHS's death counts (not its
    rates); every row of the other tables."""
    if name == "gbd_deaths":
        keep = (table["cause"] == "opioid_use_disorders") & (table["measure"] == "deaths")
        if gbd_rounds is not None and "gbd_round" in table:
            keep &= table["gbd_round"].isin([int(r) for r in gbd_rounds])
        return table[keep]
    if name == "us_deaths_by_drug":
        return table[table["measure"] == "deaths"]
    return table


def source_label(source: str, table: str) -> str:
    """A coverage row's label: what the table holds, and who publishes it (registry)."""
    from burden.registry.published import REFERENCE_SOURCES
    from burden.registry.sources import SOURCES

    src = SOURCES.get(source) or REFERENCE_SOURCES.get(source)
    what = TABLE_WHAT.get(table, table)
    who = re.sub(r"\s*\([^)]*\)", "", src.publisher) if src else source
    return f"{what}: {who}"


def _country_years(name: str, table: pd.DataFrame) -> pd.DataFrame:
    """(source, country, year) rows a processed table informs."""
    if name == "gbd_deaths":
        rows = table[table["location_level"] == "country"]
        return pd.DataFrame({"source": rows["source"], "country": rows["location_id"],
                             "year": rows["year"]})
    if name == "population":
        return pd.DataFrame({"source": table["source"], "country": table["location_id"],
                             "year": table["year"]})
    if name in ("us_deaths_by_drug", "us_provisional", "us_provisional_national"):
        return pd.DataFrame({"source": table["source"], "country": "USA",
                             "year": table["year"]})
    if name == "us_county_deaths":  # pooled periods inform every year they span
        years = [range(int(a), int(b) + 1) for a, b in
                 zip(table["year_start"], table["year_end"])]
        return pd.DataFrame({"source": table["source"], "country": "USA", "year": years}
                            ).explode("year")
    if name == "production_measurements":
        rows = table[table["iso3"].notna() & (table["iso3"] != "WLD")]
        return pd.DataFrame({"source": rows["source"], "country": rows["iso3"],
                             "year": rows["year"]})
    if name == "signature_shares":
        return pd.DataFrame({"source": table["source"], "country": table["destination"],
                             "year": table["year"]})
    if name == "canada_opioid_deaths":
        rows = table[table["location_level"] == "country"]
        return pd.DataFrame({"source": rows["source"], "country": rows["location_id"],
                             "year": rows["year"]})
    if name in ("drug_use_prevalence", "drug_seizures"):
        return pd.DataFrame({"source": table["source"], "country": table["iso3"],
                             "year": table["year"]})
    raise ValueError(f"data coverage: unknown table {name!r}")


def data_coverage_data(tables: Mapping[str, pd.DataFrame], *,
                       used: Collection[str] | None = None,
                       years: tuple[int, int] | None = None,
                       gbd_rounds: Sequence[int] | None = None) -> pd.DataFrame:
    """Number of countries each source informs in each year (processed tables by name):
    of the tables in ``used`` (all when None), the rows the fits read (``_fit_rows``),
    the years in ``years`` (first, last; all when None). ``label`` names the source
    readably, ``table`` its processed table."""
    parts = [_country_years(name, _fit_rows(name, table, gbd_rounds)).assign(table=name)
             for name, table in tables.items()
             if table is not None and not table.empty and (used is None or name in used)]
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame(columns=COVERAGE_COLUMNS)
    rows = pd.concat(parts, ignore_index=True).astype({"year": int})
    if years is not None:
        rows = rows[rows["year"].between(*years)]
    out = (rows.drop_duplicates().groupby(["table", "source", "year"]).size()
           .rename("n_countries").reset_index())
    order = {name: i for i, name in enumerate(tables)}  # the tables' order, then source
    out = (out.assign(_order=out["table"].map(order)).sort_values(["_order", "source", "year"])
           .drop(columns="_order").reset_index(drop=True))
    labels = {(t, s): source_label(s, t) for t, s in zip(out["table"], out["source"])}
    out["label"] = [labels[k] for k in zip(out["table"], out["source"])]
    return out[COVERAGE_COLUMNS]


def plot_data_coverage(data: pd.DataFrame, *, ax: Axes | None = None) -> Figure:
    """Sources down the side, years along: colour = number of countries informed."""
    require(data, COVERAGE_COLUMNS, "coverage data")
    require_rows(data, "coverage data")
    order = list(dict.fromkeys(data["label"]))[::-1]  # the first source at the top
    grid = data.pivot(index="label", columns="year", values="n_countries").reindex(order)
    grid = grid.reindex(columns=range(int(grid.columns.min()), int(grid.columns.max()) + 1))
    fig, ax = new_axes(ax, (8.0, 0.5 * len(grid) + 1.6))
    years = grid.columns.to_numpy()
    mesh = ax.pcolormesh(np.append(years, years[-1] + 1) - 0.5, np.arange(len(grid) + 1),
                         np.ma.masked_invalid(grid.to_numpy(dtype=float)),
                         norm=LogNorm(vmin=1, vmax=max(2.0, float(data["n_countries"].max()))),
                         cmap="viridis")
    ax.set_yticks(np.arange(len(grid)) + 0.5,
                  [label.replace(": ", "\n", 1) for label in grid.index], fontsize=7)
    ax.set_xlabel("year")
    year_axis(ax)
    bar = ax.figure.colorbar(mesh, ax=ax, label="countries informed")
    bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    bar.ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    return fig
