"""OpioidComposition: which opioids are involved in a country's opioid deaths, by year.

For every country and year of the deaths model, the share of opioid deaths in four disjoint
groups (``burden.models.composition_data.GROUPS``): illicit opiate only, illicit synthetic
only, both, and no illicit opioid ("not_illicit": pharmaceutical and other opioids).

- **Measured** where deaths by drug are recorded: the US by T-code (NIDA/NCHS,
  ``us_deaths_by_drug``, to 2019; CDC VSRR provisional counts after it,
  ``us_provisional_national``, whose uncounted heroin-and-synthetic deaths are drawn
  between bounds: ``composition_data.us_provisional_block``) and Canada by origin and type
  (PHAC, ``canada_opioid_deaths``).
  The shares of a measured year are drawn from Dirichlet(counts) (multinomial sampling
  error only). US T40.4 ("synthetic opioids other than methadone") deaths are not assumed
  illicit: a pharmaceutical part at the level of the pre-illicit-fentanyl baseline
  (``us_baseline_years``, 2010-2012 by default) is moved to ``not_illicit`` in every year
  (evidence: docs/models/composition.md).
- **Elsewhere** (and in unmeasured years of the US and Canada) a hierarchical model,
  region -> country, of the composition over three classes (illicit opiate, illicit
  synthetic, pharmaceutical), constant over the years (the evidence has no time resolution
  worth modelling: prevalence surveys in a few years, seizures pooled over 2018-2022):

  - logits (vs pharmaceutical) = mean + region effect + country effect, each effect
    sampled centred on its data as far as its data are precise and non-centred where it
    has none (``CompositionConfig.country_effects``; the same prior either way);
  - UNODC prevalence ratio opiates / opioids (``drug_use_prevalence``) observes the
    illicit-opiate share: logit(ratio) ~ StudentT(4, logit(theta_opiate), sigma_prev);
  - the composition of opioid seizures by weight (``drug_seizures``) observes the class
    composition: log-ratios vs pharmaceutical ~ StudentT(4, logits, sigma_seizure),
    shares kept off 0 at ``seizure_floor``.

Every country-year carries ``prior_driven``: True where the posterior 95% interval of a
class share is at least ``prior_driven_width_ratio`` of its prior's (measured years: False).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from burden import result_schemas
from burden.draws import interval_dataset, interval_table, resample_draws
from burden.errors import ConfigError
from burden.models.base import BayesianEstimator
from burden.models.batched import prior_draws
from burden.models.composition_data import (
    CLASS_GROUP,
    CLASSES,
    GROUPS,
    MeasuredBlock,
    canada_block,
    joined,
    prevalence_ratio,
    seizure_shares,
    us_block,
    us_provisional_block,
    us_synthetic_baseline,
)
from burden.models.config import Config, Prior, SamplerConfig, prior, setting

#: the two logit dimensions (vs pharmaceutical)
KINDS = CLASSES[:2]
#: degrees of freedom of the Student-t errors of the prevalence and seizure evidence
NU = 4.0
#: Gauss-Newton steps linearising softplus in the "data_centred" parameterisation
GN_STEPS = 2


@dataclass(frozen=True)
class CompositionPriors(Config):
    """Priors of ``OpioidComposition`` (logits of illicit opiate and illicit synthetic vs
    pharmaceutical); the reasons print in docs/models/composition.md."""

    mu: Prior = prior(
        "Normal", "world mean logit of each illicit class vs pharmaceutical: no published "
        "world composition of opioid deaths by type is in the data at hand, so centred on "
        "equal shares; sd 1.5 leaves a class anywhere from ~5% to ~90%", mu=0.0, sigma=1.5)
    sigma_region: Prior = prior(
        "HalfNormal", "spread of regions around the world mean (logit): regional drug "
        "markets differ by orders of magnitude (UNODC seizures 2018-2022, kg by class: "
        "opiates ~100% of Iran's, Afghanistan's and Pakistan's, tramadol >99% of Nigeria's, "
        "Benin's and Togo's, fentanyl ~50% of the US's and Mexico's), so a scale of 1 "
        "(factor e) per sd", sigma=1.0)
    sigma_country: Prior = prior(
        "HalfNormal", "spread of countries around their region (logit), as for regions",
        sigma=1.0)
    sigma_prev: Prior = prior(
        "HalfNormal", "error sd of logit(opiates / opioids prevalence) as a measure of the "
        "illicit-opiate share of deaths: surveys differ in year, method and definitions, and "
        "use is not death (heroin is deadlier than most pharmaceutical opioids); 1 on the "
        "logit scale lets the two differ by a factor ~e", sigma=1.0)
    sigma_seizure: Prior = prior(
        "HalfNormal", "error sd of a log-ratio of seized weights (illicit class vs "
        "pharmaceutical) as a measure of the same log-ratio of deaths: seizures measure law "
        "enforcement and supply (one large opium haul can dominate a country's weight), not "
        "deaths, so they are weak evidence: sd 2 on the log scale, a factor ~7 at 1 sd (an "
        "assumption)", sigma=2.0)


@dataclass(frozen=True)
class CompositionConfig(Config):
    """Settings of ``OpioidComposition``."""

    years: tuple[int, int] = setting((1990, 2025), "first and last year with a composition "
                                     "(covers the deaths model's years)")
    gbd_round: int = setting(2017, "GBD round of the location hierarchy (countries, regions)")
    us_baseline_years: tuple[int, int] = setting(
        (2010, 2012), "years whose T40.4 deaths are the pharmaceutical baseline (before the "
        "illicit-fentanyl era: CDC, Gladden et al. MMWR 2016;65:837-843)")
    seizure_min_kg: float = setting(1.0, "a country's seizures are used when it seized at "
                                    "least this many kg of classified opioids in 2018-2022")
    seizure_floor: float = setting(0.001, "seizure shares kept off 0 (Dirichlet density)")
    prior_driven_width_ratio: float = setting(
        0.5, "a country-year is prior-driven where a class share's posterior 95% width is "
             "at least this fraction of its prior's")
    country_effects: str = setting(
        "data_centred", "parameterisation of the region and country effects (the same "
                        "prior either way): 'data_centred' samples each region level and "
                        "country logit as a + b x z with a, b the mean and sd of a Gaussian "
                        "approximation of its conditional posterior given the "
                        "hyperparameters (non-centred where it has no data, centred on its "
                        "data where they are precise); 'noncentred' samples every effect as "
                        "sigma x N(0, 1) (version 1). docs/models/composition.md compares "
                        "them")
    priors: CompositionPriors = CompositionPriors()


class OpioidComposition(BayesianEstimator):
    """Shares of opioid deaths by drug type; see the module docstring."""

    _model_type: ClassVar[str] = "opioid_composition"
    # 2: region and country effects parameterised on their data ("data_centred", the
    # default; the same prior): with every effect non-centred, simulated data with precise
    # surveys (sigma_prev 0.04, seed 102) gave a funnel in sigma_country (R-hat 1.025,
    # step size 0.05, ~300 leapfrog steps a draw; data-centred: 1.007, 0.28, 15)
    # 3: the US split after 2019 measured from VSRR (``us_provisional_national``, a new
    # input table: a fit of version 2 lacks it and is refitted, not read)
    _model_version: ClassVar[str] = "3"
    data_tables: ClassVar[tuple[str, ...]] = (
        "us_deaths_by_drug", "us_provisional_national", "canada_opioid_deaths",
        "drug_use_prevalence", "drug_seizures")
    config_class = CompositionConfig
    #: 2,000 draws a chain (1,000 before 2026-11-30): the fit's convergence rule takes the
    #: maximum R-hat over ~450 quantities, and at 1,000 draws its noise reached 1.013
    #: (sigma_country, ESS 930) on a simulated data set whose other five sampler seeds gave
    #: 1.005-1.008; at 2,000 the same seed gave 1.004 (docs/models/composition.md)
    #: 300 tuning steps a chain (1,000 before 2026-12-02): sampling 12.8-13.4 -> 9.1-9.7 s,
    #: the default seed and seeds 1-3 converged (max R-hat 1.003-1.004, min bulk ESS
    #: 2,174-2,749, 0 divergences; `python analysis/deaths_sampler_settings.py '[...]'
    #: composition`, 2026-12-02 03:42-03:48 UTC; docs/models/composition.md)
    default_sampler = SamplerConfig(draws=2000, tune=300, chains=4, target_accept=0.9)
    summary_schema = result_schemas.COMPOSITION_SUMMARY

    def __init__(self, model_config=None, sampler_config=None):
        super().__init__(model_config, sampler_config)
        self._cache: dict = {}

    def _reset_cache(self) -> None:
        self._cache = {}

    # ---- data --------------------------------------------------------------------------
    def prepare_data(self, data: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
        prepared = super().prepare_data(data)
        if "locations" in data:
            prepared["locations"] = data["locations"]
        else:
            from burden.registry.locations import hierarchy

            prepared["locations"] = hierarchy(self.model_config.gbd_round)
        return prepared

    @property
    def years(self) -> np.ndarray:
        first, last = self.model_config.years
        return np.arange(int(first), int(last) + 1)

    def design(self, data: dict[str, pd.DataFrame] | None = None) -> dict:
        data = data or self.data
        locs = data["locations"]
        countries = locs["iso3"].astype(str).tolist()
        regions = sorted(set(locs["region_id"].astype(str)))
        prev, prev_usage = prevalence_ratio(data["drug_use_prevalence"], countries)
        seiz, seiz_usage = seizure_shares(data["drug_seizures"], countries,
                                          self.model_config.seizure_min_kg)
        has = np.isin(countries, np.union1d(prev["iso3"].to_numpy(dtype=str),
                                            seiz["iso3"].to_numpy(dtype=str)))
        return {"countries": countries, "regions": regions, "has_data": has,
                "country_region": locs["region_id"].astype(str).map(
                    {r: i for i, r in enumerate(regions)}).to_numpy(),
                "prevalence": prev, "seizures": seiz,
                "usage": pd.concat([prev_usage.assign(table="drug_use_prevalence"),
                                    seiz_usage.assign(table="drug_seizures")],
                                   ignore_index=True)}

    def measurement_usage(self) -> pd.DataFrame:
        u = self.design()["usage"].reset_index(drop=True)
        return u.assign(row=np.arange(len(u)))[["row", "table", "record", "used", "how",
                                                "reason"]]

    def measured_blocks(self, data: dict[str, pd.DataFrame] | None = None
                        ) -> list[MeasuredBlock]:
        data = data or self.data
        first, last = self.model_config.years
        out = []
        us = joined(us_block(data["us_deaths_by_drug"]),
                    us_provisional_block(data["us_provisional_national"],
                                         data["us_deaths_by_drug"]))
        for block in (us, canada_block(data["canada_opioid_deaths"])):
            keep = (block.years >= first) & (block.years <= last)
            bounds = block.overlap_bounds
            out.append(MeasuredBlock(block.iso3, block.years[keep], block.counts[keep],
                                     [h for h, k in zip(block.how, keep) if k],
                                     overlap_bounds=None if bounds is None else bounds[keep]))
        return out

    # ---- model -------------------------------------------------------------------------
    def build_model(self, data: dict[str, pd.DataFrame]) -> pm.Model:
        cfg, pri = self.model_config, self.model_config.priors
        d = self.design(data)
        idx = {c: i for i, c in enumerate(d["countries"])}
        coords = {"country": d["countries"], "region": d["regions"], "kind": list(KINDS),
                  "cls": list(CLASSES)}
        with pm.Model(coords=coords) as model:
            mu = pri.mu.create("mu", dims="kind")
            s_reg = pri.sigma_region.create("sigma_region", dims="kind")
            s_cty = pri.sigma_country.create("sigma_country", dims="kind")
            prev, seiz = d["prevalence"], d["seizures"]
            s_prev = pri.sigma_prev.create("sigma_prev") if len(prev) else None
            s_seiz = pri.sigma_seizure.create("sigma_seizure") if len(seiz) else None
            # the evidence as data containers: the "data_centred" parameterisation is
            # computed from them, so swapping them (calibration runs) moves it too
            y_prev = (pm.Data("prevalence_logit", _logit(prev["ratio"].to_numpy()))
                      if len(prev) else None)
            if len(seiz):
                model.add_coord("seizure_country", seiz["iso3"].tolist())
                alr_seiz = pm.Data("seizure_log_ratio", self._seizure_alr(seiz),
                                   dims=("seizure_country", "kind"))
            else:
                alr_seiz = None
            if cfg.country_effects == "noncentred":
                # version 1: every region and country effect sigma x N(0, 1) (a centred
                # version for countries with data: R-hat 2.2, 527 divergences, a
                # sigma_country funnel on the real data; measured 2026-11-29)
                z_reg = pm.Normal("z_region", 0.0, 1.0, dims=("region", "kind"))
                z_cty = pm.Normal("z_country", 0.0, 1.0, dims=("country", "kind"))
                eta = mu + s_reg * z_reg[d["country_region"]] + s_cty * z_cty
            elif cfg.country_effects == "data_centred":
                eta = self._data_centred_effects(d, mu, s_reg, s_cty, s_prev, s_seiz,
                                                 y_prev, alr_seiz)
            else:
                raise ConfigError(f"CompositionConfig.country_effects must be 'data_centred' "
                                  f"or 'noncentred', not {cfg.country_effects!r}")
            logits = pt.concatenate([eta, pt.zeros((len(d["countries"]), 1))], axis=1)
            pm.Deterministic("theta", pt.special.softmax(logits, axis=1),
                             dims=("country", "cls"))
            if len(prev):
                c = prev["iso3"].map(idx).to_numpy()
                # logit(theta_opiate) = eta_opiate - log(1 + exp(eta_synthetic))
                pm.StudentT("obs_prevalence", nu=NU, mu=eta[c, 0] - pt.softplus(eta[c, 1]),
                            sigma=s_prev, observed=y_prev)
            if len(seiz):
                # additive log-ratios (vs pharmaceutical) of the seized weight, Student-t:
                # a composition with a class near 0 would pin a Dirichlet with a small
                # precision to a corner and let the share drift; shares are kept off 0 at
                # ``seizure_floor`` of the country's seized opioid weight
                c = seiz["iso3"].map(idx).to_numpy()
                pm.StudentT("obs_seizures", nu=NU, mu=eta[c], sigma=s_seiz,
                            observed=alr_seiz, dims=("seizure_country", "kind"))
        return model

    def _seizure_alr(self, seiz: pd.DataFrame) -> np.ndarray:
        """(seizure country, kind) log-ratios of the seized weight vs pharmaceutical."""
        shares = np.clip(seiz[list(CLASSES)].to_numpy(), self.model_config.seizure_floor, None)
        return np.log(shares[:, :2]) - np.log(shares[:, 2:3])

    def _data_centred_effects(self, d: dict, mu, s_reg, s_cty, s_prev, s_seiz, y_prev,
                              alr_seiz):
        """Logits eta (country, kind) in the "data_centred" parameterisation.

        Each region level (mu + region effect) and country logit x is sampled as x = a + b
        z, z ~ Normal((m - a) / b, s / b), so that x ~ Normal(m, s) (m: the level above,
        s: sigma_region or sigma_country) as in the non-centred form whatever a and b
        are, as long as they do not depend on z or on anything sampled after it
        (``_shifted``): the same prior, so the same model. Here a and b are the mean and
        sd of a Gaussian approximation of x's conditional posterior given the
        hyperparameters and the levels sampled before it. Without data a = m and b = s:
        non-centred. With precise data a is near them and z ~ N(0, 1) a posteriori
        whatever the hyperparameters: centred on the data, without the funnel between z
        and sigma that the non-centred form has when data are strong (simulated data with
        sigma_prev 0.04: R-hat 1.025 and ~300 leapfrog steps a draw non-centred). So the
        data decide, region by region, country by country and logit by logit, how centred
        each is.

        The approximation takes each Student-t(nu, y, sigma) error as Normal(y, sigma /
        sqrt((nu + 1) / (nu + 3))) (its Fisher information); a region's data are its
        countries' data with the country effects integrated out. Order:

        1. the synthetic region levels, from the countries' seizures and from what their
           surveys say of eta_1 through the opiate logit's prior: with the opiate logit
           integrated out (its marginal prior, updated by its seizure, mean m'_0),
           softplus(eta_1) ~ m'_0 - y; softplus linearised at the prior mean of eta_1;
        2. the opiate region levels, from the surveys as observations of eta_0 = l +
           softplus(eta_1) and the seizures, eta_1 at its estimate given its region level
           (``GN_STEPS`` Gauss-Newton steps), its uncertainty added to the surveys';
        3. the country synthetic logits given both region levels, as in 1 with the opiate
           logit's prior given its region level, linearised by ``GN_STEPS`` Gauss-Newton
           steps from the region level;
        4. the logit of each country's opiate share l = logit(theta_opiate) = eta_0 -
           softplus(eta_1), the quantity the prevalence ratio observes (a shift of eta_0
           given eta_1: Jacobian 1; prior Normal(m_0 - softplus(eta_1), s_0)); a seizure
           observes it as its opiate log-ratio - softplus(eta_1): linear given eta_1. Each
           survey is weighted as a Student-t observation given its residual r from l's
           prior mean: (nu + 1) / (nu + 3 + r^2 / (sigma_prev^2 + s_0^2)) / sigma_prev^2,
           so a survey far outside its prior predictive (a ratio clipped at 0.02, say) is
           discounted as the Student-t likelihood discounts it.

        Measured on the simulated data sets of seeds 102 and 105 (precise surveys, several
        clipped), 2026-11-30: linearising softplus in the survey term itself (eta_1 not
        yet sampled): 23 divergences (seed 102); without the opiate region level
        before eta_1 (seed 105): 17; with the curvature at the centre, (nu + 1) / nu,
        for the Fisher information: 5 (seed 105); without the survey weights of 4: 1
        (seed 102); with all of the above: 0 on seeds 101-105 (docs/models/composition.md).
        """
        countries = d["countries"]
        n_cty, n_reg = len(countries), len(d["regions"])
        idx = {c: i for i, c in enumerate(countries)}
        region = d["country_region"]
        in_region = np.zeros((n_reg, n_cty))
        in_region[region, np.arange(n_cty)] = 1.0
        curv = (NU + 1.0) / (NU + 3.0)  # Student-t Fisher information, in units of 1 / sigma^2
        # prevalence: number of surveys and sum of their logits (y_prev, a data
        # container), per country
        n_prev, sum_prev = np.zeros(n_cty), pt.zeros(n_cty)
        prev = d["prevalence"]
        if len(prev):
            c = prev["iso3"].map(idx).to_numpy()
            np.add.at(n_prev, c, 1.0)
            survey_of = np.zeros((n_cty, len(prev)))
            survey_of[c, np.arange(len(prev))] = 1.0
            sum_prev = pt.dot(survey_of, y_prev)
            c_prev = c
        # seizures: one pooled composition per country (alr_seiz, a data container)
        has_seiz, alr = np.zeros(n_cty), pt.zeros((n_cty, 2))
        seiz = d["seizures"]
        if len(seiz):
            c = seiz["iso3"].map(idx).to_numpy()
            has_seiz[c] = 1.0
            seizure_of = np.zeros((n_cty, len(seiz)))
            seizure_of[c, np.arange(len(seiz))] = 1.0
            alr = pt.dot(seizure_of, alr_seiz)
        # data precision (w) and precision-weighted sum (wy) per country
        zero = pt.zeros(n_cty)
        w_prev = curv * n_prev / s_prev**2 if s_prev is not None else zero
        wy_prev = curv * sum_prev / s_prev**2 if s_prev is not None else zero
        w_seiz = curv * has_seiz / s_seiz**2 if s_seiz is not None else zero
        v0, v1 = s_cty[0] ** 2, s_cty[1] ** 2

        def region_level(name, k, m, w, wy):
            """mu_k + region effect, given country data of precision w and precision-
            weighted sum wy on the scale of logit k (country effects integrated out)."""
            shrink = 1.0 / (1.0 + s_cty[k] ** 2 * w)
            precision = 1.0 / s_reg[k] ** 2 + pt.dot(in_region, w * shrink)
            mean = (m / s_reg[k] ** 2 + pt.dot(in_region, wy * shrink)) / precision
            return _shifted(name, "region", m, s_reg[k], mean, 1.0 / pt.sqrt(precision))

        def pseudo(m0, v0m):
            """(w, wy) of softplus(eta_1) ~ m'_0 - y: the opiate logit (prior mean m0,
            variance v0m, updated by its seizure to m'_0) integrated out."""
            prec0 = 1.0 / v0m + w_seiz
            m0s = (m0 / v0m + w_seiz * alr[:, 0]) / prec0
            shrink = 1.0 / (1.0 + w_prev / prec0)
            return w_prev * shrink, (w_prev * m0s - wy_prev) * shrink

        def synthetic_data(e, w_ps, wy_ps):
            """(w, wy) on eta_1: seizure and pseudo-observation, softplus linearised at e."""
            slope = pt.sigmoid(e)
            return (w_seiz + slope**2 * w_ps,
                    w_seiz * alr[:, 1] + slope * (wy_ps - w_ps * (pt.softplus(e) - slope * e)))

        def synthetic(e, reg1, w_ps, wy_ps):
            """(mean, precision) of eta_1 given its region level, softplus linearised
            at e."""
            w1, wy1 = synthetic_data(e, w_ps, wy_ps)
            precision = 1.0 / v1 + w1
            return (reg1 / v1 + wy1) / precision, precision

        def gauss_newton(reg1, w_ps, wy_ps):
            a1 = reg1
            for _ in range(GN_STEPS):
                a1, p1 = synthetic(a1, reg1, w_ps, wy_ps)
            return a1, p1

        # 1. synthetic region levels; the opiate logit integrated out with its marginal
        # prior (its region level not yet sampled); softplus linearised at the prior mean
        w_ps, wy_ps = pseudo(mu[0], s_reg[0] ** 2 + v0)
        reg1 = region_level("z_region_synthetic", 1, mu[1] * np.ones(n_reg),
                            *synthetic_data(mu[1] * np.ones(n_cty), w_ps, wy_ps))[region]
        # 2. opiate region levels: surveys as observations of eta_0 = l + softplus(eta_1),
        # eta_1 at its estimate given its region level (e1, precision p1e: its
        # uncertainty added to the surveys' through the slope of softplus)
        e1, p1e = gauss_newton(reg1, w_ps, wy_ps)
        slope = pt.sigmoid(e1)
        inflate = 1.0 / (1.0 + w_prev * slope**2 / p1e)
        w0r = w_prev * inflate + w_seiz
        wy0r = (wy_prev + w_prev * pt.softplus(e1)) * inflate + w_seiz * alr[:, 0]
        reg0 = region_level("z_region_opiate", 0, mu[0] * np.ones(n_reg), w0r,
                            wy0r)[region]
        # 3. country synthetic logits given both region levels
        w_ps, wy_ps = pseudo(reg0, v0)
        a1, p1 = gauss_newton(reg1, w_ps, wy_ps)
        syn = _shifted("z_country_synthetic", "country", reg1, s_cty[1], a1,
                       1.0 / pt.sqrt(p1))
        lift = pt.softplus(syn)
        # 4. logit of the opiate share, given eta_1 and the region level (linear); each
        # survey weighted as a Student-t observation given its prior predictive residual
        # (a survey far outside it is discounted, as the Student-t likelihood does)
        if s_prev is not None:
            m_l = (reg0 - lift)[c_prev]
            r2 = (y_prev - m_l) ** 2 / (s_prev**2 + v0)
            omega = (NU + 1.0) / (NU + 3.0 + r2) / s_prev**2
            w_prev4 = pt.dot(survey_of, omega)
            wy_prev4 = pt.dot(survey_of, omega * y_prev)
        else:
            w_prev4, wy_prev4 = w_prev, wy_prev
        w0 = w_prev4 + w_seiz
        wy0 = wy_prev4 + w_seiz * (alr[:, 0] - lift)
        p0 = 1.0 / v0 + w0
        a0 = ((reg0 - lift) / v0 + wy0) / p0
        opi = _shifted("z_country_opiate", "country", reg0 - lift, s_cty[0], a0,
                       1.0 / pt.sqrt(p0))
        return pt.stack([opi + lift, syn], axis=1)

    def diagnostic_vars(self) -> list[str]:
        names = ["mu", "sigma_region", "sigma_country", "z_region", "z_country",
                 "z_region_opiate", "z_region_synthetic", "z_country_opiate",
                 "z_country_synthetic", "sigma_prev", "sigma_seizure", "theta"]
        return [n for n in names if n in self.posterior]

    def fit(self, data, *, progressbar=None, input_hashes=None, sampler_config=None):
        super().fit(data, progressbar=progressbar, input_hashes=input_hashes,
                    sampler_config=sampler_config)
        prior = prior_draws(self.model, 1000, var_names=["theta"],
                            random_seed=self.fit_sampler_config.random_seed)
        self._idata["prior"] = xr.DataTree(dataset=prior["prior"].to_dataset())
        return self._idata

    # ---- draws -------------------------------------------------------------------------
    def _rng(self, salt: int) -> np.random.Generator:
        return np.random.default_rng([self.fit_sampler_config.random_seed, salt])

    def measured_draws(self) -> dict[str, xr.DataArray]:
        """Measured shares by country: (chain, draw, year, group), Dirichlet(counts) draws;
        the US with its pharmaceutical T40.4 baseline moved to ``not_illicit``."""
        if "measured" in self._cache:
            return self._cache["measured"]
        post = self.posterior
        shape = (post.sizes["chain"], post.sizes["draw"])
        out = {}
        for salt, block in enumerate(self.measured_blocks()):
            rng = self._rng(salt + 1)
            counts = block.counts
            if block.overlap_bounds is not None:
                # the uncounted overlap of heroin and synthetic deaths: uniform between
                # its bounds, one draw each posterior draw at the same quantile in every
                # year (the share rose steadily in the counted years; an assumption:
                # docs/models/composition.md)
                lo, hi = np.nan_to_num(block.overlap_bounds).T
                u = rng.uniform(size=(*shape, 1))
                counts = block.with_overlap(lo + (hi - lo) * u)
            g = np.where(counts > 0, rng.gamma(np.maximum(counts, 1e-12),
                                               size=(*shape, *block.counts.shape)), 0.0)
            shares = g / g.sum(axis=-1, keepdims=True)
            if block.iso3 == "USA":
                shares = self._us_pharmaceutical_synthetic(shares, block, rng, shape)
            out[block.iso3] = xr.DataArray(
                shares, dims=("chain", "draw", "year", "group"),
                coords={"chain": post.chain.values, "draw": post.draw.values,
                        "year": block.years, "group": list(GROUPS)})
        self._cache["measured"] = out
        return out

    def _us_pharmaceutical_synthetic(self, shares, block, rng, shape):
        """Move the pharmaceutical part of T40.4-only deaths to ``not_illicit``: each draw
        takes a baseline B ~ LogNormal(mean, sd of log T40.4 deaths over the baseline
        years) and moves min(synthetic-only deaths, B) of each year."""
        m, sd = us_synthetic_baseline(self.data["us_deaths_by_drug"],
                                      self.model_config.us_baseline_years)
        baseline = np.exp(m + sd * rng.standard_normal(shape))[..., None]
        total = block.counts.sum(axis=1)  # any-opioid deaths of each year
        s = GROUPS.index("synthetic_only")
        moved = np.minimum(shares[..., s], baseline / total)
        shares = shares.copy()
        shares[..., s] -= moved
        shares[..., GROUPS.index("not_illicit")] += moved
        return shares

    def modelled_draws(self) -> xr.DataArray:
        """Hierarchical-model shares (chain, draw, location, group), constant over years;
        built once per fit and shared by its callers, who must not write into it (five
        builds took 5.2 of the 34 s of `burden summarise composition` under cProfile,
        2026-12-02 03:11 UTC)."""
        if "modelled" in self._cache:
            return self._cache["modelled"]
        theta = self.posterior["theta"]
        parts = {g: xr.zeros_like(theta.isel(cls=0, drop=True)) for g in GROUPS}
        for cls, g in CLASS_GROUP.items():
            parts[g] = theta.sel(cls=cls, drop=True)
        out = xr.concat(list(parts.values()), dim=pd.Index(list(GROUPS), name="group"))
        self._cache["modelled"] = out.rename(country="location").transpose(
            "chain", "draw", "location", "group")
        return self._cache["modelled"]

    def group_draws(self, locations: list[str] | None = None,
                    years: list[int] | None = None,
                    resample: tuple[int, int, int] | None = None) -> xr.DataArray:
        """Shares (chain, draw, location, year, group), summing to 1 over group: measured
        where measured, the hierarchical model elsewhere.

        ``resample=(chains, draws, seed)``: the draws of ``resample_draws(group_draws(),
        chains, draws, seed)``, identical, resampled before they are spread over the
        years (the attribution's 195 countries x 36 years x 4 groups are 1.8 GB at the
        fit's 8,000 draws: resampling them afterwards held both arrays)."""
        mod = self.modelled_draws()
        measured = self.measured_draws()
        if resample is not None:
            # resample_draws picks pooled draws from their number, the size asked and
            # the seed only: the same pick for every array, so the same draws
            mod = resample_draws(mod, *resample)
            measured = {k: resample_draws(v, *resample) for k, v in measured.items()}
        locations, years = self._selection(locations, years)
        out = mod.sel(location=locations).expand_dims(year=years).transpose(
            "chain", "draw", "location", "year", "group")
        # a C-ordered copy (``copy()`` would keep the broadcast's year-first layout, and
        # every later draw-wise gather over it is a strided one: 3.8 s in the attribution)
        out = out.copy(data=np.ascontiguousarray(out.values))
        for iso3, meas in measured.items():
            if iso3 not in locations:
                continue
            ys = [y for y in meas["year"].values.tolist() if y in years]
            if ys:
                out.loc[{"location": iso3, "year": ys}] = meas.sel(year=ys).transpose(
                    "chain", "draw", "year", "group").values
        return out.rename("share")

    def _selection(self, locations: list[str] | None, years: list[int] | None
                   ) -> tuple[list[str], list[int]]:
        """The locations and years asked for (default: all of the fit's), each once;
        ValueError naming those the fit does not have."""
        known = self.modelled_draws()["location"].values.tolist()
        locations = known if locations is None else list(dict.fromkeys(locations))
        years = (self.years.tolist() if years is None
                 else list(dict.fromkeys(int(y) for y in years)))
        unknown = [x for x in locations if x not in set(known)]
        if unknown:
            raise ValueError(f"composition: locations {unknown[:10]} not in the fit")
        bad_years = [y for y in years if y not in set(self.years.tolist())]
        if bad_years:
            raise ValueError(f"composition: years {bad_years} outside the fit's "
                             f"{self.model_config.years}")
        return locations, years

    def target_draws(self) -> xr.DataArray:
        """Shares (chain, draw, location, year, group) for every country and year."""
        return self.group_draws()

    def prior_driven(self, locations: list[str] | None = None,
                     years: list[int] | None = None) -> xr.DataArray:
        """(location, year) True where the data say little (see the module docstring)."""
        def width(da):
            q = da.quantile([0.025, 0.975], dim=("chain", "draw"))
            return q.sel(quantile=0.975) - q.sel(quantile=0.025)

        post = width(self.posterior["theta"])
        prior = width(self.idata["prior"].to_dataset()["theta"])
        flag = (post >= self.model_config.prior_driven_width_ratio * prior).any("cls")
        flag = flag.drop_vars("quantile", errors="ignore").rename(country="location")
        locations = flag["location"].values.tolist() if locations is None else locations
        years = self.years.tolist() if years is None else list(years)
        out = flag.sel(location=locations).expand_dims(year=years).transpose(
            "location", "year").copy()
        for iso3, meas in self.measured_draws().items():
            if iso3 in locations:
                ys = [y for y in meas["year"].values.tolist() if y in years]
                out.loc[{"location": iso3, "year": ys}] = False
        return out.rename("prior_driven")

    def summary(self, locations: list[str] | None = None,
                years: list[int] | None = None) -> pd.DataFrame:
        """location, year, group, mean, lower, upper, measured, prior_driven: the four
        disjoint groups and the shares *involving* each illicit type (every location and
        year of the fit unless ``locations`` or ``years`` are given).

        The same numbers as ``interval_summary(group_draws())`` without its
        (chain, draw, location, year, group) array (1.8 GB for the default fit): the
        modelled shares are constant over years, so they are summarised once per location
        and repeated over the years; measured years are summarised apart and put in."""
        mod = self.modelled_draws()
        locations, years = self._selection(locations, years)
        stats = interval_dataset(_with_involving(mod.sel(location=locations)))
        stats = stats.expand_dims(year=years).transpose("location", "year", "group").copy(
            deep=True)
        for iso3, meas in self.measured_draws().items():
            ys = [y for y in meas["year"].values.tolist() if y in years]
            if iso3 not in locations or not ys:
                continue
            measured = interval_dataset(_with_involving(meas.sel(year=ys)))
            for name in stats.data_vars:
                stats[name].loc[{"location": iso3, "year": ys}] = (
                    measured[name].transpose("year", "group").values)
        table = interval_table(stats.transpose("location", "year", "group"))
        table = table.rename(columns={"location": "location_id"})
        flags = self.prior_driven(locations, years).to_series()
        measured_cells = {(iso3, int(y)) for iso3, m in self.measured_draws().items()
                          for y in m["year"].values}
        keys = list(zip(table["location_id"], table["year"].astype(int)))
        table["measured"] = [k in measured_cells for k in keys]
        table["prior_driven"] = [bool(flags.get(k, True)) for k in keys]
        return self.validated(table[["location_id", "year", "group", "mean", "lower",
                                     "upper", "measured", "prior_driven"]])

    def summary_text(self, year: int = 2017) -> str:
        countries = [c for c in ("USA", "CAN", "GBR", "RUS", "IRN", "CHN", "IND", "NGA")
                     if c in set(self.modelled_draws()["location"].values.tolist())]
        t = self.summary(countries, [year])
        t = t[t["group"].isin(GROUPS)]
        lines = [f"Opioid deaths by drug type, {year} (share, mean [95%]):"]
        for iso3 in countries:
            rows = t[t["location_id"] == iso3]
            if rows.empty:
                continue
            parts = [f"{r.group} {100 * r.mean:.0f}% [{100 * r.lower:.0f}-"
                     f"{100 * r.upper:.0f}]" for r in rows.itertuples() if r.mean > 0.005]
            flag = " (prior-driven)" if rows["prior_driven"].any() else ""
            lines.append(f"  {iso3}{flag}: " + "; ".join(parts))
        return "\n".join(lines)

    @classmethod
    def load(cls, path: str | Path) -> OpioidComposition:
        est = super().load(path)
        est._cache = {}
        if est._data is not None:
            for name in ("canada_opioid_deaths",):
                frame = est._data.get(name)
                if frame is not None and "quarter" in frame:
                    # nullable integers come back as floats (NaN where missing)
                    est._data[name] = frame.assign(quarter=frame["quarter"].astype(
                        "Float64").astype("Int64"))
        return est


def _with_involving(draws: xr.DataArray) -> xr.DataArray:
    """``draws`` of the four groups (dim ``group``, moved last) and, after them, the shares
    involving each illicit type (opiate only + both, synthetic only + both)."""
    d = draws.transpose(..., "group")
    groups = [str(g) for g in d["group"].values]
    at = {g: k for k, g in enumerate(groups)}
    v = d.values
    both = v[..., at["opiate_and_synthetic"]]
    opiate = v[..., at["opiate_only"]] + both
    synthetic = v[..., at["synthetic_only"]] + both
    values = np.concatenate([v, opiate[..., None], synthetic[..., None]], axis=-1)
    coords = {dim: d[dim].values for dim in d.dims[:-1]}
    coords["group"] = groups + ["involving_illicit_opiate", "involving_illicit_synthetic"]
    return xr.DataArray(values, dims=d.dims, coords=coords, name="share")


def _shifted(name: str, dims: str, m, s, a, b):
    """x = a + b z with z ~ Normal((m - a) / b, s / b), so x ~ Normal(m, s) whatever a and
    b (> 0) are, as long as they do not depend on z."""
    z = pm.Normal(name, (m - a) / b, s / b, dims=dims)
    return a + b * z


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)
