"""Schemas of the result tables: what ``summarise`` writes and the report reads.

Every table the report shows is one of these, validated when written (``burden.summarise``)
and when read (``burden.report.collect``). Summaries are posterior means with central 95%
intervals (``lower``/``upper``); aggregates are sums of draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandera.pandas as pa

from burden.registry.keys import FitStatus, Level

_LEVELS = [str(level) for level in Level]


def _interval(nullable: bool = False) -> dict[str, pa.Column]:
    return {c: pa.Column(float, nullable=nullable) for c in ("mean", "lower", "upper")}


def _year() -> pa.Column:
    return pa.Column(int, pa.Check.in_range(1900, 2100))


def _ordered(frame) -> bool:
    """lower <= mean <= upper where all three are known (a small tolerance for rounding)."""
    known = frame[["lower", "mean", "upper"]].notna().all(axis=1)
    f = frame[known]
    tol = 1e-9 * (1 + f["upper"].abs())
    return bool(((f["lower"] <= f["mean"] + tol) & (f["mean"] <= f["upper"] + tol)).all())


_ORDER = pa.Check(_ordered, error="lower <= mean <= upper")
#: for quantities with a point mass at 0 in more than 97.5% of the draws (upper 0 < mean)
_BOUNDS = pa.Check(lambda f: bool((f["lower"] <= f["upper"]).all()), error="lower <= upper")

DEATHS_SUMMARY = pa.DataFrameSchema(
    {"location_id": pa.Column(str), "location_name": pa.Column(str, nullable=True),
     "location_level": pa.Column(str, pa.Check.isin(_LEVELS)), "year": _year(),
     "measure": pa.Column(str, pa.Check.isin(["deaths", "rate_per_100k"])),
     # rates are missing for a country without population (Taiwan)
     **_interval(nullable=True),
     # the estimand (burden.registry.estimands): GBD deaths due to opioid use disorders
     "definition": pa.Column(str, pa.Check.isin(["gbd_use_disorder"])),
     # a year after the last GBD data year: a projection (the US block's certified counts
     # inform the US and, through the pooled trends, its region)
     "projected": pa.Column(bool)},
    unique=["location_id", "year", "measure"], strict=True, coerce=True, checks=[_ORDER])

CERTIFIED_SUMMARY = pa.DataFrameSchema(
    {"series": pa.Column(str), "location_id": pa.Column(str), "drug": pa.Column(str),
     "year": _year(), **_interval(),
     "definition": pa.Column(str, pa.Check.isin(["certified_overdose"])),
     "data_year": pa.Column(bool), "nowcast": pa.Column(bool)},
    unique=["series", "year"], strict=True, coerce=True, checks=[_ORDER])

CERTIFIED_CORRECTION = pa.DataFrameSchema(
    {"year": _year(),
     "series": pa.Column(str, pa.Check.isin(["reported", "corrected", "imputed",
                                             "unspecified"])),
     **_interval(), "prior_driven": pa.Column(bool),
     "definition": pa.Column(str, pa.Check.isin(["certified_overdose"]))},
    unique=["year", "series"], strict=True, coerce=True, checks=[_ORDER])

PRODUCTION_SUMMARY = pa.DataFrameSchema(
    {"source": pa.Column(str), "year": _year(),
     "measure": pa.Column(str, pa.Check.isin(["production_t", "share"])), **_interval()},
    unique=["source", "year", "measure"], strict=True, coerce=True, checks=[_ORDER])

PRODUCTION_TOTAL = pa.DataFrameSchema(
    {"year": _year(), **_interval()}, unique=["year"], strict=True, coerce=True,
    checks=[_ORDER])

MARKET_SUMMARY = pa.DataFrameSchema(
    {"market": pa.Column(str), "source_region": pa.Column(str, required=False),
     "source": pa.Column(str, required=False), "year": _year(), **_interval(),
     "prior_driven": pa.Column(bool)},
    strict=True, coerce=True, checks=[_ORDER])

ROUTE_PRIORS = pa.DataFrameSchema(
    {"market": pa.Column(str), "main_regions": pa.Column(str),
     "main_share_mean": pa.Column(float, pa.Check.in_range(0, 1)),
     "concentration": pa.Column(float, pa.Check.gt(0)),
     "prior_lower": pa.Column(float), "prior_upper": pa.Column(float),
     "statement": pa.Column(str), "citation": pa.Column(str), "url": pa.Column(str),
     # UNODC seizures inside the market (markets_data.seizure_evidence): they show that
     # illicit opiates reach it, not where they come from (no origin field)
     "heroin_kg": pa.Column(float, pa.Check.ge(0), nullable=True),
     "opium_kg": pa.Column(float, pa.Check.ge(0), nullable=True),
     "countries": pa.Column(float, pa.Check.ge(0), nullable=True),
     "years": pa.Column(str, nullable=True),
     "has_opiate_seizures": pa.Column(bool, nullable=True)},
    unique=["market"], strict=True, coerce=True)

COMPOSITION_SUMMARY = pa.DataFrameSchema(
    {"location_id": pa.Column(str), "year": _year(),
     "group": pa.Column(str, pa.Check.isin([
         "opiate_only", "synthetic_only", "opiate_and_synthetic", "not_illicit",
         "involving_illicit_opiate", "involving_illicit_synthetic"])),
     **_interval(), "measured": pa.Column(bool), "prior_driven": pa.Column(bool)},
    # no lower <= mean <= upper check: a share with a point mass at 0 in more than 97.5%
    # of the draws (US T40.4 deaths below the pharmaceutical baseline) has upper 0 < mean
    unique=["location_id", "year", "group"], strict=True, coerce=True,
    checks=[_BOUNDS])

ATTRIBUTION_SUMMARY = pa.DataFrameSchema(
    {"definition": pa.Column(str, pa.Check.isin(["gbd_use_disorder", "certified_overdose"])),
     "market": pa.Column(str),
     "supply_chain": pa.Column(str, pa.Check.isin(["illicit_opiate", "illicit_synthetic",
                                                   "not_attributed", "all"])),
     "source": pa.Column(str), "year": _year(), **_interval(),
     "prior_driven": pa.Column(bool), "projected": pa.Column(bool)},
    # lower <= upper only, as the sensitivity table: a row with deaths in fewer than 2.5% of
    # the draws has upper 0 < mean (none in make report of 9efef48, 2026-12-07; the
    # sensitivity table had two)
    unique=["market", "supply_chain", "source", "year"], strict=True, coerce=True,
    checks=[_BOUNDS])

SENSITIVITY = pa.DataFrameSchema(
    {"scenario": pa.Column(str), "market": pa.Column(str), "source": pa.Column(str),
     "year": _year(), **_interval(), "fentanyl_manufacture": pa.Column(str),
     "both_to_opiate": pa.Column(str),
     "definition": pa.Column(str, pa.Check.isin(["gbd_use_disorder", "certified_overdose"]))},
    # no lower <= mean <= upper check: a source a scenario gives deaths in fewer than 2.5%
    # of the draws has upper 0 < mean (US CHN 2007-2008 with both -> opiate: mean 0.03 and
    # 0.09, make report of 9efef48, 2026-12-07); such rows were dropped before 2026-12-07
    unique=["scenario", "source", "year"], strict=True, coerce=True,
    checks=[_BOUNDS])

MARKET_MEMBERS = pa.DataFrameSchema(
    {"market": pa.Column(str), "location_id": pa.Column(str), "location_name": pa.Column(str)},
    # a country is in one market
    unique=["location_id"], strict=True, coerce=True)

ASSUMPTIONS = pa.DataFrameSchema(
    {"assumption": pa.Column(str), "value": pa.Column(str), "note": pa.Column(str)},
    unique=["assumption"], strict=True, coerce=True)

DIAGNOSTICS = pa.DataFrameSchema(
    {"variable": pa.Column(str), "size": pa.Column(int, pa.Check.ge(1)),
     "r_hat_max": pa.Column(float, nullable=True),
     "ess_bulk_min": pa.Column(float, nullable=True),
     "ess_tail_min": pa.Column(float, nullable=True)},
    unique=["variable"], strict=True, coerce=True)

PPC = pa.DataFrameSchema(
    {"model": pa.Column(str), "variable": pa.Column(str), "observed": pa.Column(float),
     **_interval(), "inside": pa.Column(bool)},
    strict=True, coerce=True)

#: LOO-PIT per observation (``burden.validate.loo_pit``)
LOO_PIT = pa.DataFrameSchema(
    {"model": pa.Column(str), "variable": pa.Column(str), "source": pa.Column(str),
     "observation": pa.Column(int, pa.Check.ge(0)),
     "pit": pa.Column(float, pa.Check.in_range(0, 1)),
     "pareto_k": pa.Column(float, nullable=True)},
    strict=True, coerce=True)

#: power-scaling prior sensitivity of headline outputs (``burden.validate.prior_sensitivity``)
PRIOR_SENSITIVITY = pa.DataFrameSchema(
    {"model": pa.Column(str), "quantity": pa.Column(str), "mean": pa.Column(float),
     "prior_sensitivity": pa.Column(float, pa.Check.ge(0)),
     "likelihood_sensitivity": pa.Column(float, pa.Check.ge(0)),
     "diagnosis": pa.Column(str),
     # the configured prior whose own power-scaling sensitivity is largest, and that
     # sensitivity; absent in tables written before them (2026-12-07): not computed
     "largest_prior": pa.Column(str, pa.Check.str_length(min_value=1), required=False),
     "largest_prior_sensitivity": pa.Column(float, pa.Check.ge(0), required=False)},
    strict=True, coerce=True,
    checks=[pa.Check(lambda f: ("largest_prior" in f) == ("largest_prior_sensitivity" in f),
                     error="largest_prior and largest_prior_sensitivity: both or neither")])

USAGE = pa.DataFrameSchema(
    {"row": pa.Column(int), "record": pa.Column(str), "used": pa.Column(bool),
     "how": pa.Column(str, nullable=True), "reason": pa.Column(str, nullable=True)},
    strict=False, coerce=True)

BACKTEST = pa.DataFrameSchema(
    {"model": pa.Column(str), "observed": pa.Column(float), "lower": pa.Column(float),
     "upper": pa.Column(float), "nominal": pa.Column(float, pa.Check.in_range(0, 1))},
    strict=False, coerce=True)


@dataclass(frozen=True)
class ResultTable:
    """One result file of a fit: ``<models>/<fit>/<name>.csv``."""

    name: str
    schema: pa.DataFrameSchema
    description: str

    @property
    def filename(self) -> str:
        return f"{self.name}.csv"


#: the convergence and predictive-check tables every model fit has
_FIT_CHECKS = (ResultTable("diagnostics", DIAGNOSTICS, "R-hat and ESS per quantity"),
               ResultTable("ppc", PPC, "posterior predictive check per observation"),
               ResultTable("loo_pit", LOO_PIT, "LOO-PIT and Pareto k per observation, "
                           "with its data source"),
               ResultTable("prior_sensitivity", PRIOR_SENSITIVITY, "power-scaling prior "
                           "and likelihood sensitivity of the headline outputs"))

#: fit name -> its result tables (written by ``burden summarise <fit>``)
RESULTS: dict[str, tuple[ResultTable, ...]] = {
    "deaths": (
        ResultTable("summary", DEATHS_SUMMARY, "deaths and rates per 100,000 by location "
                    "(every level) and year"),
        *_FIT_CHECKS,
    ),
    "production": (
        ResultTable("summary", PRODUCTION_SUMMARY, "production (t) and share of world "
                    "production by source and year"),
        ResultTable("total", PRODUCTION_TOTAL, "world production (sum of draws)"),
        ResultTable("usage", USAGE, "every published row: used (how) or not (why)"),
        *_FIT_CHECKS,
    ),
    "markets": (
        ResultTable("summary", MARKET_SUMMARY, "market shares by source region, with "
                    "prior-driven flags"),
        ResultTable("route_priors", ROUTE_PRIORS, "route priors of markets without "
                    "signature data, with citations"),
        ResultTable("usage", USAGE, "every signature row: used (how) or not (why)"),
        *_FIT_CHECKS,
    ),
    "certified": (
        ResultTable("summary", CERTIFIED_SUMMARY, "certified opioid-involved overdose "
                    "deaths by series (US by drug, Canada) and year, to the present"),
        ResultTable("us_correction", CERTIFIED_CORRECTION, "US any-opioid deaths: reported, "
                    "unspecified, imputed and corrected (prior-driven)"),
        *_FIT_CHECKS,
    ),
    "composition": (
        ResultTable("summary", COMPOSITION_SUMMARY, "shares of opioid deaths by drug type "
                    "(disjoint groups and shares involving each illicit type) by country and "
                    "year, measured or modelled, with prior-driven flags"),
        ResultTable("usage", USAGE, "every prevalence and seizure row: used (how) or not "
                    "(why)"),
        *_FIT_CHECKS,
    ),
    "attribution": (
        ResultTable("summary", ATTRIBUTION_SUMMARY, "the world table by source: deaths by "
                    "destination market (and World), supply chain, source and year, with the "
                    "not-attributed rows and the total (= the deaths estimate), the "
                    "definition named in every row, prior-driven flags, and projected "
                    "for the years after the deaths fit's data"),
        ResultTable("sensitivity", SENSITIVITY, "US attributable deaths under each "
                    "scenario of the synthetic supply chain and of deaths involving both "
                    "an illicit opiate and an illicit synthetic, each assumption as stored "
                    "(a fixed value or the prior drawn per draw)"),
        ResultTable("assumptions", ASSUMPTIONS, "the assumptions the attribution used"),
        ResultTable("markets", MARKET_MEMBERS, "the countries each market sums (a market "
                    "region without the countries that are markets of their own: the "
                    "registry's North America is Greenland alone)"),
    ),
}

#: Status values of a fit's manifest (``FitStatus``)
STATUSES = [str(s) for s in FitStatus]
