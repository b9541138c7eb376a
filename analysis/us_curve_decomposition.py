"""Where does the deaths fit's US GBD-definition curve leave the GBD 2019 round? The US
curve by stage, beside the round's values and their place in the fit's predictive.

    python analysis/us_curve_decomposition.py [MODELS_DIR] [--location USA]

Medians of the saved deaths fit's draws, by year, of: the anchor round's fitted curve (the
round a country's curve is anchored to: GBD 2019 for the US), the rounds' average curve
(the anchor's minus its bias), and the latent deaths the summaries report (minus the
rounds' mean bias drawn after sampling, and for the US the definition ratio's drift after
GBD's last year). Then, for the anchor round's own values, the share of the fit's
predictive draws of that round below each (the fitted curve plus N(0, sigma_gbd) of the
location's super-region): near 0 or 1, the curve misses the round's value. And the
certified any-opioid counts the fit reads (NCHS final; VSRR after them), for the US.
"""

from __future__ import annotations

from burden import config

config.use_process_defaults()  # as the command line does, before numpy or Numba load

import argparse
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from burden.fits import load_fit, read_tables


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models_dir", nargs="?", type=Path, default=None)
    p.add_argument("--location", default="USA")
    p.add_argument("--from-year", type=int, default=2012)
    a = p.parse_args()
    warnings.simplefilter("ignore")
    est = load_fit("deaths", a.models_dir or config.models_dir())
    inp = est.inputs()
    c = inp.countries.index(a.location)
    years = np.asarray(inp.years)
    shown = [i for i, y in enumerate(years) if y >= a.from_year]
    stages = {"anchor round's curve": est._rounds_average_log_deaths("country_anchored_coef"),
              "rounds' average": est._rounds_average_log_deaths(),
              "latent (reported)": est._country_log_deaths()}
    table = pd.DataFrame({name: np.exp(np.median(v[..., c, :].reshape(-1, len(years)), 0))
                          for name, v in stages.items()}, index=years).iloc[shown]
    anchor = inp.rounds[inp.round_anchor[c]]
    gbd = read_tables(["gbd_deaths"])["gbd_deaths"]
    rows = gbd[(gbd["location_id"] == a.location) & (gbd["measure"] == "deaths")
               & (gbd["gbd_round"] == anchor) & (gbd["cause"] == "opioid_use_disorders")]
    values = rows.set_index("year")["value"]
    table[f"GBD {anchor}"] = values.reindex(table.index)
    curve = stages["anchor round's curve"][..., c, :].reshape(-1, len(years))
    sigma = np.asarray(est.posterior["sigma_gbd"]).reshape(-1, len(inp.super_region_ids))
    noise = sigma[:, inp.country_super[c]] * np.random.default_rng(0).normal(size=len(curve))
    table[f"PIT of GBD {anchor}"] = [
        float(np.mean(curve[:, i] + noise < np.log(values[y]))) if y in values.index
        else np.nan for i, y in zip(shown, table.index)]
    if a.location == "USA" and inp.us is not None:
        us = inp.us
        any_rows = us.nchs_drug == 0
        certified = pd.Series(np.exp(us.nchs_log[any_rows]),
                              index=np.asarray(us.years)[us.nchs_year[any_rows]])
        vsrr = us.vsrr_drug == 0
        late = pd.Series(np.exp(us.vsrr_log[vsrr]), index=np.asarray(us.years)[us.vsrr_year[vsrr]])
        certified = certified.combine_first(late[~late.index.isin(certified.index)])
        table["certified any-opioid (NCHS, then VSRR)"] = certified.reindex(table.index)
    print(f"deaths fit, {a.location} (anchor round GBD {anchor}), medians of the draws:")
    print(table.to_string(float_format=lambda v: f"{v:,.0f}" if v > 1 else f"{v:.3f}"))


if __name__ == "__main__":
    main()
