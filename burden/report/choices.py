"""Choices the report makes from the results: which years have data behind them, which
market to show, how regions are labelled. ``ReportOptions`` holds the reader's choices."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from burden.models.certified_data import US_ANY
from burden.registry.estimands import DEFAULT_GBD_ROUND
from burden.registry.keys import US
from burden.report.inputs import ReportInputs


@dataclass
class ReportOptions:
    """Reader's choices: countries for the small multiples, ranking year, market."""

    countries: Sequence[str] | None = None  # None: the six with most deaths, latest year
    ranking_year: int | None = None  # None: latest year estimated
    market: str = "USA"
    ranking_top: int = 30
    dpi: int = 110


def latest_year(frame: pd.DataFrame) -> int:
    """Last year in a result table."""
    return int(frame["year"].max())


def _nchs_final_counts(inp: ReportInputs) -> pd.DataFrame | None:
    """The NCHS final death counts by drug the deaths fit reads (all ages, both sexes, its
    drugs), from the NIDA table; None without it."""
    from burden.models.deaths_data import US_DRUGS

    nchs = inp.tables.get("us_deaths_by_drug")
    if nchs is None:
        return None
    return nchs[(nchs["group"] == "all") & (nchs["sex"] == "both")
                & (nchs["measure"] == "deaths") & nchs["drug"].isin(US_DRUGS)]


def us_attribution_year(inp: ReportInputs) -> int | None:
    """The year of the US attribution numbers (market shares, attributable deaths, the
    scenarios): the last year of the NCHS final counts by drug, the counts that measure how
    US deaths split by drug. Not where US data end: certified counts of all opioids reach
    further (``last_us_data_year``, ``us_certified_years``). None without the counts."""
    nchs = _nchs_final_counts(inp)
    return int(nchs["year"].max()) if nchs is not None and not nchs.empty else None


def last_us_data_year(inp: ReportInputs) -> int | None:
    """Where the deaths fit's US data end: the last year of the US certified counts it
    reads (NCHS final and VSRR December counts of its drugs, up to its ``last_data_year``).
    After GBD's last year they carry the US curve (docs/models/deaths.md, "After GBD's last
    data year"), so the deaths fit projects the US only after this year. None without
    either table."""
    from burden.models.deaths_data import US_DRUGS, VSRR_TABLE

    nchs = _nchs_final_counts(inp)
    years = nchs["year"].tolist() if nchs is not None else []
    vsrr = inp.tables.get(VSRR_TABLE)
    if vsrr is not None:
        vsrr = vsrr[(vsrr["location_id"] == "US") & (vsrr["month"] == 12)
                    & vsrr["indicator"].isin(US_DRUGS) & vsrr["value"].notna()]
        years += vsrr["year"].tolist()
    deaths = inp.models.get("deaths")
    cut = (deaths.provenance.model_config.get("last_data_year")
           if deaths is not None else None)
    years = [int(y) for y in years if cut is None or y <= int(cut)]
    return max(years) if years else None


def deaths_fit_last_year(inp: ReportInputs) -> int | None:
    """Last year the saved deaths fit reads data of: its ``last_data_year`` (a back-test's
    cut) or its ``forecast_to``, whichever is earlier; None when its config has neither."""
    deaths = inp.models.get("deaths")
    config = deaths.provenance.model_config if deaths is not None else {}
    ends = [int(config[k]) for k in ("last_data_year", "forecast_to")
            if config.get(k) is not None]
    return min(ends) if ends else None


def us_certified_years(inp: ReportInputs) -> tuple[int | None, list[int]]:
    """Where the certified fit's US data end, by its own flags for US any-opioid deaths:
    its last year with a count (``data_year``) and its nowcast years (counts still being
    reported). (None, []) without its summary: the deaths fit's counts
    (``last_us_data_year``) are not the certified fit's, which reads more of them (VSRR
    windows ending in other months than December)."""
    summary = inp.certified_summary
    if summary is None or not {"series", "data_year", "nowcast"} <= set(summary):
        return None, []
    us = summary[summary["series"] == US_ANY]
    data = us.loc[us["data_year"].astype(bool), "year"]
    return (int(data.max()) if len(data) else None,
            sorted(int(y) for y in us.loc[us["nowcast"].astype(bool), "year"]))


def gbd_round(inp: ReportInputs) -> int:
    """The latest GBD round the deaths fit used (its saved config: ``gbd_rounds``, or
    ``gbd_round`` in fits before rounds were measurements), else the package default. The
    report's observed points and its last data year follow this round."""
    deaths = inp.models.get("deaths")
    config = deaths.provenance.model_config if deaths is not None else {}
    if config.get("gbd_rounds"):
        return max(int(r) for r in config["gbd_rounds"])
    if "gbd_round" in config:
        return int(config["gbd_round"])
    return DEFAULT_GBD_ROUND


def gbd_rounds(inp: ReportInputs) -> list[int]:
    """Every GBD round the deaths fit used (its saved config), else ``[gbd_round(inp)]``:
    the rounds whose values the report's deaths figures draw."""
    deaths = inp.models.get("deaths")
    config = deaths.provenance.model_config if deaths is not None else {}
    if config.get("gbd_rounds"):
        return sorted(int(r) for r in config["gbd_rounds"])
    return [gbd_round(inp)]


def last_data_year(inp: ReportInputs) -> int | None:
    """Last year of GBD death data of the fitted round: the deaths fit projects later years,
    except in the US up to its last certified count (``last_us_data_year``)."""
    gbd = inp.tables.get("gbd_deaths")
    if gbd is not None and "gbd_round" in gbd:
        gbd = gbd[gbd["gbd_round"] == gbd_round(inp)]
    if gbd is not None and not gbd.empty:
        return int(gbd["year"].max())
    return latest_year(inp.deaths_summary) if inp.deaths_summary is not None else None


def fit_tables(inp: ReportInputs) -> list[str] | None:
    """The processed tables the saved fits read (their provenance's input hashes), in the
    order of ``inp.tables``; None when no fit records them."""
    read = {t for m in inp.models.values() for t in m.provenance.input_hashes}
    return [t for t in inp.tables if t in read] if read else None


def model_years(inp: ReportInputs) -> tuple[int, int] | None:
    """First and last year the models estimate (deaths, certified, production, markets)."""
    frames = [f for f in (inp.deaths_summary, inp.certified_summary,
                          inp.production_summary, inp.market_summary) if f is not None]
    if not frames:
        return None
    return (min(int(f["year"].min()) for f in frames),
            max(int(f["year"].max()) for f in frames))


def default_countries(summary: pd.DataFrame, year: int | None, n: int = 6) -> list[str]:
    """The ``n`` countries with most (posterior mean) deaths in ``year``."""
    rows = summary[(summary["location_level"] == "country") & (summary["measure"] == "deaths")]
    rows = rows[rows["year"] == (year or rows["year"].max())]
    return rows.sort_values("mean", ascending=False)["location_id"].head(n).tolist()


def market_or_first(frame: pd.DataFrame, wanted: str) -> str:
    """``wanted`` when the table has that market, else its first market, with a warning
    naming the markets the table has (a misspelt ``--market`` is not silently replaced)."""
    markets = list(dict.fromkeys(frame["market"]))
    if wanted in markets:
        return wanted
    warnings.warn(f"market {wanted!r} is not in this table; showing {markets[0]!r} "
                  f"(markets: {', '.join(map(str, markets))})", UserWarning, stacklevel=2)
    return markets[0]


def key_year(rows: pd.DataFrame, last_data: int | None) -> int:
    """The latest year of ``rows`` up to ``last_data`` (the latest year when none is
    known or none is that early)."""
    years = rows["year"]
    if last_data is not None and (years <= last_data).any():
        return int(years[years <= last_data].max())
    return int(years.max())


def attribution_year(inp: ReportInputs, rows: pd.DataFrame, market: str) -> int:
    """The year a market's attribution numbers are shown for (``key_year`` of ``rows``):
    in the US market up to the US attribution year (``us_attribution_year``), elsewhere up
    to GBD's last data year."""
    return key_year(rows, us_attribution_year(inp) if market == US else last_data_year(inp))


def signature_regions() -> dict[str, str]:
    """Heroin Signature Program labels -> the markets model's region keys."""
    from burden.registry.markets import SIGNATURE_REGIONS

    return dict(SIGNATURE_REGIONS)


def region_labels() -> dict[str, str]:
    """The markets model's region keys -> Heroin Signature Program labels."""
    return {key: label for label, key in signature_regions().items()}
