"""Simulate data from the opioid-deaths model (for parameter recovery and tests).

Every number here is synthetic: a small made-up world (super-regions, regions, countries,
populations) whose tables have the processed schemas; the measured values are one draw from
the model's prior predictive, and the parameters of that draw are the truth to recover.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pymc as pm

from burden.models.deaths_data import GBD_CAUSE, US_DRUGS
from burden.registry.locations import MARKET_REGIONS

#: Synthetic countries: USA carries the US block, TWN has no population (as in the real
#: World Bank table), the others are made-up codes.
SIM_COUNTRIES = ("USA", "TWN") + tuple(f"X{i:02d}" for i in range(40))


def sim_locations(n_super: int = 7, regions_per_super: int = 3) -> pd.DataFrame:
    """A made-up hierarchy shaped like GBD's (7 super-regions, 21 regions), countries spread
    evenly over the regions; drug-market regions assigned in turn (for attribution)."""
    n_regions = n_super * regions_per_super
    rows = []
    for i, iso3 in enumerate(SIM_COUNTRIES):
        r = i % n_regions
        s = r // regions_per_super
        rows.append({"iso3": iso3, "name": f"Country {iso3}", "region_id": f"GBD_R:r{r}",
                     "region_name": f"Region {r}", "super_region_id": f"GBD_SR:s{s}",
                     "super_region_name": f"Super-region {s}",
                     "market_region": MARKET_REGIONS[i % len(MARKET_REGIONS)]})
    return pd.DataFrame(rows)


#: Synthetic GBD rounds: the second one publishes two more years and one more country
#: (like GBD 2019 after GBD 2017). Values are published with decimals (no rounding).
SIM_ROUNDS = (2017, 2019)
SIM_SECOND_ROUND_ONLY = ("X39",)


def template_tables(first: int = 1990, last: int = 2017, us_first: int = 1999,
                    us_last: int = 2019, vsrr_years: tuple[int, ...] = (2015, 2016, 2017),
                    seed: int = 1, rounds: tuple[int, ...] = SIM_ROUNDS
                    ) -> dict[str, pd.DataFrame]:
    """Tables in the processed schemas with placeholder values (1.5) to be simulated.

    ``gbd_deaths`` holds the GBD ``rounds``: the first through ``last`` without the
    countries of ``SIM_SECOND_ROUND_ONLY``, each later one through ``last + 2`` with every
    country."""
    rng = np.random.default_rng(seed)
    years = np.arange(first, 2025)
    locations = sim_locations()
    gbd = pd.DataFrame([
        {"location_id": c, "location_name": f"Country {c}", "location_level": "country",
         "year": y, "cause": GBD_CAUSE, "measure": "deaths", "value": 1.5,
         "gbd_round": r, "source": "sim"}
        for i, r in enumerate(rounds)
        for c in SIM_COUNTRIES if i > 0 or c not in SIM_SECOND_ROUND_ONLY
        for y in range(first, (last if i == 0 else last + 2) + 1)])
    pop_rows = []
    for c in SIM_COUNTRIES:
        if c == "TWN":
            continue
        base, growth = np.exp(rng.uniform(np.log(1e6), np.log(3e8))), rng.uniform(0, 0.02)
        pop_rows += [{"location_id": c, "year": int(y),
                      "population": base * (1 + growth) ** (y - first), "source": "sim"}
                     for y in years]
    nchs = pd.DataFrame([
        {"year": y, "drug": d, "group": "all", "sex": "both", "measure": "deaths",
         "value": 1.0, "source": "sim"}
        for d in US_DRUGS for y in range(us_first, us_last + 1)])
    # all_overdose is the (synthetic) number of deaths behind the percent specified
    vsrr = pd.DataFrame([
        {"location_id": "US", "location_level": "country", "year": y, "month": 12,
         "indicator": ind,
         "value": {"percent_specified": 50.0, "all_overdose": 1e4}.get(ind, 1.0),
         "predicted_value": np.nan, "percent_complete": 100.0, "percent_pending": 0.0,
         "footnote": None, "underreported": False, "source": "sim"}
        for ind in ("any_opioid", "heroin", "synthetic_opioids", "percent_specified",
                    "all_overdose")
        for y in vsrr_years])
    return {"gbd_deaths": gbd, "population": pd.DataFrame(pop_rows),
            "us_deaths_by_drug": nchs, "us_provisional_national": vsrr, "locations": locations}


#: Hyper-parameters fixed for simulation: posterior means of the real-data fit (nutpie,
#: 4 chains x 300 draws, 2026-11-28; docs/models/deaths.md). Prior draws of the scales can
#: be extreme (e.g. a GBD error of 0.4% or opioid shares of 97%), giving simulated worlds
#: unlike the real one. Not used by the recovery test: calibration holds on average over
#: prior draws, and some of these values sit in their priors' tails (docs/models/deaths.md).
REAL_FIT_HYPER = {
    "sigma_super_region": 0.257, "sigma_region": 0.663, "sigma_country": 0.721,
    "tau_super_region": 0.175, "tau_region": 0.127, "tau_country": 0.289,
    "tau_definition_ratio": 0.14, "tau_share": 0.742,
    "sigma_nchs": 0.062, "sigma_vsrr": 0.056,
    "sigma_gbd": 0.039,  # median of the 7 super-regions' means (0.013-0.059)
}  # (before GBD rounds were measurements: not updated for the round parameters)


def simulate(estimator, tables: dict[str, pd.DataFrame], seed: int, n_draws: int = 1,
             fixed: dict[str, float] | None = None
             ) -> tuple[dict[str, pd.DataFrame], dict[str, np.ndarray], object]:
    """The first of ``n_draws`` prior-predictive draws: the tables with simulated values, the
    true parameters, and all the draws (a DataTree). ``fixed`` hyper-parameters are set to
    the given values (their truth) and everything else is drawn from the model."""
    base = estimator.build_model(estimator.prepare_data(tables))
    fixed, values = dict(fixed or {}), {}
    if fixed:
        values = {name: np.broadcast_to(value, base[name].shape.eval()).copy()
                  for name, value in fixed.items()}
        with pm.do(base, values):
            draws = pm.sample_prior_predictive(n_draws, random_seed=seed)
    else:
        draws = estimator.sample_prior_predictive(tables, draws=n_draws, random_seed=seed)
    model = base
    prior = draws["prior"].to_dataset().isel(chain=0, draw=0)
    pred = draws["prior_predictive"].to_dataset().isel(chain=0, draw=0)
    out = {k: v.copy() for k, v in tables.items()}
    out["gbd_deaths"]["value"] = np.exp(pred["gbd_log_deaths"].values)
    out["us_deaths_by_drug"]["value"] = np.exp(pred["nchs_log_deaths"].values)
    vsrr = out["us_provisional_national"]
    is_count = vsrr["indicator"].isin(US_DRUGS).to_numpy()
    vsrr.loc[is_count, "value"] = np.exp(pred["vsrr_log_deaths"].values)
    truth = {rv.name: np.asarray(values[rv.name] if rv.name in fixed else prior[rv.name])
             for rv in model.free_RVs}
    return out, truth, draws


def with_overlap(tables: dict[str, pd.DataFrame], fraction: float = 0.2
                 ) -> dict[str, pd.DataFrame]:
    """``tables`` plus synthetic NCHS rows ``heroin_and_synthetic_opioids`` (deaths that
    involve both, not modelled by ``OpioidDeaths``): ``fraction`` of the simulated heroin
    deaths each year, so attribution can split the simulated US deaths without counting any
    twice. A made-up number for tests, like the rest of this world."""
    nchs = tables["us_deaths_by_drug"]
    heroin = nchs[nchs["drug"] == "heroin"]
    both = heroin.assign(drug="heroin_and_synthetic_opioids", value=heroin["value"] * fraction)
    return {**tables, "us_deaths_by_drug": pd.concat([nchs, both], ignore_index=True)}
