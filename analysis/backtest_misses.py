"""Where the deaths back-test's 90% predictive intervals miss: by cut and GBD round, in
which direction, whether the two rounds of a country-year miss together or apart, by
super-region, and which countries miss most.

    python analysis/backtest_misses.py [models/deaths_backtest.csv]

Reads the table `burden backtest deaths` writes (one row per held-back GBD country value:
its round, the predictive interval for a new value of that round, and whether it fell
inside). Coverage pooled over country-years hides that misses cluster by country: a
country whose GBD curve turned after the cut misses in most of its held-back years. The
binomial standard error printed with each share treats the values as independent, so it
is a lower bound (values of one country are correlated).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

COLUMNS = ("location_id", "year", "gbd_round", "value", "predictive_lower",
           "predictive_upper", "predictive_hit", "last_data_year", "nominal")


def read(path: Path) -> pd.DataFrame:
    table = pd.read_csv(path)
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise SystemExit(f"{path}: columns {missing} missing; expected the table of "
                         "`burden backtest deaths` (models/deaths_backtest.csv)")
    table["above"] = table["value"] > table["predictive_upper"]
    table["below"] = table["value"] < table["predictive_lower"]
    return table


def shares(group: pd.DataFrame) -> pd.Series:
    n = len(group)
    cover = group["predictive_hit"].mean()
    return pd.Series(dtype=object, data={
        "n": n,
        "countries": group["location_id"].nunique(),
        "inside": round(cover, 3),
        "se (independent)": round(float(np.sqrt(cover * (1 - cover) / n)), 3),
        "above": round(group["above"].mean(), 3),
        "below": round(group["below"].mean(), 3),
    })


def by_country(table: pd.DataFrame) -> pd.DataFrame:
    """One row per cut and country: held-back values and the share outside."""
    out = (table.groupby(["last_data_year", "location_id"])
           .agg(n=("value", "size"), outside=("predictive_hit", lambda h: 1 - h.mean()),
                above=("above", "sum"), below=("below", "sum"))
           .reset_index())
    return out


def round_pairs(table: pd.DataFrame) -> pd.DataFrame:
    """Per cut: of the country-years that both rounds measure, how many have both values
    outside in opposite directions (the rounds' gap not as projected), both outside in
    the same direction (the curve itself not as projected), or one outside only."""
    side = np.where(table["above"], 1, np.where(table["below"], -1, 0))
    wide = (table.assign(side=side)
            .pivot_table(index=["last_data_year", "location_id", "year"],
                         columns="gbd_round", values="side"))
    if wide.shape[1] != 2:
        return pd.DataFrame()
    wide = wide.dropna()
    first, second = wide.columns
    product = wide[first] * wide[second]
    outside_first, outside_second = wide[first] != 0, wide[second] != 0
    rows = pd.DataFrame({
        "both rounds": 1,
        "both outside, opposite sides": product == -1,
        "both outside, same side": product == 1,
        "one outside": outside_first ^ outside_second,
    }).groupby(level="last_data_year").sum()
    rows["values outside in all"] = (table.groupby("last_data_year")["predictive_hit"]
                                     .apply(lambda h: int((~h).sum())))
    return rows


def main(argv: list[str]) -> None:
    path = Path(argv[0]) if argv else Path("models/deaths_backtest.csv")
    table = read(path)
    nominal = sorted(float(x) for x in table["nominal"].unique())
    print(f"{path}: {len(table):,} held-back GBD values; nominal coverage {nominal}\n")

    print("By cut and round (share of values inside the predictive interval, above it, "
          "below it):")
    print(table.groupby(["last_data_year", "gbd_round"]).apply(shares, include_groups=False)
          .to_string(), "\n")

    pairs = round_pairs(table)
    if not pairs.empty:
        print("Country-years both rounds measure (counts of country-years; a pair outside "
              "on opposite sides is two values outside):")
        print(pairs.to_string(), "\n")

    from burden.registry.locations import hierarchy

    regions = hierarchy(int(table["gbd_round"].max()))[["iso3", "super_region_name"]]
    table = table.merge(regions, left_on="location_id", right_on="iso3", how="left")
    table["super_region_name"] = table["super_region_name"].fillna("(not in the hierarchy)")
    print("By cut and super-region:")
    print(table.groupby(["last_data_year", "super_region_name"])
          .apply(shares, include_groups=False).to_string(), "\n")

    countries = by_country(table)
    for cut, group in countries.groupby("last_data_year"):
        missed = group[group["outside"] > 0]
        print(f"Cut {cut}: {len(missed)} of {len(group)} countries have a value outside; "
              f"{(group['outside'] == 1).sum()} have every value outside; the "
              f"{(group['outside'] >= 0.5).sum()} with half or more outside hold "
              f"{group.loc[group['outside'] >= 0.5, 'outside'].mul(group['n']).sum():.0f} "
              f"of the cut's {group['outside'].mul(group['n']).sum():.0f} misses")
        worst = group.sort_values(["outside", "location_id"], ascending=[False, True])
        print(worst.head(15).to_string(index=False), "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
