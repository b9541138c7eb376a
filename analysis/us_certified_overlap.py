"""The years both certified US series cover: how far apart are NCHS's final counts and
VSRR's provisional ones, as the deaths model reads them?

    python analysis/us_certified_overlap.py [--processed DIR]

The deaths model (burden/models/deaths_graph.py, ``_us_block``) takes NCHS's final counts
(``us_deaths_by_drug``) and VSRR's provisional 12-month-ending December counts
(``us_provisional_national``) of each drug series as two measurements of one reported
count, each with its own error scale (``sigma_nchs``, ``sigma_vsrr``) and no offset
between them. Both come from the same death certificates, but they need not be the same
count: VSRR counts deaths occurring in the 50 states and DC by the jurisdiction of
occurrence (CDC's description of the data set, data.cdc.gov xkb8-kh2a, the URL in
../shared/data/README.md); NCHS's final counts here (CDC WONDER through NIDA) are, we
believe, of US residents only (not checked against WONDER's documentation). Built with the
model's own input code (``prepare_inputs``, the default configuration), so the rows are
those the fit reads. Prints, for each year both series cover, the two counts and
log(VSRR / NCHS) by drug series, then by series the mean and sd of that difference and
how many of the years it is positive.
"""

from __future__ import annotations

from burden import config

config.use_process_defaults()  # as the command line does, before numpy or Numba load

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from burden.fits import read_tables


def overlap(inp) -> pd.DataFrame:
    """One row per drug series and year both series cover: the two log counts and their
    difference (VSRR minus NCHS)."""
    from burden.models.deaths_data import US_DRUGS

    us = inp.us
    years = np.asarray(us.years)
    nchs = pd.DataFrame({"drug": us.nchs_drug, "year": years[us.nchs_year],
                         "log_nchs": us.nchs_log})
    vsrr = pd.DataFrame({"drug": us.vsrr_drug, "year": years[us.vsrr_year],
                         "log_vsrr": us.vsrr_log, "vsrr_extra_sd": us.vsrr_extra_sd})
    both = nchs.merge(vsrr, on=["drug", "year"], how="inner")
    both["drug"] = [US_DRUGS[d] for d in both["drug"]]
    both["nchs"] = np.exp(both["log_nchs"]).round().astype(int)
    both["vsrr"] = np.exp(both["log_vsrr"]).round().astype(int)
    both["log_vsrr_minus_nchs"] = both["log_vsrr"] - both["log_nchs"]
    return both.sort_values(["drug", "year"]).reset_index(drop=True)


def main() -> None:
    import warnings

    from burden.models.deaths import OpioidDeaths

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--processed", type=Path, default=None,
                   help="processed tables (default: the project's data/processed)")
    a = p.parse_args()
    est = OpioidDeaths()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        data = est.prepare_data(read_tables(OpioidDeaths.data_tables, a.processed))
        inp = est.inputs(data)
    both = overlap(inp)
    if both.empty:
        raise SystemExit("no year has both an NCHS and a VSRR count")
    print(both[["drug", "year", "nchs", "vsrr", "vsrr_extra_sd", "log_vsrr_minus_nchs"]]
          .to_string(index=False, float_format=lambda x: f"{x:.4f}"))
    d = both.groupby("drug")["log_vsrr_minus_nchs"]
    summary = pd.DataFrame({"mean": d.mean(), "sd": d.std(), "years": d.size(),
                            "positive": d.apply(lambda s: int((s > 0).sum()))})
    print("\nlog(VSRR / NCHS) by series:")
    print(summary.to_string(float_format=lambda x: f"{x:.4f}"))
    n, pos = len(both), int((both["log_vsrr_minus_nchs"] > 0).sum())
    print(f"\nall series: mean {both['log_vsrr_minus_nchs'].mean():.4f}, {pos} of {n} "
          "positive")


if __name__ == "__main__":
    main()
