"""Turn the processed tables into the arrays the opioid-deaths model needs.

One job: select, check and align the inputs (GBD deaths, population, NCHS counts by drug,
VSRR provisional counts) on a country x year grid. Every choice that changes or leaves out
input rows is written to ``notes`` (and warned by the estimator), never done silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from burden.models.trends import bspline_basis, last_constrained_coef
from burden.registry.estimands import DEFAULT_GBD_ROUND

#: Drugs reported for the US (registry.causes ids); ``any_opioid`` first: the others are
#: shares of it (they overlap: one death can involve several opioids).
#: the VSRR release the US block reads: national 12-month-ending counts 2015-2025
VSRR_TABLE = "us_provisional_national"
US_DRUGS = ("any_opioid", "heroin", "synthetic_opioids", "rx_opioids")
GBD_CAUSE = "opioid_use_disorders"
HIERARCHY_COLUMNS = ("iso3", "name", "region_id", "region_name", "super_region_id",
                     "super_region_name")


@dataclass(frozen=True)
class USBlock:
    """The US measurements on the US years: NCHS and VSRR counts by drug (index arrays into
    ``US_DRUGS`` and ``years``), VSRR percent specified (logit, with its binomial standard
    error), and the spline basis of the US definition ratio and drug shares."""

    years: np.ndarray
    offset: int  # position of years[0] in the model's years
    basis: np.ndarray
    n_constrained: int
    #: definition-ratio coefficients touched by GBD data years (the others are held); after
    #: GBD's last data year (index ``ratio_last`` of ``years``) the ratio is held at its
    #: value then (certified counts alone cannot tell the ratio from the GBD-definition
    #: curve there) and its drift is drawn after sampling, up to the last certified year
    #: (index ``cert_last``)
    n_ratio: int
    ratio_last: int
    cert_last: int
    nchs_drug: np.ndarray
    nchs_year: np.ndarray
    nchs_log: np.ndarray
    vsrr_drug: np.ndarray
    vsrr_year: np.ndarray
    vsrr_log: np.ndarray
    #: extra log-scale error of each VSRR value: 0 for complete months; for a month VSRR
    #: flags as underreported, its predicted (delay-adjusted) value is used and the size of
    #: that adjustment, |log(predicted / reported)|, is added as error
    vsrr_extra_sd: np.ndarray


@dataclass
class DeathsInputs:
    """Aligned arrays for one fit. Years run ``years[0]..years[-1]`` (data + forecast)."""

    years: np.ndarray
    last_data_year: int
    countries: list[str]
    country_names: list[str]
    region_ids: list[str]
    region_names: list[str]
    super_region_ids: list[str]
    super_region_names: list[str]
    country_region: np.ndarray  # index into region_ids
    region_super: np.ndarray  # index into super_region_ids
    has_population: np.ndarray  # bool per country
    population: np.ndarray  # country x year; NaN where unknown
    basis: np.ndarray  # year x coefficient
    n_constrained: int  # coefficients touched by data years
    gbd_country: np.ndarray
    gbd_year: np.ndarray
    gbd_log_deaths: np.ndarray
    #: GBD rounds fitted (``gbd_deaths.gbd_round``), oldest first; ``gbd_round`` of each row
    #: indexes into it
    rounds: list[int]
    gbd_round: np.ndarray
    #: standard deviation on the log scale of the rounding of each value to whole deaths
    #: (0 for rounds published with decimals; GBD 2019 in this file is rounded)
    gbd_rounding_sd: np.ndarray
    #: rows published as 0 deaths (a rounded value below 0.5): left-censored at log(0.5)
    cens_country: np.ndarray
    cens_year: np.ndarray
    cens_round: np.ndarray
    #: per latent year: decades from the middle of the data years (a round's bias trend)
    round_trend_x: np.ndarray
    #: the same linear function in B-spline coefficients (exact: basis @ coef == x)
    round_trend_coef: np.ndarray
    #: per country: the round (index) with most positive values, latest on ties (the
    #: round the country's spline is anchored on)
    round_anchor: np.ndarray
    us: USBlock | None  # None when the US is not among the countries
    notes: list[str] = field(default_factory=list)

    @property
    def country_super(self) -> np.ndarray:
        return self.region_super[self.country_region]


def _check_columns(frame: pd.DataFrame, table: str, needed: tuple[str, ...]) -> None:
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(f"table {table!r} lacks columns {missing}; has {list(frame.columns)}")


def _gbd_country_rows(gbd: pd.DataFrame, last_data_year: int | None,
                      gbd_rounds: tuple[int, ...] = (DEFAULT_GBD_ROUND,)) -> pd.DataFrame:
    _check_columns(gbd, "gbd_deaths", ("location_id", "location_name", "location_level", "year",
                                       "cause", "measure", "value"))
    rows = gbd[(gbd["cause"] == GBD_CAUSE) & (gbd["measure"] == "deaths")
               & (gbd["location_level"] == "country")].copy()
    # gbd_deaths holds several GBD rounds (revisions of the same quantity): each round
    # fitted (DeathsConfig.gbd_rounds) is a measurement with its own bias and error; a table
    # without the column is one round, the first configured
    if "gbd_round" not in rows:
        rows["gbd_round"] = gbd_rounds[0]
    missing = sorted(set(gbd_rounds) - set(rows["gbd_round"].astype(int)))
    if missing:
        raise ValueError(f"gbd_deaths has no country rows of GBD round(s) {missing}; rounds "
                         f"in the table: {sorted(set(rows['gbd_round'].astype(int)))}")
    rows = rows[rows["gbd_round"].isin(gbd_rounds)]
    if rows.empty:
        raise ValueError(f"gbd_deaths has no country rows of cause {GBD_CAUSE!r}, "
                         "measure 'deaths'")
    if last_data_year is not None:
        rows = rows[rows["year"] <= last_data_year]
    return rows


def _hierarchy(locations: pd.DataFrame, countries: list[str]) -> pd.DataFrame:
    _check_columns(locations, "locations (registry.locations.hierarchy())", HIERARCHY_COLUMNS)
    hier = locations.drop_duplicates("iso3").set_index("iso3")
    unknown = sorted(set(countries) - set(hier.index))
    if unknown:
        raise ValueError(
            f"GBD countries without a GBD region in the location hierarchy: {unknown}; add "
            "them to burden/registry/locations.py"
        )
    return hier.loc[countries]


def _population_grid(pop: pd.DataFrame, countries: list[str], years: np.ndarray,
                     notes: list[str]) -> np.ndarray:
    _check_columns(pop, "population", ("location_id", "year", "population"))
    grid = (pop[pop["location_id"].isin(countries)]
            .pivot_table(index="location_id", columns="year", values="population")
            .reindex(index=countries, columns=years))
    for iso3, row in grid.iterrows():
        known = row.dropna()
        if known.empty:
            continue
        gaps = row.index[row.isna()]
        if len(gaps):
            # log-linear interpolation inside the series; past its end, the last value is
            # held (an assumption, named here and in the docs)
            filled = np.exp(pd.Series(np.log(row.values), index=row.index)
                            .interpolate(limit_area="inside")
                            .ffill().bfill())
            grid.loc[iso3] = filled.values
            notes.append(f"population of {iso3}: years {list(map(int, gaps))} missing in the "
                         "World Bank table; interpolated log-linearly inside the series, last "
                         "(or first) value held outside it")
    return grid.to_numpy(dtype=float)


def vsrr_december(vsrr: pd.DataFrame, *, years=None, last_data_year: int | None = None,
                  notes: list[str] | None = None) -> pd.DataFrame:
    """The US December rows of ``VSRR_TABLE`` (12 months ending December) as the deaths fit
    reads them, in ``years`` and up to ``last_data_year`` (each when given): unpublished
    values (NaN) left out; for a month VSRR flags as underreported, ``value`` is VSRR's
    predicted (delay-adjusted) value, ``predicted_used`` says so, ``reported`` keeps the
    published value and ``extra_sd`` the size of the adjustment, |log(predicted /
    reported)| (0 for complete months), added to the fit's error. What is left out or
    replaced is written to ``notes``."""
    _check_columns(vsrr, VSRR_TABLE, ("location_id", "year", "month", "indicator", "value",
                                      "predicted_value", "underreported"))
    notes = notes if notes is not None else []
    vsrr = vsrr[(vsrr["location_id"] == "US") & (vsrr["month"] == 12)]
    if years is not None:
        vsrr = vsrr[vsrr["year"].isin(years)]
    vsrr = vsrr.copy()
    if last_data_year is not None:
        vsrr = vsrr[vsrr["year"] <= last_data_year]
    unpublished = vsrr["value"].isna()
    if unpublished.any():
        notes.append(f"{VSRR_TABLE}: {int(unpublished.sum())} US December values not "
                     "published (NaN) left out")
        vsrr = vsrr[~unpublished]
    # underreported months (VSRR's flag): the predicted value, with the adjustment as error
    under = vsrr["underreported"].fillna(False).astype(bool).to_numpy()
    predicted = vsrr["predicted_value"].to_numpy(float)
    use_pred = under & np.isfinite(predicted) & (vsrr["indicator"] != "percent_specified")
    reported = vsrr["value"].to_numpy(float)
    extra = np.where(use_pred, np.abs(np.log(np.where(use_pred, predicted, 1.0)
                                             / np.where(use_pred, reported, 1.0))), 0.0)
    vsrr = vsrr.assign(value=np.where(use_pred, predicted, reported), reported=reported,
                       predicted_used=use_pred, extra_sd=extra)
    if use_pred.any():
        years_pred = sorted(set(vsrr.loc[use_pred, "year"].astype(int)))
        notes.append(f"{VSRR_TABLE}: December {years_pred} flagged underreported: VSRR's "
                     "predicted values used, with |log(predicted/reported)| added as error")
    return vsrr


def _us_block(data: dict[str, pd.DataFrame], years: np.ndarray, last_data_year: int | None,
              us_start: int | None, us_knot_spacing: float, notes: list[str],
              gbd_last: int) -> USBlock | None:
    nchs = data["us_deaths_by_drug"]
    _check_columns(nchs, "us_deaths_by_drug", ("year", "drug", "group", "sex", "measure",
                                               "value"))
    nchs = nchs[(nchs["group"] == "all") & (nchs["sex"] == "both")
                & (nchs["measure"] == "deaths") & nchs["drug"].isin(US_DRUGS)]
    if last_data_year is not None:
        nchs = nchs[nchs["year"] <= last_data_year]
    missing = [d for d in US_DRUGS if d not in set(nchs["drug"])]
    if missing:
        raise ValueError(f"us_deaths_by_drug lacks drugs {missing} (sex 'both', group 'all', "
                         "measure 'deaths')")
    start = int(us_start or nchs["year"].min())
    us_years = years[years >= start]
    drug_index = {d: i for i, d in enumerate(US_DRUGS)}
    nchs = nchs[nchs["year"].isin(us_years)]

    vsrr = vsrr_december(data[VSRR_TABLE], years=us_years, last_data_year=last_data_year,
                         notes=notes)
    counts = vsrr[vsrr["indicator"].isin(US_DRUGS)]
    year_pos = {int(y): i for i, y in enumerate(us_years)}
    last_obs = int(max(nchs["year"].max(), counts["year"].max() if len(counts) else 0))
    basis = bspline_basis(us_years, int(us_years[0]), int(us_years[-1]), us_knot_spacing)
    n_constrained = last_constrained_coef(basis, last_obs - int(us_years[0]) + 1)
    n_ratio = min(last_constrained_coef(basis, gbd_last - int(us_years[0]) + 1),
                  n_constrained) + 1
    return USBlock(
        years=us_years,
        offset=int(np.searchsorted(years, us_years[0])),
        basis=basis,
        n_constrained=n_constrained,
        n_ratio=n_ratio,
        ratio_last=int(min(gbd_last, last_obs) - us_years[0]),
        cert_last=int(last_obs - us_years[0]),
        nchs_drug=nchs["drug"].map(drug_index).to_numpy(int),
        nchs_year=nchs["year"].map(year_pos).to_numpy(int),
        nchs_log=np.log(nchs["value"].to_numpy(float)),
        vsrr_drug=counts["indicator"].map(drug_index).to_numpy(int),
        vsrr_year=counts["year"].map(year_pos).to_numpy(int),
        vsrr_log=np.log(counts["value"].to_numpy(float)),
        vsrr_extra_sd=counts["extra_sd"].to_numpy(float),
    )


def prepare_inputs(data: dict[str, pd.DataFrame], locations: pd.DataFrame, *,
                   forecast_to: int, knot_spacing: float, us_knot_spacing: float = 3,
                   last_data_year: int | None = None,
                   us_start: int | None = None,
                   gbd_rounds: tuple[int, ...] = (DEFAULT_GBD_ROUND,)) -> DeathsInputs:
    """Align the tables on countries x years ``first GBD year .. forecast_to``."""
    notes: list[str] = []
    rounds = sorted(int(r) for r in gbd_rounds)
    gbd = _gbd_country_rows(data["gbd_deaths"], last_data_year, tuple(rounds))
    # a round published in whole deaths: each value is a rounding of the measured one
    rounded = {r: bool((gbd.loc[gbd["gbd_round"] == r, "value"] % 1 == 0).all())
               for r in rounds}
    is_rounded = gbd["gbd_round"].map(rounded).to_numpy(bool)
    zero = (gbd["value"] <= 0).to_numpy()
    censored = gbd[zero & is_rounded]
    # a country whose every value is a rounded zero: only "under 0.5 deaths a year" would
    # place its curve (an upper bound: its walk mixed slowly, R-hat 1.08); left out
    only_zero = sorted(set(censored["location_id"]) - set(gbd.loc[~zero, "location_id"]))
    if only_zero:
        notes.append(f"gbd_deaths: {only_zero} left out: every value 0 (under 0.5 deaths a "
                     "year in every round fitted), no more than a bound on their curves")
        censored = censored[~censored["location_id"].isin(only_zero)]
    if len(censored):
        notes.append(f"gbd_deaths: {len(censored)} values of 0 in rounds published in whole "
                     "deaths are used as left-censored (fewer than 0.5 deaths) in "
                     f"{censored['location_id'].nunique()} countries")
    dropped = gbd[zero & ~is_rounded]
    if len(dropped):
        notes.append(f"gbd_deaths: {len(dropped)} zero values left out (log scale): "
                     + ", ".join(f"{r.location_id} {r.year}" for r in dropped.itertuples()))
    gbd = gbd[~zero]
    is_rounded = is_rounded[~zero]
    countries = sorted(set(gbd["location_id"]) | set(censored["location_id"]))
    names = pd.concat([gbd, censored]).drop_duplicates("location_id").set_index(
        "location_id")["location_name"]
    first = int(min(gbd["year"].min(), censored["year"].min() if len(censored) else 9999))
    last = int(max(gbd["year"].max(), censored["year"].max() if len(censored) else 0))
    if forecast_to < last:
        raise ValueError(f"forecast_to ({forecast_to}) is before the last data year ({last})")
    years = np.arange(first, forecast_to + 1)
    hier = _hierarchy(locations, countries)
    super_ids = sorted(hier["super_region_id"].unique())
    region_ids = sorted(hier["region_id"].unique())
    region_table = hier.drop_duplicates("region_id").set_index("region_id")
    super_table = hier.drop_duplicates("super_region_id").set_index("super_region_id")
    population = _population_grid(data["population"], countries, years, notes)
    has_pop = ~np.isnan(population).all(axis=1)
    for iso3 in np.asarray(countries)[~has_pop]:
        notes.append(f"population of {iso3}: not in the World Bank table; its deaths are "
                     "modelled (level unpooled) and summed into every aggregate, but it has no "
                     "rate and is left out of aggregate rates (numerator and denominator)")
    basis = bspline_basis(years, first, forecast_to, knot_spacing)
    country_pos = {c: i for i, c in enumerate(countries)}
    trend_x = (years - (first + last) / 2) / 10.0
    counts = (gbd.groupby(["location_id", "gbd_round"]).size().unstack(fill_value=0)
              .reindex(index=countries, columns=rounds, fill_value=0).to_numpy())
    # most positive values, the latest round on ties
    anchor = (len(rounds) - 1 - np.argmax(counts[:, ::-1], axis=1)).astype(int)
    us = None
    if "USA" in country_pos:
        us = _us_block(data, years, last_data_year, us_start, us_knot_spacing, notes,
                       gbd_last=last)
    return DeathsInputs(
        years=years,
        last_data_year=last,
        countries=countries,
        country_names=[str(names[c]) for c in countries],
        region_ids=region_ids,
        region_names=[str(region_table.loc[r, "region_name"]) for r in region_ids],
        super_region_ids=super_ids,
        super_region_names=[str(super_table.loc[s, "super_region_name"]) for s in super_ids],
        country_region=hier["region_id"].map({r: i for i, r in enumerate(region_ids)})
        .to_numpy(int),
        region_super=region_table.loc[region_ids, "super_region_id"]
        .map({s: i for i, s in enumerate(super_ids)}).to_numpy(int),
        has_population=has_pop,
        population=population,
        basis=basis,
        n_constrained=last_constrained_coef(basis, last - first + 1),
        gbd_country=gbd["location_id"].map(country_pos).to_numpy(int),
        gbd_year=(gbd["year"] - first).to_numpy(int),
        gbd_log_deaths=np.log(gbd["value"].to_numpy(float)),
        rounds=rounds,
        gbd_round=gbd["gbd_round"].map({r: i for i, r in enumerate(rounds)}).to_numpy(int),
        # a value k rounded from U(k - 0.5, k + 0.5): sd 1/sqrt(12) deaths, on the log scale
        # about 0.289 / k (0.29 for 1 death, 0.003 for 100)
        gbd_rounding_sd=np.where(is_rounded, 0.5 / np.sqrt(3) / gbd["value"].to_numpy(float),
                                 0.0),
        cens_country=censored["location_id"].map(country_pos).to_numpy(int),
        cens_year=(censored["year"] - first).to_numpy(int),
        cens_round=censored["gbd_round"].map({r: i for i, r in enumerate(rounds)})
        .to_numpy(int),
        round_trend_x=trend_x,
        round_trend_coef=np.linalg.lstsq(basis, trend_x, rcond=None)[0],
        round_anchor=anchor,
        us=us,
        notes=notes,
    )
