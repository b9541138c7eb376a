"""OpiumProduction: latent illicit opium production by source country and year.

Latent: log opium-poppy area (ha) per source and year and a yield (kg/ha) per source and
year (``yield_dynamics``: a Gaussian random walk from the country's first-year level,
'walk', the default; or a country mean plus a yearly deviation, 'hierarchy'); production (t) = area x yield / 1000; world = the sum over sources (incl. the
rest of the world ``ROW``). Every published row of ``production_measurements`` is a noisy
measurement:

- ``production_t``: log production of the source (or the sum of a region's sources, or the
  world); a survey's production with its area pins that year's yield;
- ``cultivation_ha``: log area (same groups);
- ``yield_kg_per_ha``: the latent yield of that country and year;
- ``share_of_world`` / ``share_of_world_area``: log of the source's share of world
  production / area;
- ``production_pct_change``: log(W_y / W_{y-1}) of world production.

A figure republished by another outlet (the CIA World Factbook reprinting UNODC, a World
Drug Report annex reprinting a survey) is one measurement, not two: ``find_republications``
keeps one row and the usage table says which row each dropped copy repeats. A bound ("less
than 2,000 ha", "over 236,000 hectares") is a censored observation (``pm.Censored``), so
posterior predictive draws cover it too.

Each measurement has its own error by series (UNODC-family vs US-government estimates) and
measured quantity (area or production, ``ERROR_QUANTITIES``), a larger error for ``memory``
rows (recalled, unverified), a US-vs-UNODC bias, and Student-t tails so a garbled or
conflicting row does not drag the fit. Log area follows a random walk: a step into a year
in which the source is measured has a Student-t innovation, so the 2001 and 2023 Afghan
bans are single large shocks rather than smoothed dips; a step into a year without a
measurement of the source has a Normal innovation (same scale), because exp(Student-t) has
no finite mean: unconfirmed heavy-tailed shocks compounding over years without data made
the posterior mean of production meaningless. Intervals still widen where there are no
data. Rows that do not enter the likelihood are listed by ``measurement_usage()`` with the
reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from burden import result_schemas
from burden.draws import interval_summary
from burden.errors import ConfigError
from burden.models.base import BayesianEstimator, select_draws
from burden.models.config import Config, Prior, SamplerConfig, prior, setting
from burden.models.logistic import LOGISTIC_PER_SD
from burden.models.production_walk import walk_design, walk_levels
from burden.registry.keys import WORLD_ID
from burden.registry.markets import OPIUM_SOURCES

#: Source countries, ISO3, plus the rest of the world (``registry.markets``).
SOURCES: tuple[str, ...] = OPIUM_SOURCES
YEARS: tuple[int, int] = (1998, 2024)

#: What a measurement error scale is shared by, besides the publisher family: the measured
#: quantity. Area: ``AREA_KINDS``; production: every other kind (production, its share of
#: the world and yearly change, and the yield, which surveys publish with production).
#: Version 7 (2026-12-04): with one scale per family, 6 of the 17 US-government area figures
#: fell in the outer 10% of their leave-one-out predictive (LOO-PIT, docs/validation/
#: checks.md), while the US production figures (0 of 8) and UNODC's did not: the US area
#: estimates disagree with the rest more than its production estimates do.
ERROR_QUANTITIES: tuple[str, ...] = ("production", "area")
AREA_KINDS: tuple[str, ...] = ("area", "area_share")

#: Rows of the curated table that name a group of sources instead of one ISO3.
AGGREGATES: dict[str, tuple[str, ...]] = {
    "WLD": SOURCES,
    "World": SOURCES,
    "South-East Asia (region)": ("MMR", "LAO", "THA"),
    "Myanmar + Lao PDR": ("MMR", "LAO"),
    "Latin America (region)": ("MEX", "COL", "GTM"),
}

#: measure -> how it enters the likelihood; measures absent here are listed as unused.
MEASURE_KINDS = {
    "production_t": "production",
    "cultivation_ha": "area",
    "yield_kg_per_ha": "yield",
    "share_of_world": "share",
    "share_of_world_area": "area_share",
    "production_pct_change": "world_change",
}
UNUSED_MEASURES = {
    "heroin_manufacture_t": "heroin estimates need an opium-to-heroin conversion ratio and a "
    "purity basis ('pure' vs 'export purity') that the model does not have",
}

#: A published range is read as a central 95% interval on the log scale.
RANGE_Z = 1.96

#: Kinds that measure one source's level in a year (and so can confirm a shock there).
LEVEL_KINDS = ("production", "area", "share", "area_share")


def series_of(publisher: str) -> str:
    """'us' for US-government estimates (CIA World Factbook, DEA, State Dept), else 'unodc'."""
    return "us" if str(publisher).strip().upper().startswith("US ") else "unodc"


#: publisher family -> the families whose figures it is known to republish. Within a family
#: a figure is reprinted from edition to edition (a UNODC national survey and the World Drug
#: Report annex; UNDCP is UNODC's predecessor; the INCB report quotes UNODC's Lao figures; the
#: CIA World Factbook reprints the US government's own estimates). Across families, the CIA
#: World Factbook reprints UNODC figures for some country-years (rows noted "matches UNODC"
#: in the shared compilation: AFG 2017 and 2022, LAO 2014-2015, MMR 2012, 2017, 2022, 2023);
#: UNODC does not reprint US estimates.
COPIES: dict[str, tuple[str, ...]] = {"unodc": ("unodc",), "us": ("us", "unodc")}


def rounding_unit(value: float) -> float:
    """The unit a published figure is rounded to: 10^k for an integer with k trailing zeros
    (6,400 -> 100; 328,304 -> 1), 10^-d for a figure with d decimals (19.8 -> 0.1)."""
    value = abs(float(value))
    if value == 0 or not np.isfinite(value):
        return 1.0
    if value != round(value):
        decimals = len(f"{value:.6f}".rstrip("0").split(".")[1])
        return 10.0 ** -decimals
    k, n = 0, round(value)
    while n % 10 == 0:
        n //= 10
        k += 1
    return 10.0 ** k


def same_within_rounding(a: float, b: float) -> bool:
    """``a`` and ``b`` can be the same number rounded: the intervals a +- unit/2 and
    b +- unit/2 overlap (400 and 405: yes; 6,300 and 6,400: no; 82,171 and 82,172: no)."""
    return abs(a - b) < (rounding_unit(a) + rounding_unit(b)) / 2


def find_republications(table: pd.DataFrame) -> dict[int, str]:
    """Rows that republish another row's figure: {position: reason naming the kept row}.

    Two rows are the same figure when they have the same country (ISO3, or name for
    aggregates), year and measure, the same published range (or none), values equal within
    rounding (``same_within_rounding``), and one row's publisher family is known to copy
    the other's (``COPIES``). Of such a group one row is kept: a row of the family copied
    from (UNODC over the CIA), then a verified row over a recalled one, then one with a
    published range, then the more precise figure, then the first in the file. A revision
    (a different value) or a disagreeing US estimate is not a republication: it stays a
    separate measurement.
    """
    rows = table.reset_index(drop=True)
    key = rows["iso3"].where(rows["iso3"].notna() & (rows["iso3"] != ""), rows["country"])
    families = rows["publisher"].map(series_of)
    dropped: dict[int, str] = {}
    groups = pd.DataFrame({"key": key, "year": rows["year"], "measure": rows["measure"]})
    for idx in groups.groupby(["key", "year", "measure"], sort=False).groups.values():
        idx = [int(i) for i in idx]
        if len(idx) < 2:
            continue
        # preference order: copied-from family, verified, ranged, precise, first
        def rank(i: int) -> tuple:
            r = rows.loc[i]
            ranged = pd.notna(r["lower"]) and pd.notna(r["upper"])
            unit = rounding_unit(r["value"]) if pd.notna(r["value"]) else np.inf
            return (families[i] == "us", not bool(r["verified"]), not ranged, unit, i)
        kept: list[int] = []
        for i in sorted(idx, key=rank):
            r = rows.loc[i]
            original = next((j for j in kept if _same_figure(rows.loc[j], r)
                             and families[j] in COPIES[families[i]]), None)
            if original is None:
                kept.append(i)
                continue
            o = rows.loc[original]
            dropped[i] = (f"republication of row {original} ({o['publisher']}: "
                          f"{o['value']:,g}) by {r['publisher']} ({r['value']:,g}), the same "
                          "figure within rounding: counted once")
    return dropped


def _same_figure(a: pd.Series, b: pd.Series) -> bool:
    if pd.isna(a["value"]) or pd.isna(b["value"]):
        return False
    for bound in ("lower", "upper"):  # a range on one row only is more information
        if pd.notna(a[bound]) and pd.notna(b[bound]) and a[bound] != b[bound]:
            return False
    return same_within_rounding(a["value"], b["value"])


#: A value published with "over N" / "less than N": the note marks it (shared compilation).
NOTE_BOUNDS = {"(lower bound)": "lower", "(upper bound)": "upper"}


def note_bound(note: object) -> str:
    """'lower' / 'upper' when the row's note marks its value as a bound, else ''."""
    text = str(note) if isinstance(note, str) else ""
    return next((side for mark, side in NOTE_BOUNDS.items() if mark in text), "")


@dataclass(frozen=True)
class Measurements:
    """Likelihood-ready arrays (one element per used row) and the usage table."""

    kind: np.ndarray  # str per row
    members: np.ndarray  # (n, n_sources) 0/1
    year_idx: np.ndarray
    log_value: np.ndarray  # log measurement (nan for one-sided bounds)
    extra_sd: np.ndarray  # sd from a published range, rounding of small shares
    bound: np.ndarray  # "", "upper", "lower"
    bound_log: np.ndarray
    series: np.ndarray  # 0 unodc, 1 us
    memory: np.ndarray  # 1 for rows marked memory
    usage: pd.DataFrame


def prepare_measurements(
    table: pd.DataFrame, sources: tuple[str, ...] = SOURCES,
    years: tuple[int, int] = YEARS,
) -> Measurements:
    """Map each published row to a measurement of the latent production; record the rest."""
    src_index = {s: i for i, s in enumerate(sources)}
    republished = find_republications(table)
    rows, usage = [], []
    for pos, row in enumerate(table.itertuples(index=False)):
        measure = str(row.measure)
        label = f"{row.country} {row.year} {measure}"
        reason = ""
        members: tuple[str, ...] = ()
        iso3 = row.iso3 if isinstance(row.iso3, str) and row.iso3 else None
        if iso3 in src_index:
            members = (iso3,)
        elif iso3 in AGGREGATES or row.country in AGGREGATES:
            group = AGGREGATES[iso3 if iso3 in AGGREGATES else row.country]
            # the world is every modelled source, whatever the configuration
            members = sources if group == SOURCES else group
            if not set(members) <= set(sources):
                reason = f"aggregate {row.country!r} has members that are not modelled"
        else:
            reason = f"country {row.country!r} is not a modelled source or known aggregate"
        kind = MEASURE_KINDS.get(measure)
        if reason:
            pass
        elif pos in republished:
            reason = republished[pos]
        elif kind is None:
            reason = UNUSED_MEASURES.get(measure, f"measure {measure!r} is not modelled")
        elif not years[0] <= int(row.year) <= years[1]:
            reason = f"year outside the model's {years[0]}-{years[1]}"
        elif kind == "world_change" and int(row.year) == years[0]:
            reason = "change from a year before the model's first year"
        elif kind == "yield" and len(members) != 1:
            reason = "yield of an aggregate is not modelled"
        value, lower, upper = row.value, row.lower, row.upper
        log_value, extra_sd, bound, bound_log = np.nan, 0.0, "", np.nan
        if not reason:
            scale = 100.0 if kind in ("share", "area_share") else 1.0
            has_v, has_l, has_u = (pd.notna(value), pd.notna(lower), pd.notna(upper))
            if kind == "world_change":
                if has_v and value > -100:
                    log_value = float(np.log1p(value / 100.0))
                else:
                    reason = "percent change missing or <= -100"
            elif has_v and value > 0 and note_bound(row.note):
                # "over 236,000 hectares", "more than 75 per cent": a censored value
                bound = note_bound(row.note)
                bound_log = float(np.log(value / scale))
            elif has_v and value > 0:
                log_value = float(np.log(value / scale))
                if has_l and has_u and lower > 0 and upper > lower:
                    extra_sd = float(np.log(upper / lower) / (2 * RANGE_Z))
                if kind in ("share", "area_share"):
                    # shares are printed as whole percentages: rounding error +-0.5 point
                    extra_sd = float(np.hypot(extra_sd, 0.5 / value / np.sqrt(3)))

            elif has_l and has_u and lower > 0 and upper > lower:
                log_value = float(np.log(np.sqrt(lower * upper) / scale))
                extra_sd = float(np.log(upper / lower) / (2 * RANGE_Z))
            elif has_u and upper > 0:
                bound, bound_log = "upper", float(np.log(upper / scale))
            elif has_l and lower > 0:
                bound, bound_log = "lower", float(np.log(lower / scale))
            else:
                reason = "no positive value, range or bound"
        use = not reason
        usage.append({"row": pos, "record": label, "publisher": row.publisher,
                      "verified": bool(row.verified), "used": use,
                      "how": (f"{kind}" + (f" ({bound} bound)" if bound else "")) if use else "",
                      "reason": reason})
        if use:
            mask = np.zeros(len(sources))
            mask[[src_index[m] for m in members]] = 1.0
            rows.append((kind, mask, int(row.year) - years[0], log_value, extra_sd, bound,
                         bound_log, 1 if series_of(row.publisher) == "us" else 0,
                         0 if bool(row.verified) else 1))
    if not rows:
        raise ValueError("production_measurements has no usable rows")
    cols = list(zip(*rows))
    return Measurements(
        kind=np.array(cols[0]), members=np.vstack(cols[1]), year_idx=np.array(cols[2]),
        log_value=np.array(cols[3], float), extra_sd=np.array(cols[4], float),
        bound=np.array(cols[5]), bound_log=np.array(cols[6], float),
        series=np.array(cols[7]), memory=np.array(cols[8], float),
        usage=pd.DataFrame(usage),
    )


@dataclass(frozen=True)
class ProductionPriors(Config):
    """Priors of ``OpiumProduction``; every one is an assumption (docs/models/shares.md)."""

    initial_log_ha: Prior = prior(
        "Normal", "log area (ha) where a walk starts: centred on 3,000 ha (100 t at the 30 "
        "kg/ha yield centre), sd 3 (x/÷20 at 1 sd): wide enough for Thailand's hundreds of "
        "hectares and Afghanistan's 100,000s alike", mu=float(np.log(3000.0)), sigma=3.0)
    rw_sigma: Prior = prior(
        "LogNormal", "random-walk scale of log area, median 0.3, 95% 0.11-0.8; zero-avoiding "
        "on purpose: every country moves by tens of percent a year (Lao PDR 19,052 ha in "
        "2000, 6,600 in 2004), and a scale near zero made a funnel for sparse countries",
        mu=float(np.log(0.3)), sigma=0.5)
    log_yield: Prior = prior(
        "Normal", "country level of the latent yield (kg/ha): where its walk starts (1998), "
        "or the mean of its years (yield_dynamics 'hierarchy'); centre 30 kg/ha lies inside "
        "the published yields (19.8 MMR 2022 to 56.1 AFG 2009); sd 0.6 spans 9-100 kg/ha",
        mu=float(np.log(30.0)), sigma=0.6)
    yield_year_sd: Prior = prior(
        "LogNormal", "sd of a year's step of log yield (or of its deviation from the "
        "country mean, 'hierarchy'): median 0.25, 95% 0.094-0.67. Weather and blight move "
        "yields a lot: the Afghan yields of the MCN/UNODC Afghanistan Opium Surveys "
        "(registry/reference/opium_production_published.csv) change by log ratios of "
        "0.20, -0.05, -0.65 and 0.42 between consecutive years (2004-06, 2009-11), and a "
        "scale near 0 would keep a country's yield nearly the same every year, which they "
        "contradict. Zero-avoiding on purpose, as rw_sigma: version 7's HalfNormal(0.3) put "
        "26% of its mass below 0.1, where centred yield levels form a funnel "
        "(docs/validation/sbc.md)",
        mu=float(np.log(0.25)), sigma=0.5)
    obs_sigma: Prior = prior(
        "HalfNormal", "measurement error on the log scale, per series (UNODC, US) and "
        "quantity (production, area)", sigma=0.2)
    memory_sigma: Prior = prior(
        "HalfNormal", "extra error of rows recalled, not read in a page (`memory`)",
        sigma=0.3)
    us_bias: Prior = prior(
        "Normal", "US-government vs UNODC bias on log production and log area", mu=0.0,
        sigma=0.3)


@dataclass(frozen=True)
class ProductionConfig(Config):
    """Settings of ``OpiumProduction``."""

    sources: tuple[str, ...] = setting(SOURCES, "modelled sources (ISO3, ROW last)")
    years: tuple[int, int] = setting(YEARS, "first and last modelled year")
    rw_nu: float = setting(3.0, "Student-t dof of steps into measured years: a heavy tail "
                                "so one-year bans (2001, 2023) are shocks")
    shocks_only_when_measured: bool = setting(
        True, "Student-t steps only into years in which the source is measured (Normal "
              "elsewhere): exp(Student-t) has no mean, so unconfirmed shocks compounding "
              "after a last measurement made the world mean exceed its 97.5% point; False "
              "is version 1's all-Student-t walk, for comparison only")
    shock_needs_both_years: bool = setting(
        True, "a Student-t step needs the source measured in both years it joins: only then "
              "can the data confirm a one-year shock (the 2001 and 2023 bans are). After a "
              "gap (Guatemala 2005 -> 2012) the change is spread over unmeasured years, "
              "where a heavy-tailed step and the Normal steps beside it formed a ridge "
              "(R-hat 1.03 on Guatemala's 2006-2011 area); False is version 3's rule")
    centred_min_coverage: float = setting(
        0.7, "sources measured in at least this share of years start their area walk (the "
             "first-level prior) in the first year, the others at their first measured "
             "year; with yield_dynamics 'hierarchy' their yields are sampled centred")
    walk_form: str = setting(
        "mixed", "how the area and yield walks are sampled (one prior, tested): 'mixed' "
                 "levels free (centred) where data pin them, innovations between and after "
                 "(production_walk); 'innovations' levels free only at anchors and Student-t "
                 "steps, for comparison")
    obs_sd_floor: float = setting(
        0.05, "fixed part of every measurement error: UNODC's own survey ranges are wider "
              "(Afghanistan 2009: 123,000 ha [102,000-137,000], sd ~0.075 on the log "
              "scale), so no figure counts as more precise than 5%")
    obs_nu: float = setting(4.0, "Student-t dof of measurement errors (a garbled or "
                                 "conflicting row does not drag the fit)")
    yield_dynamics: str = setting(
        "walk", "how a country's yield moves from year to year: 'hierarchy' (each "
                     "year's log yield Normal around the country mean) or 'walk' (a "
                     "Gaussian random walk from the country mean in the first year); "
                     "docs/models/shares.md compares them")
    yield_centring: str = setting(
        "centred", "how the yield walk's free levels (years the data pin) are sampled: "
                   "'centred' the levels themselves, a funnel when yield_year_sd is small "
                   "(docs/validation/sbc.md); 'partial' centred to the degree the data pin "
                   "them against the walk's scale, w = s^2 / (s^2 + e^2) with s the "
                   "yield_year_sd and e^2 the error a UNODC area and production pair "
                   "leaves on a yield (production_walk."
                   "walk_levels): fewer divergences in SBC, but the scale mixes slowly "
                   "(docs/models/shares.md, not the default); 'constant' centred to the "
                   "fixed degree yield_centring_weight, whatever the scales; 'floors' "
                   "w = s^2 / (s^2 + 2 obs_sd_floor^2), a weight of the yield scale alone "
                   "against the fixed error floors of an area and production pair")
    yield_centring_weight: float = setting(
        0.5, "with yield_centring 'constant', the weight w in [0, 1] of every pinned "
             "year (1 centred, 0 non-centred); 0.5 is the 'partial' weight at the "
             "recovery test's true scales (docs/models/shares.md)")
    anchor_centring: str = setting(
        "non-centred", "how each area walk's anchor level is sampled: 'centred' the level "
                       "(anchor_log_ha); 'non-centred' its standardised value (anchor_std, "
                       "anchor_log_ha then a Deterministic; the default since version 9). "
                       "The anchor of a source never measured alone (ROW) has a prior sd "
                       "that grows with its walk scale rw_sigma: centred, the two form a "
                       "funnel where ROW's area is far below what world totals can see "
                       "(docs/models/shares.md, 'Version 9')")
    priors: ProductionPriors = ProductionPriors()

    def __post_init__(self):
        if self.yield_centring not in ("partial", "centred", "constant", "floors"):
            raise ConfigError("ProductionConfig.yield_centring must be 'partial', "
                              f"'centred', 'constant' or 'floors', not "
                              f"{self.yield_centring!r}")
        if not 0.0 <= float(self.yield_centring_weight) <= 1.0:
            raise ConfigError("ProductionConfig.yield_centring_weight must be in [0, 1], "
                              f"not {self.yield_centring_weight!r}")
        if self.anchor_centring not in ("centred", "non-centred"):
            raise ConfigError("ProductionConfig.anchor_centring must be 'centred' or "
                              f"'non-centred', not {self.anchor_centring!r}")


class OpiumProduction(BayesianEstimator):
    """Latent opium production (tonnes) by source and year, world totals and shares."""

    _model_type = "opium_production"
    _model_version = "9"  # 2: Student-t steps only into measured years; 3: typed configs;
    # 4: yield by country-year, republications counted once, bounds as pm.Censored;
    # 5: walks free where data pin levels, bridges and tails of innovations elsewhere
    # (``yield_centring="partial"``, an option since 2026-11-30, is not a new version: the
    # default graph is version 5's); 6: bounds with Logistic errors, not Normal (2026-12-01);
    # 7: an error scale per series and quantity (area, production), not per series
    # (2026-12-04, ``ERROR_QUANTITIES``); 8: a zero-avoiding LogNormal prior on
    # yield_year_sd, not HalfNormal (2026-12-05); 9: non-centred anchors of the area walks
    # (``anchor_centring``; the same prior, another parameterisation; 2026-12-05)
    data_tables = ("production_measurements",)
    config_class = ProductionConfig
    # 2,000 draws: R-hat (max over ~800 quantities) reached 1.009-1.011 with 1,000 on seeds
    # 1-5 (docs/models/shares.md); a draw costs ~31 gradients, so this stays cheap
    default_sampler = SamplerConfig(draws=2000, tune=500, chains=4, target_accept=0.9)
    summary_schema = result_schemas.PRODUCTION_SUMMARY

    # ---- model -------------------------------------------------------------------------
    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(self.model_config.sources)

    @property
    def years(self) -> np.ndarray:
        first, last = self.model_config.years
        return np.arange(int(first), int(last) + 1)

    def measurements(self, data: dict[str, pd.DataFrame] | None = None) -> Measurements:
        table = (data or self.data)["production_measurements"]
        first, last = self.model_config.years
        return prepare_measurements(table, self.sources, (int(first), int(last)))

    def measurement_usage(self) -> pd.DataFrame:
        """Every input row: used (and how) or not used (and why)."""
        return self.measurements().usage

    def observation_sources(self) -> dict[str, np.ndarray]:
        """Publisher family (UNODC surveys and copies, US government) and measured quantity
        of each observation."""
        m = self.measurements()
        family = np.where(m.series == 1, "US government", "UNODC")
        label = np.char.add(np.char.add(family.astype(str), " "), m.kind.astype(str))
        point = m.bound == ""
        return {"obs_log_value": label[point], "obs_bound": label[~point]}

    def build_model(self, data: dict[str, pd.DataFrame]) -> pm.Model:
        cfg, pri = self.model_config, self.model_config.priors
        m = self.measurements(data)
        sources, years = self.sources, self.years
        coords = {"source": list(sources), "year": years.tolist(),
                  "step": years[1:].tolist(), "series": ["unodc", "us"],
                  "error_quantity": list(ERROR_QUANTITIES),
                  "bias_kind": ["production", "area"]}
        quantity = np.isin(m.kind, AREA_KINDS).astype(int)  # index into ERROR_QUANTITIES
        with pm.Model(coords=coords) as model:
            # yield by country and year around a per-country mean (independent means: a
            # pooled mean mixed badly with only three countries measuring yield directly)
            partial = cfg.yield_centring == "partial"
            if partial:  # the measurement errors first: the yield walk's centring uses them
                obs_sigma = pri.obs_sigma.create("obs_sigma",
                                                 dims=("series", "error_quantity"))
            log_yield_mean = pri.log_yield.create("log_yield_kg_ha", dims="source")
            yield_year_sd = pri.yield_year_sd.create("yield_year_sd")
            log_yield = pm.Deterministic(
                "log_yield_year", self._log_yield(m, log_yield_mean, yield_year_sd,
                                                  obs_sigma if partial else None),
                dims=("source", "year"))
            # The random walk is on log area: for countries measured mostly by area
            # (Colombia, Pakistan, Thailand) a walk on production would form a ridge with
            # their yield. tonnes = hectares * (kg/ha) / 1000.
            rw_sigma = pri.rw_sigma.create("rw_sigma", dims="source")
            log_area = self._random_walk(m, rw_sigma)
            area = pm.Deterministic("area_ha", pt.exp(log_area), dims=("source", "year"))
            production = pm.Deterministic(
                "production_t", pt.exp(log_area + log_yield) / 1000.0,
                dims=("source", "year"))

            if not partial:  # version 5's order of variables (the same draws for a seed)
                obs_sigma = pri.obs_sigma.create("obs_sigma", dims=("series", "error_quantity"))
            memory_sigma = pri.memory_sigma.create("memory_sigma")
            us_bias = pri.us_bias.create("us_bias", dims="bias_kind")

            pred = self._predicted_log(m, production, area, log_yield)
            is_us = m.series.astype(float)
            is_area = np.isin(m.kind, ["area"]).astype(float)
            is_prod = np.isin(m.kind, ["production"]).astype(float)
            pred = pred + is_us * (is_prod * us_bias[0] + is_area * us_bias[1])
            sd = pt.sqrt(cfg.obs_sd_floor ** 2 + obs_sigma[m.series, quantity] ** 2
                         + m.memory * memory_sigma ** 2 + m.extra_sd ** 2)

            point = m.bound == ""
            pm.StudentT("obs_log_value", nu=cfg.obs_nu, mu=pred[point], sigma=sd[point],
                        observed=m.log_value[point])
            bounded = ~point
            if bounded.any():
                # "less than N" is left-censored at log N (likelihood P(x <= log N)); "over
                # N" is right-censored (P(x >= log N)). A censored observed variable, so
                # posterior predictive draws exist: the draw clipped at the bound.
                # Logistic errors (the Normal's variance): tails between the Normal and
                # the Student-t of the point rows, whose log-CDF has no stable gradient
                # in PyTensor. A Normal bound was a quadratic wall: a jump of ROW's walk
                # scale in one trajectory took AFG's 2017 share of the world's area far
                # below its bound "more than 75%" (energy error 4e7, one divergence in
                # 8,000 draws: version 5, seed 20171, 2026-12-01)
                side = m.bound[bounded]
                scale = sd[bounded] * LOGISTIC_PER_SD
                pm.Censored("obs_bound", pm.Logistic.dist(pred[bounded], scale),
                            lower=np.where(side == "upper", m.bound_log[bounded], -np.inf),
                            upper=np.where(side == "lower", m.bound_log[bounded], np.inf),
                            observed=m.bound_log[bounded])
        return model

    def _log_yield(self, m: Measurements, mean, sd, obs_sigma):
        """(source, year) log yield around the country mean.

        'hierarchy': each year Normal(mean, sd). Sources whose area is measured in most
        years (``centred_sources``: AFG, MMR, MEX) have production or yield figures beside
        most areas, which pin each year's yield: sampled centred (the yields themselves).
        The others are non-centred (mean + sd x N(0, 1)): nothing pins their yields.
        'walk': a Gaussian random walk from the country mean in the first year, free
        (centred) in the years whose yield the data pin (``yield_pinned_years``), bridges
        and tails of innovations elsewhere (``production_walk``); with
        ``ProductionConfig.yield_centring = "partial"`` the free levels are partially
        centred (``obs_sigma`` then sets the weight; otherwise it is unused here)."""
        dynamics = self.model_config.yield_dynamics
        n = len(self.sources)
        if dynamics == "walk":
            # free (centred) where the data pin the year's yield, bridges and tails of
            # innovations elsewhere (``production_walk``); the walk starts in 1998
            free = (self.yield_pinned_years(m) if self.model_config.walk_form == "mixed"
                    else np.zeros((n, len(self.years)), dtype=bool))
            design = walk_design(free, np.zeros(n, dtype=int),
                                 np.zeros((n, len(self.years) - 1), dtype=bool))
            centring = None
            if self.model_config.yield_centring == "partial":
                # the Gaussian shrinkage weight of one pinned year (Papaspiliopoulos et al.
                # 2007): its step's variance against the error variance a UNODC area and
                # production pair leaves on that year's yield (area over production: two
                # floors and both UNODC scales; version 7 has an area scale of its own).
                # Centred where the walk's scale dwarfs the data's error, non-centred where
                # the data say less than the walk's prior (small yield_year_sd: the funnel
                # that left half of version 5's SBC fits divergent)
                err2 = (2 * self.model_config.obs_sd_floor ** 2 + obs_sigma[0, 0] ** 2
                        + obs_sigma[0, 1] ** 2)
                centring = pt.zeros(n) + sd ** 2 / (sd ** 2 + err2)
            elif self.model_config.yield_centring == "constant":
                # a weight of no parameter: the recovery worlds' slow mixing under
                # 'partial' came from its weight moving with yield_year_sd
                # (analysis/production_recovery_forms.py --weights, 2026-12-04)
                centring = pt.zeros(n) + float(self.model_config.yield_centring_weight)
            elif self.model_config.yield_centring == "floors":
                # non-centred where the yield scale is below the floors' error (the prior
                # worlds' funnel), nearly centred above it: a weaker tie to the scale than
                # the pair weight's, whose sampled error is larger (2026-12-04, night)
                err2 = 2 * self.model_config.obs_sd_floor ** 2
                centring = pt.zeros(n) + sd ** 2 / (sd ** 2 + err2)
            return walk_levels(design, mean, pt.zeros(n) + sd, 1.0,
                               free_name="log_yield_free", innovation_name="yield_innovation",
                               sources=list(self.sources), years=self.years.tolist(),
                               centring=centring)
        if dynamics != "hierarchy":
            raise ConfigError(
                f"yield_dynamics must be 'hierarchy' or 'walk', not {dynamics!r}")
        centred = self.centred_sources(m)
        idx_c = [self.sources.index(x) for x in centred]
        idx_n = [i for i in range(n) if i not in idx_c]
        model = pm.modelcontext(None)
        parts = {}
        if idx_c:
            model.add_coord("yield_centred_source", centred)
            level = pm.Normal("log_yield_centred", mean[idx_c][:, None], sd,
                              dims=("yield_centred_source", "year"))
            parts.update({i: level[k] for k, i in enumerate(idx_c)})
        if idx_n:
            model.add_coord("yield_noncentred_source", [self.sources[i] for i in idx_n])
            z = pm.Normal("yield_innovation", 0, 1, dims=("yield_noncentred_source", "year"))
            parts.update({i: mean[i] + sd * z[k] for k, i in enumerate(idx_n)})
        return pt.stack([parts[i] for i in range(n)])

    def centred_sources(self, m: Measurements) -> list[str]:
        """Sources measured in at least ``centred_min_coverage`` of the years.

        Their random walk is sampled on the level scale (centred): data pin the levels, so
        this geometry mixes well; sparsely measured sources use innovations (non-centred),
        which avoids the funnel between their levels and their random-walk scale.
        """
        covered = [len(set(m.year_idx[m.members[:, i] * (m.members.sum(1) == 1) > 0]))
                   for i in range(len(self.sources))]
        need = self.model_config.centred_min_coverage * len(self.years)
        return [s for s, n in zip(self.sources, covered) if n >= need and s != "ROW"]

    def measured_years(self, m: Measurements) -> np.ndarray:
        """(source, year) bool: the source alone is measured that year (its production,
        area, or share of the world). Aggregates (world, regions) do not count: they cannot
        say which member moved; yields do not measure a level."""
        level = np.isin(m.kind, LEVEL_KINDS) & (m.members.sum(1) == 1)
        measured = np.zeros((len(self.sources), len(self.years)), dtype=bool)
        for row in np.flatnonzero(level):
            measured[np.flatnonzero(m.members[row])[0], m.year_idx[row]] = True
        return measured

    def measured_steps(self, m: Measurements) -> np.ndarray:
        """(source, step) bool: the step into that year may carry a Student-t shock: where
        the source is measured that year and the year before (``shock_needs_both_years``;
        else that year only), or everywhere if ``shocks_only_when_measured`` is False."""
        if not self.model_config.shocks_only_when_measured:
            return np.ones((len(self.sources), len(self.years) - 1), dtype=bool)
        measured = self.measured_years(m)
        if self.model_config.shock_needs_both_years:
            return measured[:, 1:] & measured[:, :-1]
        return measured[:, 1:]

    def _random_walk(self, m: Measurements, rw_sigma):
        """log area (source, year): random walk with Student-t steps between measured years
        and Normal steps elsewhere, from the source's anchor year (``anchor_years``).
        Sampled centred in measured years, by innovations elsewhere (``production_walk``)."""
        cfg, init = self.model_config, self.model_config.priors.initial_log_ha
        if cfg.walk_form not in ("mixed", "innovations"):
            raise ConfigError(f"walk_form must be 'mixed' or 'innovations', not {cfg.walk_form!r}")
        shock = self.measured_steps(m)
        measured = self.measured_years(m)
        anchor = self.anchor_years(m)
        # A source never measured alone (ROW: only world totals see it) is given by its
        # level in the middle year, drawn from its marginal prior N(mu, s0^2 + m sigma^2),
        # and its first-year level drawn given that one (non-centred); the years between
        # are a bridge. The same prior (a walk from N(mu, s0^2) in the first year), but no
        # lever from a free first-year level to every later year: with it, draws where
        # ROW's 1998 area was far below the data's reach and its walk climbed steeply
        # diverged (a jump of its sigma lifted ROW's area past "AFG > 75% of the world's
        # area", 2017, a Normal-censored bound). Needs Normal steps (no Student-t) up to
        # the middle year, which a source without measurements has.
        start = ~measured.any(axis=1) & ~shock.any(axis=1) & (cfg.walk_form == "mixed")
        mid = (len(self.years) - 1) // 2
        anchor = np.where(start, mid, anchor)
        pm.Data("shock_step", shock.astype(int), dims=("source", "step"))
        pm.Data("anchor_year", self.years[anchor], dims="source")
        if init.dist != "Normal":
            raise ConfigError("priors.initial_log_ha must be Normal (the walk conditions on it)")
        mu, s0 = init["mu"], init["sigma"]
        prior_sd = pt.sqrt(s0 ** 2 + anchor * rw_sigma ** 2)  # anchor = 0 unless a start
        anchor_sd = pt.where(start, prior_sd, s0)
        if cfg.anchor_centring == "non-centred":
            anchor_std = pm.Normal("anchor_std", 0.0, 1.0, dims="source")
            anchor_level = pm.Deterministic("anchor_log_ha", mu + anchor_sd * anchor_std,
                                            dims="source")
        else:
            anchor_level = pm.Normal("anchor_log_ha", mu, anchor_sd, dims="source")
        starts = None
        if start.any():
            idx = np.flatnonzero(start)
            model = pm.modelcontext(None)
            model.add_coord("start_source", [self.sources[i] for i in idx])
            z0 = pm.Normal("start_innovation", 0.0, 1.0, dims="start_source")
            walk_var = mid * rw_sigma[idx] ** 2
            shrink = s0 ** 2 / (s0 ** 2 + walk_var)
            starts = (mu + shrink * (anchor_level[idx] - mu)
                      + pt.sqrt(shrink * walk_var) * z0)
        free = measured if cfg.walk_form == "mixed" else np.zeros_like(measured)
        design = walk_design(free, anchor, shock, start)
        return walk_levels(design, anchor_level, rw_sigma, float(cfg.rw_nu),
                           free_name="log_area_free", innovation_name="area_innovation",
                           sources=list(self.sources), years=self.years.tolist(),
                           starts=starts)

    def anchor_years(self, m: Measurements) -> np.ndarray:
        """(source,) year index where the area walk's first-level prior applies: the first
        year for sources measured in most years (``centred_sources``: AFG, MMR, MEX), else
        the source's first measured year (1998 for ROW). A free level in 1998 for a source
        first measured later formed a ridge with every step up to its first figure (Lao
        PDR, Colombia, Pakistan start in 2000, Guatemala in 2004); anchoring there puts the
        prior where the data are (a prior choice kept from version 2)."""
        measured = self.measured_years(m)
        first = np.array([int(np.argmax(row)) if row.any() else 0 for row in measured])
        starts = np.isin(self.sources, self.centred_sources(m))
        return np.where(starts, 0, first)

    def yield_pinned_years(self, m: Measurements) -> np.ndarray:
        """(source, year) bool: the data pin the source's yield that year: a yield figure
        of the source, or its area beside its production or share of world production."""
        single = m.members.sum(1) == 1
        has = {}
        for kinds in (("yield",), ("area",), ("production", "share")):
            mask = np.zeros((len(self.sources), len(self.years)), dtype=bool)
            for row in np.flatnonzero(single & np.isin(m.kind, kinds)):
                mask[np.flatnonzero(m.members[row])[0], m.year_idx[row]] = True
            has[kinds[0]] = mask
        return has["yield"] | (has["area"] & has["production"])

    @staticmethod
    def _predicted_log(m: Measurements, production, area, log_yield):
        """Model-implied log of each measured quantity (computed per kind on its rows)."""
        pred = pt.zeros(len(m.kind))
        for kind in np.unique(m.kind):
            rows = np.flatnonzero(m.kind == kind)
            year, members = m.year_idx[rows], m.members[rows].T  # (source, rows)
            if kind == "yield":
                value = (members * log_yield[:, year]).sum(axis=0)
            elif kind == "world_change":
                value = (pt.log(production[:, year].sum(axis=0))
                         - pt.log(production[:, year - 1].sum(axis=0)))
            else:
                level = area if kind in ("area", "area_share") else production
                level_y = level[:, year]
                value = pt.log((members * level_y).sum(axis=0))
                if kind in ("share", "area_share"):
                    value = value - pt.log(level_y.sum(axis=0))
            pred = pt.set_subtensor(pred[rows], value)
        return pred

    def diagnostic_vars(self) -> list[str]:
        names = ["anchor_log_ha", "anchor_std", "start_innovation", "log_area_free",
                 "area_innovation",
                 "log_yield_free",
                 "yield_innovation", "log_yield_centred"]
        present = [n for n in names if n in self.posterior]
        return present + ["rw_sigma", "log_yield_kg_ha", "yield_year_sd", "obs_sigma", "memory_sigma", "us_bias",
                          "production_t"]

    # ---- results -----------------------------------------------------------------------
    def production_draws(self) -> xr.DataArray:
        """Draws of production (tonnes), dims (chain, draw, source, year)."""
        return self.posterior["production_t"].rename("production_t")

    def world_draws(self) -> xr.DataArray:
        return self.production_draws().sum("source").rename("world_production_t")

    def share_draws(self) -> xr.DataArray:
        """Each source's share of world production, draw by draw."""
        prod = self.production_draws()
        return (prod / prod.sum("source")).rename("share")

    def summary(self) -> pd.DataFrame:
        """Tidy table: source (ISO3, ROW, WLD), year, measure, mean, lower, upper."""
        prod = self.production_draws()
        world = self.world_draws().expand_dims(source=[WORLD_ID])
        parts = []
        for measure, draws in (("production_t", xr.concat([prod, world], "source")),
                               ("share", self.share_draws())):
            frame = interval_summary(draws.rename(measure))
            frame.insert(2, "measure", measure)
            parts.append(frame)
        return self.validated(pd.concat(parts, ignore_index=True)[
            ["source", "year", "measure", "mean", "lower", "upper"]])

    def summary_text(self, years: tuple[int, ...] = (2001, 2017, 2018, 2023)) -> str:
        table = self.summary()
        lines = ["Opium production (t) and share of world production, mean [95% interval]"]
        for year in years:
            sub = table[table.year == year]
            if sub.empty:
                continue
            world = sub[(sub.source == WORLD_ID) & (sub.measure == "production_t")].iloc[0]
            lines.append(f"{year}: world {world['mean']:,.0f} t "
                         f"[{world['lower']:,.0f}-{world['upper']:,.0f}]")
            shares = sub[sub.measure == "share"].sort_values("mean", ascending=False)
            for r in shares.head(4).itertuples():
                lines.append(f"  {r.source}: {100 * r.mean:.1f}% "
                             f"[{100 * r.lower:.1f}-{100 * r.upper:.1f}]")
        return "\n".join(lines)

    def target_draws(self) -> xr.DataArray:
        return self.production_draws()

    def predict(self, *, years: Sequence[int] | int | None = None,
                **coords: str | Sequence[str]) -> xr.DataArray:
        """Production draws (chain, draw, source, year); years after the fit extend each
        source's random walk with Normal steps (seeded by the fit's seed), as for years
        without a measurement inside the fit."""
        prod = self.production_draws()
        if years is not None:
            wanted = np.atleast_1d(np.asarray(years, dtype=int))
            fitted = prod["year"].values
            if wanted.min() < fitted.min():
                raise ValueError(f"predict: years before {fitted.min()} are not modelled")
            ahead = int(max(0, wanted.max() - fitted.max()))
            if ahead:
                prod = xr.concat([prod, self._extend(prod, ahead)], "year")
        return select_draws(prod, years, **coords)

    def _extend(self, prod: xr.DataArray, ahead: int) -> xr.DataArray:
        """Production after the fit: log area walks on from the last fitted year; the
        yield of each new year is drawn as in the model (around the country mean, or
        walking on from the last year's yield)."""
        rng = np.random.default_rng(self.fit_sampler_config.random_seed)
        post = self.posterior
        sigma = post["rw_sigma"].transpose("chain", "draw", "source").values
        shape = (*sigma.shape, ahead)
        # a model fitted with shocks_only_when_measured=False keeps its Student-t steps
        if self.model_config.shocks_only_when_measured:
            shocks = rng.standard_normal(size=shape)
        else:
            shocks = rng.standard_t(self.model_config.rw_nu, size=shape)
        last_year = int(prod["year"].values.max())
        log_area = (np.log(post["area_ha"].sel(year=last_year).transpose(
            "chain", "draw", "source").values)[..., None]
            + np.cumsum(sigma[..., None] * shocks, axis=-1))
        yield_sd = post["yield_year_sd"].values[..., None, None]
        z = rng.standard_normal(size=shape)
        if self.model_config.yield_dynamics == "walk":
            last = post["log_yield_year"].sel(year=last_year).transpose(
                "chain", "draw", "source").values
            log_yield = last[..., None] + np.cumsum(yield_sd * z, axis=-1)
        else:
            mean = post["log_yield_kg_ha"].transpose("chain", "draw", "source").values
            log_yield = mean[..., None] + yield_sd * z
        return xr.DataArray(
            np.exp(log_area + log_yield) / 1000.0, dims=("chain", "draw", "source", "year"),
            coords={**{d: prod[d] for d in ("chain", "draw", "source")},
                    "year": np.arange(last_year + 1, last_year + 1 + ahead)},
            name=prod.name)
