"""Data coverage: how many countries each data source informs in each year."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from burden.plots._common import new_axes, require, require_rows, year_axis

COVERAGE_COLUMNS = ["source", "year", "n_countries"]


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


def data_coverage_data(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Number of countries each source informs in each year (processed tables by name)."""
    parts = [_country_years(name, table) for name, table in tables.items()
             if table is not None and not table.empty]
    if not parts:
        return pd.DataFrame(columns=COVERAGE_COLUMNS)
    rows = pd.concat(parts, ignore_index=True).astype({"year": int})
    return (rows.drop_duplicates().groupby(["source", "year"]).size()
            .rename("n_countries").reset_index()[COVERAGE_COLUMNS])


def plot_data_coverage(data: pd.DataFrame, *, ax: Axes | None = None) -> Figure:
    """Sources down the side, years along: colour = number of countries informed."""
    require(data, COVERAGE_COLUMNS, "coverage data")
    require_rows(data, "coverage data")
    grid = data.pivot(index="source", columns="year", values="n_countries")
    grid = grid.reindex(columns=range(int(grid.columns.min()), int(grid.columns.max()) + 1))
    fig, ax = new_axes(ax, (8.0, 0.4 * len(grid) + 1.6))
    years = grid.columns.to_numpy()
    mesh = ax.pcolormesh(np.append(years, years[-1] + 1) - 0.5, np.arange(len(grid) + 1),
                         np.ma.masked_invalid(grid.to_numpy(dtype=float)),
                         norm=LogNorm(vmin=1, vmax=max(2.0, float(data["n_countries"].max()))),
                         cmap="viridis")
    ax.set_yticks(np.arange(len(grid)) + 0.5, grid.index, fontsize=8)
    ax.set_xlabel("year")
    year_axis(ax)
    bar = ax.figure.colorbar(mesh, ax=ax, label="countries informed")
    bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    bar.ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    return fig
