"""Wall time, CPU time and peak memory of each stage of ``attribute_from_saved``, on the
project's saved fits (``make models`` first). The stages are those of
``burden.attribution.attribute_from_saved``, repeated here with a timer between them; as of
2026-12-05 (before ce84e5e) the deaths fit's ``target_draws`` (every level concatenated)
took 4.2 s and 1.2 GB of a 14.6 s attribution.

    python analysis/attribution_stages.py
"""

from __future__ import annotations

import resource
import time

T0 = time.perf_counter()
_last = [T0]


def mark(label: str) -> None:
    now = time.perf_counter()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    print(f"{label:32s} {now - _last[0]:6.2f} s  (total {now - T0:6.2f} s; CPU user "
          f"{ru.ru_utime:6.1f} s, system {ru.ru_stime:5.1f} s; peak {ru.ru_maxrss / 1e6:.2f} GB)",
          flush=True)
    _last[0] = now


def main() -> None:
    from burden import attribution as A
    from burden.fits import load_fit
    from burden.registry.keys import WORLD_ID
    from burden.registry.markets import market_of

    mark("imports")
    deaths = load_fit("deaths")
    mark("load deaths")
    markets, comp = load_fit("markets"), load_fit("composition")
    mark("load markets, composition")
    locations = deaths.data.get("locations")
    country = deaths.deaths_draws("country")
    mark("country draws")
    available = set(country["location"].values.tolist())
    countries = [c for c in locations["iso3"].astype(str) if c in available]
    mapping = {loc: market_of(loc, locations) for loc in countries}
    shares = markets.all_share_draws(sorted(set(mapping.values())))
    mark("market shares")
    comp_years = set(comp.years.tolist())
    years = A._common_years(country["year"].sel(
        year=[y for y in country.year.values.tolist() if y in comp_years]), shares)
    by_country = A._select(country.drop_vars("location_name", errors="ignore"),
                           location=countries, year=years)
    mark("countries and years")
    composition = comp.group_draws(countries, years, resample=(
        by_country.sizes["chain"], by_country.sizes["draw"], 20171))
    mark("composition draws")
    A.market_groups(by_country, composition, mapping, seed=20171)
    mark("market groups")
    deaths.deaths_draws("world").sel(location=WORLD_ID, year=years)
    mark("world draws")
    comp.prior_driven(countries, years)
    mark("prior-driven flags")


if __name__ == "__main__":
    main()
