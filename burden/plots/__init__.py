"""One function per figure, each with a data twin returning exactly what it draws.

``<name>_data(...) -> DataFrame`` computes; ``plot_<name>(data, *, ax=None) -> Figure``
draws (small multiples take ``fig=`` instead). Inputs are the tidy result tables of
docs/architecture.md ("Result tables") and the processed tables for observed points.
"""

from burden.plots.attribution import (
    attributable_deaths_data,
    attribution_sensitivity_data,
    plot_attributable_deaths,
    plot_attribution_sensitivity,
)
from burden.plots.certified import certified_deaths_data, plot_certified_deaths
from burden.plots.checks import (
    backtest_coverage_data,
    convergence_data,
    plot_backtest_coverage,
    plot_convergence,
    plot_ppc,
    ppc_data,
    ppc_from_idata,
)
from burden.plots.coverage import data_coverage_data, plot_data_coverage
from burden.plots.deaths import (
    country_ranking_data,
    deaths_over_time_data,
    observed_deaths,
    plot_country_ranking,
    plot_deaths_over_time,
)
from burden.plots.loo_pit import loo_pit_ecdf_data, plot_loo_pit
from burden.plots.markets import market_shares_data, plot_market_shares
from burden.plots.production import (
    plot_production,
    plot_production_shares,
    production_data,
    production_share_data,
    total_from_draws,
)
from burden.plots.us_correction import plot_us_correction, us_correction_data

__all__ = [
    "attributable_deaths_data",
    "attribution_sensitivity_data",
    "backtest_coverage_data",
    "certified_deaths_data",
    "convergence_data",
    "country_ranking_data",
    "data_coverage_data",
    "deaths_over_time_data",
    "loo_pit_ecdf_data",
    "market_shares_data",
    "observed_deaths",
    "plot_attributable_deaths",
    "plot_attribution_sensitivity",
    "plot_backtest_coverage",
    "plot_certified_deaths",
    "plot_convergence",
    "plot_country_ranking",
    "plot_data_coverage",
    "plot_deaths_over_time",
    "plot_loo_pit",
    "plot_market_shares",
    "plot_ppc",
    "plot_production",
    "plot_production_shares",
    "plot_us_correction",
    "ppc_data",
    "ppc_from_idata",
    "production_data",
    "production_share_data",
    "total_from_draws",
    "us_correction_data",
]
