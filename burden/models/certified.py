"""CertifiedDeaths: opioid-involved overdose deaths as death certificates count them (the
certificate definition), US by drug and Canada, from 1999 (US) and 2016 (Canada) up to the
present, with a nowcast of the months still being reported.

Estimand: ``certified_overdose`` (``registry.estimands``): deaths whose underlying cause is a
drug overdose and whose certificate names an opioid (ICD-10 T40.0-T40.4, T40.6); one death
can involve several opioids, so the drug series overlap and never add up.

Latent: log deaths of US any-opioid and of Canada, and the logit of each drug's share of US
any-opioid deaths (heroin T40.1, natural and semi-synthetic T40.2, methadone T40.3,
synthetic other than methadone T40.4), each a yearly local linear trend (level and slope
random walks), so the series can turn (the 2013-2022 acceleration and the 2023-2024 fall).

Measurements (``certified_data``), each a count around the latent deaths of its window:
US any-opioid and Canada counts with a negative-binomial likelihood; each US drug's count
(version 3, ``drug_counts="split"``) a beta-binomial split of the any-opioid count of the
same source, window and kind, so it can never exceed that count and measures the drug's
share only (the drug series count the same certificates as the any-opioid series: counted
apart, version 2, they were taken for independent evidence of the any-opioid level):
- final NCHS counts by drug (1999-2019): the reference definition;
- VSRR provisional December 12-month-ending counts (2015 on), with a bias against the final
  counts; underreported months give a censored count (the final count is at least the
  reported one) and the publisher's predicted value (a nowcast, its own dispersion);
- PHAC annual counts for Canada (2025: January-September): apparent opioid toxicity
  deaths from coroners' and medical examiners' investigations, the nearest published
  equivalent of the certificate definition (not ICD-coded; deaths still under
  investigation included; revised with each release).

The correction for overdose deaths whose certificate names no drug (``us_correction_draws``)
is bounded: a share ``q`` in (0, 1) of the unspecified deaths involve opioids, so imputed
deaths never exceed unspecified deaths. The data say nothing about ``q``: its posterior is
its prior (Boslett, Denham & Hill 2020), and every corrected number is flagged so.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from burden import result_schemas
from burden.draws import interval_summary
from burden.models import certified_data
from burden.models.base import BayesianEstimator
from burden.models.certified_data import CAN_ANY, US_ANY, CertifiedInputs
from burden.models.config import Config, Prior, SamplerConfig, prior, setting
from burden.models.trends import second_order_walk
from burden.registry import estimands, observations

DEFINITION = estimands.get("certified_overdose").id
#: Smallest coefficient of variation of a nowcast around the final count (1%): the
#: adjustment of VSRR's December 2024 any-opioid value was 1.1% (55,616 predicted vs 55,005
#: reported), of April 2025 3.8% (50,259 vs 48,422)
NOWCAST_CV_FLOOR = 0.01


def nowcast_sd_of_bounds(obs: pd.DataFrame) -> np.ndarray:
    """Per row: for a lower bound, the log-scale sd of its window's nowcast cv (1 for other
    rows, unused)."""
    cv = inp_nowcast_cv(obs)
    key = ["series", "year", "end_month"]
    now = pd.Series(cv, index=pd.MultiIndex.from_frame(obs[key]))[
        (obs["kind"] == "nowcast").to_numpy()]
    out = np.ones(len(obs))
    for i, r in enumerate(obs.itertuples()):
        if r.kind == "lower_bound":
            c = now.get((r.series, r.year, r.end_month), NOWCAST_CV_FLOOR)
            out[i] = float(np.sqrt(np.log1p(c**2)))
    return out


def inp_nowcast_cv(obs: pd.DataFrame) -> np.ndarray:
    """Per measurement row: the nowcast's cv (its adjustment over the reported count of the
    same series and window, at least ``NOWCAST_CV_FLOOR``); 1 for other rows (unused)."""
    key = ["series", "year", "end_month"]
    reported = obs[obs["kind"] == "lower_bound"].set_index(key)["value"]
    out = np.ones(len(obs))
    for i, r in enumerate(obs.itertuples()):
        if r.kind == "nowcast":
            base = reported.get((r.series, r.year, r.end_month), np.nan)
            adjust = abs(r.value / base - 1) if base and np.isfinite(base) else 0.0
            out[i] = max(NOWCAST_CV_FLOOR, adjust)
    return out


@dataclass(frozen=True)
class CertifiedPriors(Config):
    """Priors of ``CertifiedDeaths`` (log or logit scale)."""

    initial_log_deaths: Prior = prior(
        "Normal", "log deaths in a series' first year: centred on e^8 (~3,000), sd 2 spans "
        "~50 to ~150,000 (US 1999: 8,050 opioid deaths in NCHS, Canada 2016: 2,832 in "
        "PHAC)", mu=8.0, sigma=2.0)
    initial_share_logit: Prior = prior(
        "Normal", "logit of a drug's share of US any-opioid deaths in 1999: any share from "
        "~5% to ~95%", mu=0.0, sigma=1.5)
    initial_slope: Prior = prior(
        "Normal", "yearly growth (log scale) in a series' first year: +-40% a year at 1 sd",
        mu=0.0, sigma=0.4)
    sigma_slope: Prior = prior(
        "LogNormal", "yearly change of the growth rate (second difference of the log or "
        "logit series): US any-opioid growth went from "
        "about +10% a year (2010-2013) to +38% (2020) and -32% (2024) in VSRR December "
        "counts, changes of 0.1-0.3 a year: median 0.2, 95% 0.075-0.53 (zero-avoiding: "
        "a HalfNormal(0.2) put 12% of each scale below 0.03, growth rates fixed for decades, "
        "where the centred walks funnel; docs/models/certified.md, 'Version 2')",
        mu=float(np.log(0.2)), sigma=0.5)
    dispersion: Prior = prior(
        "LogNormal", "extra-Poisson coefficient of variation of a certified count around "
        "the latent deaths of its year: median 2%, 95% 0.5-9% (near-census counts; "
        "zero-avoiding: a HalfNormal(0.05) piled up near 0 and its chains disagreed, R-hat "
        "1.016 in the 2015 back-test fit)", mu=float(np.log(0.02)), sigma=0.75)
    vsrr_bias: Prior = prior(
        "Normal", "log ratio of VSRR provisional (by occurrence) to final NCHS (by "
        "residence) counts: VSRR any opioid 2017 47,885 vs NCHS 47,600", mu=0.0, sigma=0.05)
    unspecified_opioid_logit: Prior = prior(
        "Normal", "logit of the share of overdose deaths with no drug specified that "
        "involve opioids: centred on 71.8% (Boslett, Denham & Hill 2020, Addiction "
        "115(7), as quoted in issue 9), 95% 49-87%; no data here inform it",
        mu=0.9355, sigma=0.5)


@dataclass(frozen=True)
class CertifiedConfig(Config):
    """Settings of ``CertifiedDeaths``."""

    first_year: int = setting(1999, "first modelled year (NCHS drug series start)")
    last_year: int = setting(2025, "last modelled year (VSRR runs to April 2025; PHAC to "
                                   "September 2025)")
    last_data_year: int | None = setting(None, "cut every source here (back-tests)")
    projection_years: int = setting(
        0, "years past a series' last count that ``summary`` reports (projections): none. "
        "Every series has counts or nowcasts to 2025, and the rolling-origin back-test "
        "(`burden backtest certified`, docs/models/certified.md) calibrates projections "
        "only thinly: one year ahead its 90% intervals missed both trend breaks (2018, "
        "2020) in any-opioid and synthetic deaths, and 9-11 years ahead it has 4 "
        "series-years each")
    drug_counts: str = setting(
        "split", "how a US drug's count is measured: 'split', a beta-binomial draw from "
        "the any-opioid count of the same source, window and kind (a drug's count can "
        "never exceed it, and its share is learnt from the ratio; version 3); "
        "'independent', a negative binomial around the drug's own deaths (version 2: in "
        "prior worlds a drug's count could exceed the any-opioid count, "
        "docs/models/certified.md, 'Version 3')")
    priors: CertifiedPriors = CertifiedPriors()

    def __post_init__(self):
        from burden.errors import ConfigError

        if self.drug_counts not in DRUG_COUNTS:
            raise ConfigError(f"CertifiedConfig: drug_counts must be one of {DRUG_COUNTS}, "
                              f"not {self.drug_counts!r}")
        if self.last_year < self.first_year:
            raise ConfigError("CertifiedConfig: last_year before first_year")
        if self.projection_years < 0:
            raise ConfigError("CertifiedConfig: projection_years must be >= 0")


#: how a US drug's count is measured (``CertifiedConfig.drug_counts``)
DRUG_COUNTS = ("split", "independent")
#: observed variables: kind of measurement row -> (variable of the rows measured alone,
#: variable of the drug rows split from the any-opioid row of the same window)
OBSERVED = {"count": ("certified_count", "drug_count"),
            "nowcast": ("nowcast_count", "drug_nowcast")}
LOWER_BOUND = "reported_lower_bound"


def split_partner(obs: pd.DataFrame) -> np.ndarray:
    """Per measurement row: for a US drug's count or nowcast, the row of US any-opioid
    deaths of the same source, year, end month and kind (its count is split from that
    one); -1 for every other row and for a drug row with no such partner."""
    key = list(zip(obs["source"], obs["year"], obs["end_month"], obs["kind"]))
    any_row = {k: i for i, (k, s) in enumerate(zip(key, obs["series"])) if s == US_ANY}
    drug = (obs["series"].str.startswith("USA:") & (obs["series"] != US_ANY)
            & obs["kind"].isin(list(OBSERVED))).to_numpy()
    return np.array([any_row.get(k, -1) if d else -1 for k, d in zip(key, drug)], dtype=int)


def split_beta_parameters(share, rest, cv2):
    """(alpha, beta) of the beta-binomial of a drug's count split from the any-opioid
    count, from the drug's deaths ``share`` and the rest ``rest`` of the window (p = share
    / (share + rest)) and the squared cv ``cv2``: concentration kappa = 1 / (p cv2), so
    alpha = 1 / cv2 and beta = (1 - p) / (p cv2). The variance beyond the binomial's,
    n (n - 1) p (1 - p) / (1 + kappa), is (cv n p)^2 (1 - p) / (1 + p cv2): the negative
    binomial's (cv n p)^2 for a small share, shrinking to 0 as the share nears 1, where
    the count cannot exceed n. kappa never falls below 1 / cv2: a concentration
    (1 - p) / (p cv2), which matched the negative binomial at every share, went to 0 as
    p neared 1 and made a spurious mode there (a share of 99.9% with a diffuse
    beta-binomial; docs/models/certified.md, "Version 3"). NumPy or PyTensor arrays."""
    return 1 / cv2, rest / (share * cv2)


def check_split(obs: pd.DataFrame) -> None:
    """Every US drug's count or nowcast is at most the any-opioid count of its window (a
    split count cannot exceed the count it is split from); ValueError naming the rows."""
    partner = split_partner(obs)
    drug = np.flatnonzero(partner >= 0)
    value = obs["value"].to_numpy(dtype=float)
    bad = drug[value[drug] > value[partner[drug]]]
    if bad.size:
        rows = obs.iloc[bad]
        first = rows.iloc[0]
        raise ValueError(
            f"{len(bad)} US drug count(s) exceed the any-opioid count of the same source, "
            f"window and kind, e.g. {first['series']} {first['source']} {first['kind']} "
            f"{int(first['year'])}-{int(first['end_month']):02d}: "
            f"{value[bad[0]]:,.0f} > {value[partner[bad[0]]]:,.0f} (tables "
            "us_deaths_by_drug, us_provisional_national); fit with "
            "model_config={'drug_counts': 'independent'} to model them apart")


def observation_rows(obs: pd.DataFrame, drug_counts: str = "split"
                     ) -> dict[str, np.ndarray]:
    """Observed variable -> the measurement rows it holds, in order (variables with no row
    left out). With ``drug_counts="split"`` a drug row with a partner (``split_partner``)
    goes to ``drug_count`` or ``drug_nowcast``."""
    kind = obs["kind"].to_numpy()
    split = (split_partner(obs) >= 0) if drug_counts == "split" else np.zeros(len(obs), bool)
    out = {}
    for k, (alone, drug) in OBSERVED.items():
        out[alone] = np.flatnonzero((kind == k) & ~split)
        out[drug] = np.flatnonzero((kind == k) & split)
    out[LOWER_BOUND] = np.flatnonzero(kind == "lower_bound")
    return {name: rows for name, rows in out.items() if rows.size}


def row_values(obs: pd.DataFrame, data: dict[str, np.ndarray],
               drug_counts: str | None = None) -> np.ndarray:
    """The value of every measurement row from a data set held by observed variable (as
    a simulation holds it; lower bounds are log counts there): the row's own value where
    ``data`` lacks its variable. ``drug_counts`` None: "split" when ``data`` holds a split
    drug variable, else "independent"."""
    if drug_counts is None:
        split_names = {name for pair in OBSERVED.values() for name in pair[1:]}
        drug_counts = "split" if split_names & set(data) else "independent"
    values = obs["value"].to_numpy(dtype=float).copy()
    for name, rows in observation_rows(obs, drug_counts).items():
        if name in data:
            v = np.asarray(data[name], dtype=float)
            values[rows] = np.exp(v) if name == LOWER_BOUND else v
    return values


def within_projection(series, years, last_count: dict[str, int], projection_years: int
                      ) -> np.ndarray:
    """True where ``year`` is at most ``projection_years`` after ``series``' last count."""
    return np.array([int(y) <= last_count[s] + projection_years
                     for s, y in zip(series, years)], dtype=bool)


class CertifiedDeaths(BayesianEstimator):
    """Certified opioid-involved overdose deaths, US by drug and Canada, to the present."""

    _model_type: ClassVar[str] = "certified_deaths"
    _model_version: ClassVar[str] = "3"
    data_tables: ClassVar[tuple[str, ...]] = ("us_deaths_by_drug", "us_provisional_national",
                                              "canada_opioid_deaths")
    config_class = CertifiedConfig
    #: a low-rank mass matrix: on 20 prior worlds 13 fits converged with it, 3 with the
    #: diagonal one (docs/models/certified.md, "Version 2"); probably because 12-month
    #: windows ending mid-year tie each year's level to the next (not measured). Its
    #: regularisation gamma 1e-3 (nutpie's default 1e-5): the real fit sampled in 20 s
    #: with the default (19 s of it tuning), in 4 s with 1e-3; on prior worlds the same
    default_sampler = SamplerConfig(draws=1000, tune=1000, chains=4, target_accept=0.9,
                                    mass_matrix="low_rank", mass_matrix_gamma=1e-3)
    refused_samplers: ClassVar[dict[str, str]] = {"numpyro": (
        "with numpyro every draw was divergent and the step size adapted to 0 (`python "
        "analysis/numpyro_fits.py certified`, 2026-12-03; the cause was not found: the JAX "
        "gradient is finite at the model's initial point; docs/performance.md, \"numpyro "
        "(JAX)\")")}
    summary_schema = result_schemas.CERTIFIED_SUMMARY

    def __init__(self, model_config=None, sampler_config=None):
        super().__init__(model_config, sampler_config)
        self._inputs: CertifiedInputs | None = None

    def _reset_cache(self) -> None:
        self._inputs = None

    # ---- data and model ----------------------------------------------------------------
    def inputs(self, data: dict[str, pd.DataFrame] | None = None) -> CertifiedInputs:
        if data is not None:
            cfg = self.model_config
            return certified_data.prepare_inputs(data, first_year=cfg.first_year,
                                                 last_year=cfg.last_year,
                                                 last_data_year=cfg.last_data_year)
        if self._inputs is None:
            self._inputs = self.inputs(self.data)
        return self._inputs

    def build_model(self, data: dict[str, pd.DataFrame]) -> pm.Model:
        inp = self.inputs(data)
        for note in inp.notes:
            warnings.warn(note, UserWarning, stacklevel=3)
        pri = self.model_config.priors
        n_years = len(inp.years)
        obs = inp.obs
        series = inp.series
        series_idx = obs["series"].map({s: i for i, s in enumerate(series)}).to_numpy()
        first = {s: int(obs.loc[obs["series"] == s, "year"].min()) for s in series}
        # trend rows: US any-opioid and Canada on the log scale, US drugs as logit shares
        # of US any-opioid deaths; each starts at its first count
        start = np.array([first[s] - inp.years[0] for s in series])
        coords = {"series": list(series), "year": inp.years, "obs": np.arange(len(obs))}
        with pm.Model(coords=coords) as model:
            is_share = np.array([s.startswith("USA:") and s != US_ANY for s in series])
            # curvature scales: US any-opioid, Canada, and one shared by the US drug shares
            # (per-series scales of the 2015-only VSRR series, with 3-5 curvatures each,
            # were not identified: R-hat 1.03 and divergences in the 2019 back-test fit)
            groups = ["us_any", "canada", "us_shares"]
            model.add_coord("trend_group", groups)
            sigma_group = pri.sigma_slope.create("sigma_slope", dims="trend_group")
            group_of = [2 if is_share[i] else (1 if s.startswith("CAN:") else 0)
                        for i, s in enumerate(series)]
            sigma = sigma_group[group_of]
            # each series a centred second-order walk from its first count (data-rich:
            # the counts pin every level; measured in docs/models/certified.md)
            latent, starts = [], certified_data.initial_levels(inp)
            for i, s in enumerate(series):
                init = pri.initial_share_logit if is_share[i] else pri.initial_log_deaths
                n = n_years - start[i]
                n_data = inp.last_data_year[s] - first[s] + 1
                walk = second_order_walk(f"trend_{s.replace(':', '_')}", init["mu"],
                                         init["sigma"], pri.initial_slope["sigma"],
                                         sigma[i], n, n_data=n_data, initval=starts[s])
                # flat before the first count (those years are not reported)
                latent.append(pt.concatenate([pt.repeat(walk[:1], start[i]), walk])
                              if start[i] else walk)
            us_log = latent[series.index(US_ANY)]
            log_deaths = pt.stack([
                latent[i] if not is_share[i] else us_log + pt.log(pt.sigmoid(latent[i]))
                for i, s in enumerate(series)])
            deaths = pm.Deterministic("deaths", pt.exp(log_deaths), dims=("series", "year"))
            # US deaths not involving each drug (its complementary share; other rows unused)
            rest_deaths = pt.exp(pt.stack([
                latent[i] if not is_share[i] else us_log + pt.log(pt.sigmoid(-latent[i]))
                for i, s in enumerate(series)]))
            pri.unspecified_opioid_logit.create("unspecified_opioid_logit")
            vsrr_bias = pri.vsrr_bias.create("vsrr_bias")
            cv = pri.dispersion.create("dispersion")
            window = (deaths[series_idx] * inp.weights).sum(axis=1)
            mu = window * pt.exp(vsrr_bias * (obs["source"] == "vsrr").to_numpy())
            kind = obs["kind"].to_numpy()
            # NB: variance mu + (cv mu)^2, i.e. alpha = 1 / cv^2. A nowcast (the
            # publisher's delay-adjusted value of an underreported month) is trusted to within
            # the size of its own adjustment (predicted / reported - 1, at least
            # NOWCAST_CV_FLOOR): a cv learnt from a dozen nowcasts made a funnel with them
            row_cv = pt.where(kind == "nowcast", inp_nowcast_cv(obs), cv)
            value = obs["value"].to_numpy()
            rows = observation_rows(obs, self.model_config.drug_counts)
            partner = split_partner(obs)
            if self.model_config.drug_counts == "split":
                check_split(obs)
            counted = {}
            for alone, drug in OBSERVED.values():
                if alone in rows:
                    sel = rows[alone]
                    counted[alone] = pm.NegativeBinomial(
                        alone, mu=mu[sel], alpha=1 / row_cv[sel] ** 2,
                        observed=np.round(value[sel]).astype(int))
                if drug in rows:
                    # the drug's deaths among the any-opioid deaths counted in the same
                    # window: share p = drug window / any window; the rest (1 - p) from the
                    # drug's complementary share, without a difference of two sums
                    sel = rows[drug]
                    p_num = window[sel]
                    p_rest = (rest_deaths[series_idx[sel]] * inp.weights[sel]).sum(axis=1)
                    any_pos = {row: j for j, row in enumerate(rows[alone])}
                    n = counted[alone][[any_pos[r] for r in partner[sel]]]
                    # beta-binomial whose variance beyond the binomial's is the negative
                    # binomial's for a small share, less near a share of 1
                    # (split_beta_parameters)
                    a, b = split_beta_parameters(p_num, p_rest, row_cv[sel] ** 2)
                    pm.BetaBinomial(drug, n=n, alpha=a, beta=b,
                                    observed=np.round(value[sel]).astype(int))
            if LOWER_BOUND in rows:
                # the final count is at least the count reported so far: a log count
                # censored at the reported one, a Normal on the log scale with the sd of the
                # window's nowcast (the negative binomial's upper tail gave unstable
                # gradients, 1,371 divergences in one fit; tied to the fitted dispersion it
                # gave 390; with the nowcast's fixed sd, none: docs/models/certified.md)
                sel = rows[LOWER_BOUND]
                bound = np.log(value[sel])
                sd = nowcast_sd_of_bounds(obs)[sel]
                pm.Censored(LOWER_BOUND, pm.Normal.dist(mu=pt.log(mu[sel]), sigma=sd),
                            lower=None, upper=bound, observed=bound)
        return model

    def compile_options(self, model: pm.Model) -> dict:
        """Start the walks at their data-based initial values without jitter (a jittered
        year-by-year start is far from every count: nutpie's initialisation failed)."""
        walks = {v for v in model.free_RVs if v.name.startswith("trend_")
                 and not v.name.endswith(("_ahead_z", "_bend_z", "_level0", "_slope0"))}
        return {"jitter_rvs": set(model.free_RVs) - walks}

    def observation_sources(self) -> dict[str, np.ndarray]:
        """Per observed variable, the source of each of its rows (a drug's count split
        from the any-opioid count is its own source: it measures a share)."""
        obs = self.inputs().obs
        source = obs["source"].to_numpy().astype(object)
        suffix = observations.suffixes("certified")  # their readable names live there too
        return {name: source[rows] + suffix[name] for name, rows in
                observation_rows(obs, self.model_config.drug_counts).items()}

    def diagnostic_vars(self) -> list[str]:
        return [v for v in self.posterior.data_vars if v != "deaths"] + ["deaths"]

    # ---- draws -------------------------------------------------------------------------
    def target_draws(self) -> xr.DataArray:
        """Deaths (chain, draw, series, year); years before a series' first count (Canada
        before 2016) are left out (NaN)."""
        draws = self.posterior["deaths"]
        inp = self.inputs()
        first = {s: int(inp.obs.loc[inp.obs["series"] == s, "year"].min())
                 for s in inp.series}
        keep = xr.DataArray([[y >= first[s] for y in inp.years] for s in inp.series],
                            dims=("series", "year"),
                            coords={"series": list(inp.series), "year": inp.years})
        return draws.where(keep).rename("deaths")

    def us_correction_draws(self) -> xr.DataArray:
        """US any-opioid deaths corrected for deaths with no drug specified (chain, draw,
        year), for the years VSRR publishes the percent specified: latent certified deaths
        plus ``q`` x unspecified deaths, ``q`` in (0, 1) (prior only)."""
        unspec = self.inputs().unspecified
        if unspec.empty:
            raise ValueError("no VSRR percent specified in the data: no correction")
        q = 1 / (1 + np.exp(-self.posterior["unspecified_opioid_logit"]))
        u = xr.DataArray(unspec["unspecified"].to_numpy(), dims="year",
                         coords={"year": unspec["year"].to_numpy()})
        reported = self.posterior["deaths"].sel(series=US_ANY, year=u["year"],
                                                drop=True)
        return (reported + q * u).rename("corrected_deaths")

    def imputed_draws(self) -> xr.DataArray:
        """Imputed opioid deaths among those with no drug specified: q x unspecified."""
        unspec = self.inputs().unspecified
        q = 1 / (1 + np.exp(-self.posterior["unspecified_opioid_logit"]))
        u = xr.DataArray(unspec["unspecified"].to_numpy(), dims="year",
                         coords={"year": unspec["year"].to_numpy()})
        return (q * u).rename("imputed_deaths")

    # ---- summaries ---------------------------------------------------------------------
    def summary(self) -> pd.DataFrame:
        """series, location_id, drug, year, mean, lower, upper, definition, data_year,
        nowcast: deaths by series and year; ``data_year`` False past the series' last
        published count (a projection, kept only ``projection_years`` past it); ``nowcast`` True where no count covers the whole
        year (underreported months with the publisher's prediction, a 12-month window
        reaching into the year, a partial year such as Canada's January-September 2025)."""
        inp = self.inputs()
        with warnings.catch_warnings():  # years before a series' first count are all-NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            table = interval_summary(self.target_draws()).dropna(subset=["mean"])
        table["location_id"] = table["series"].str.split(":").str[0]
        table["drug"] = table["series"].str.split(":").str[1]
        table["definition"] = DEFINITION
        any_obs = inp.obs.groupby("series")["year"].max()
        # a year is complete when a count covers all of it (not a partial year, not only an
        # underreported month or a window reaching into it)
        pos = {int(y): j for j, y in enumerate(inp.years)}
        full = inp.obs["kind"].eq("count").to_numpy()
        complete = {(s, y) for s, y, i in zip(inp.obs["series"], inp.obs["year"],
                                              range(len(inp.obs)))
                    if full[i] and inp.weights[i, pos[int(y)]] >= 1 - 1e-9}
        table["data_year"] = [y <= any_obs[s] for s, y in zip(table["series"], table["year"])]
        # projections past the back-tested horizons are cut, not published (config)
        keep = within_projection(table["series"], table["year"], any_obs.to_dict(),
                                 self.model_config.projection_years)
        if not keep.all():
            warnings.warn(f"CertifiedDeaths.summary: {int((~keep).sum())} series-years past "
                          f"the last count by more than projection_years="
                          f"{self.model_config.projection_years} left out (projections are "
                          "not calibrated: docs/models/certified.md)", UserWarning,
                          stacklevel=2)
            table = table[keep]
        table["nowcast"] = [d and (s, y) not in complete for s, y, d in
                            zip(table["series"], table["year"], table["data_year"])]
        cols = ["series", "location_id", "drug", "year", "mean", "lower", "upper",
                "definition", "data_year", "nowcast"]
        return self.validated(table[cols].reset_index(drop=True))

    def us_correction_summary(self) -> pd.DataFrame:
        """year, series (reported / corrected / imputed / unspecified), mean, lower,
        upper, prior_driven (the correction rests on the prior of q), definition."""
        reported = self.posterior["deaths"].sel(series=US_ANY, drop=True)
        unspec = self.inputs().unspecified
        parts = []
        for name, draws in (("reported", reported.sel(year=unspec["year"].to_numpy())),
                            ("corrected", self.us_correction_draws()),
                            ("imputed", self.imputed_draws())):
            frame = interval_summary(draws.rename("v"))
            frame.insert(1, "series", name)
            parts.append(frame)
        parts.append(pd.DataFrame({"year": unspec["year"], "series": "unspecified",
                                   "mean": unspec["unspecified"],
                                   "lower": unspec["unspecified"],
                                   "upper": unspec["unspecified"]}))
        out = pd.concat(parts, ignore_index=True)
        out["prior_driven"] = out["series"].isin(["corrected", "imputed"])
        out["definition"] = DEFINITION
        return out

    def summary_text(self) -> str:
        return latest_years_text(self.summary())


def latest_years_text(table: pd.DataFrame, series: tuple[str, ...] = (US_ANY, CAN_ANY)) -> str:
    """The last three years of each of ``series`` in ``table`` (``CertifiedDeaths.summary``),
    each series headed by the deaths it counts where it is published (its ``definition`` in
    ``registry.estimands``: Canada's are PHAC's apparent opioid toxicity deaths, not
    certificates)."""
    lines = []
    for name in series:
        sub = table[table["series"] == name].set_index("year")
        if sub.empty:
            continue
        first = sub.iloc[0]
        what = estimands.get(first["definition"]).counted_at(first["location_id"])
        lines.append(f"{name}: {what}, mean [95% interval]:")
        for year in sub.index[-3:]:
            r = sub.loc[year]
            flag = " (nowcast)" if r["nowcast"] else ("" if r["data_year"]
                                                      else " (projection)")
            lines.append(f"  {year}: {r['mean']:,.0f} [{r['lower']:,.0f}-"
                         f"{r['upper']:,.0f}]{flag}")
    return "\n".join(lines)
