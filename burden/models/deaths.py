"""OpioidDeaths: opioid deaths by country and year, pooled through the GBD hierarchy, with
the US correction for overdose deaths whose certificate names no drug.

Sources: IHME GBD 2017 opioid-use-disorder deaths (``gbd_deaths``), World Bank population
(``population``), NIDA/NCHS deaths by drug (``us_deaths_by_drug``) and CDC VSRR provisional
counts with the percent of deaths with a drug specified (``us_provisional_national``, 2015-2025). Methods,
priors and measured figures: docs/models/deaths.md.

Example::

    model = OpioidDeaths()
    model.fit({name: pd.read_parquet(...) for name in OpioidDeaths.data_tables})
    model.summary(level="world")
    model.save("models/deaths.nc")
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from burden import result_schemas
from burden.draws import interval_summary
from burden.errors import ConfigError
from burden.models import deaths_graph
from burden.models.base import BayesianEstimator
from burden.models.config import Config, Prior, SamplerConfig, prior, setting
from burden.models.deaths_data import US_DRUGS, DeathsInputs, prepare_inputs
from burden.registry import estimands
from burden.registry.keys import US, WORLD_ID, WORLD_NAME, Level
from burden.registry.locations import GBD_ROUNDS

#: the estimands of the outputs: GBD deaths due to opioid use disorders (every country), and
#: certificate-defined opioid-involved overdose deaths (the US block)
GBD_DEFINITION = estimands.get("gbd_use_disorder").id

LEVELS = tuple(Level)


@dataclass(frozen=True)
class DeathsPriors(Config):
    """Priors of ``OpioidDeaths`` (log scale unless stated); the reasons print in the docs."""

    mu_global: Prior = prior(
        "Normal", "log rate per 100,000 in the first year: centred on 1 per 100,000, 95% "
        "range 0.02-50, wide around GBD 2017's world figure (109,520 deaths in 2017, "
        "`gbd_deaths` WLD row, about 1.4 per 100,000)", mu=0.0, sigma=2.0)
    sigma_level: Prior = prior(
        "HalfNormal", "spread of region and country levels: GBD 2017 country "
        "values range 0.08 to 47,343 deaths; a factor e per level is a typical spread",
        sigma=1.0)
    sigma_super_region: Prior = prior(
        "Gamma", "spread of the 7 super-region levels: boundary-avoiding (Chung et al. 2013, "
        "Psychometrika 78:685, for a group scale learnt from few groups): super-regions "
        "differ (GBD 2017's own super-region rows, not fitted: age-standardised rates 0.31-"
        "1.16 per 100,000 in 1990, sd of logs 0.51), so a spread of ~0 is implausible; under "
        "HalfNormal(1) the scale's lower tail mixed slowly (R-hat 1.014 on seed 3, "
        "2026-11-30); mean 1, 95% 0.12-2.8",
        alpha=2.0, beta=2.0)
    nopop_log_deaths: Prior = prior(
        "Normal", "level (log deaths) of a country without population (Taiwan): not pooled, "
        "very wide, data-dominated", mu=4.0, sigma=3.0)
    tau_step: Prior = prior(
        "HalfNormal", "trend steps per knot (super-region, region, country, US drug shares): "
        "0.5 is a 65% change in 5 years; NCHS US deaths rose about 7-fold 1999-2017 (8,050 "
        "to 47,600), about 0.5 per 5 years", sigma=0.5)
    sigma_gbd: Prior = prior(
        "HalfNormal", "year-to-year scatter of GBD values around each round's own biased curve, "
        "by super-region, shared by the rounds (one per round made the posterior bimodal: "
        "docs): GBD curves are smooth, deviations from a 5-year "
        "spline above ~20% would be surprising", sigma=0.2)
    round_bias_sd: Prior = prior(
        "HalfNormal", "world-level bias of a GBD round (rounds are exchangeable measurements "
        "of the latent deaths): a round may shift a cause's world total by ~20% (95% up to "
        "~50%); set before scoring rounds against each other, not fitted to their "
        "differences", sigma=0.2)
    round_super_region_sd: Prior = prior(
        "HalfNormal", "super-region deviations of a round's bias from its world-level bias "
        "(sum to zero over super-regions): regional models and data change between rounds; "
        "~30% typical", sigma=0.3)
    round_country_sd: Prior = prior(
        "HalfNormal", "country deviations of a round's bias (by super-region): GBD country "
        "values of data-poor countries come from covariate models that change between "
        "rounds; a factor 1.4 typical, up to ~2.7 (95%)", sigma=0.5)
    round_trend_sd: Prior = prior(
        "HalfNormal", "country trend of a round's bias, per decade (by super-region): a "
        "revision may tilt a country's curve by ~20% per decade", sigma=0.2)
    definition_log_ratio: Prior = prior(
        "Normal", "start of the NCHS/GBD log ratio: the definitions count broadly the same "
        "deaths (GBD USA 2017 47,343; NCHS any opioid 2017 47,600) but could differ by ~2x",
        mu=0.0, sigma=0.5)
    tau_ratio: Prior = prior(
        "LogNormal", "step of the NCHS/GBD log ratio per knot: definitions drift slowly but "
        "not at all is implausible (any-mention certificates vs modelled use-disorder "
        "deaths; the log ratio moved ~0.17 in 1999-2017 in the fits, docs); boundary-"
        "avoiding (Chung et al. 2013): a HalfNormal let the scale collapse to 0, a funnel "
        "(12-14 divergences in the 2014 back-test cut); 95% 0.037-0.27", mu=-2.3026,
        sigma=0.5)
    share_logit_level: Prior = prior(
        "Normal", "start of the US drug-share logits: any share from ~5% to ~95%", mu=0.0,
        sigma=1.5)
    sigma_nchs: Prior = prior(
        "LogNormal", "certified counts (NCHS, VSRR), one scale per drug series: small "
        "error plus what the smooth curves cannot follow, which is never ~0 (a HalfNormal "
        "drew 0.002 in the recovery test's simulated world, which then did not converge); "
        "95% 0.015-0.16, around the residual rms of the fit with data through 2014 "
        "(0.028-0.089, docs)", mu=-2.9957, sigma=0.6)

    sigma_us_year: Prior = prior(
        "LogNormal", "US deaths' departure from their 5-year spline in one year (version "
        "8): certified any-opioid deaths jumped 38% from 2019 to 2020 (NCHS 49,860, then "
        "VSRR 69,061), which version 7's spline missed by about 8% in both years (python "
        "analysis/us_curve_decomposition.py, 2026-12-07); boundary-avoiding (the "
        "certified counts' scale's reason); 95% 0.015-0.16, the residual rms of the fit "
        "with data through 2014 (0.028-0.089, docs) in its middle", mu=-2.9957, sigma=0.6)

#: the parameterisation settings of ``DeathsConfig`` and their allowed values (the same
#: prior either way; docs/models/deaths.md, "Parameterisation" and "Partial centring"),
#: except ``round_trend_scale``, a different model: 'world' shares one scale (with the
#: per-super-region scale's prior) between every super-region, and ``us_year_effects``
#: 'none' (version 7's model, without the US year effects)
PARAMETERISATIONS: dict[str, tuple[str, ...]] = {
    "group_levels": ("non_centred", "centred", "partial"),
    "group_steps": ("non_centred", "partial"),
    "round_biases": ("centred", "partial"),
    "definition_ratio": ("centred", "non_centred", "sheared", "partly_sheared"),
    "country_effects": ("centred", "non_centred"),
    "us_forecast": ("non_centred", "centred"),
    "us_year_effects": ("centred", "non_centred", "none"),
    "step_scales": ("independent", "decomposed"),
    "round_trend_scale": ("super_region", "world"),
}


@dataclass(frozen=True)
class DeathsConfig(Config):
    """Settings of ``OpioidDeaths``."""

    forecast_to: int = setting(2024, "last year of the latent trend (World Bank population "
                                     "ends in 2024)")
    knot_spacing: float = setting(5.0, "years between spline knots (countries)")
    us_knot_spacing: float = setting(3.0, "US definition ratio and drug shares (sharper "
                                          "changes)")
    last_data_year: int | None = setting(None, "e.g. 2014 for a back-test (later data left "
                                               "out)")
    country_effects: str = setting("centred", "'centred' or 'non_centred' (measured in the "
                                              "docs)")
    group_levels: str = setting(
        "non_centred", "super-region and region levels: 'non_centred', 'centred', or "
                       "'partial': centred to the degree their countries pin them against "
                       "the levels' scale (deaths_graph.group_weights; docs/models/"
                       "deaths.md, 'Partial centring')")
    group_steps: str = setting(
        "non_centred", "super-region and region trend steps over the data years: "
                       "'non_centred' or 'partial' (as group_levels); past the data they are "
                       "non-centred either way")
    round_biases: str = setting(
        "centred", "the parts of each GBD round's bias (world, super-region, country level "
                   "and trend): 'centred', or 'partial': each centred to the degree the GBD "
                   "rows pin it against its scale (deaths_graph.round_information; docs/"
                   "models/deaths.md, 'Partial centring')")
    definition_ratio: str = setting(
        "sheared", "walk of the US NCHS/GBD definition ratio: 'sheared' (the default since "
                   "version 7): the centred walk plus the US curve's projection, so the "
                   "certified counts pin nearly one free vector (deaths_graph."
                   "sheared_ratio_projection); 'centred' (the default to version 6): the "
                   "walk itself, whose last data coefficient and the US curve's the counts "
                   "pin only as a sum (the fit's slowest direction: R-hat 1.0129 at the US "
                   "curve's coefficient 8 on one seed, 2026-12-03, docs/models/deaths.md, "
                   "'Version 7'); 'non_centred' (every step); or "
                   "'partly_sheared': the shift weighted by how much better the counts pin "
                   "the sum than the prior pins the ratio (deaths_graph.ratio_shear_weights). "
                   "The same model in every form (docs/models/deaths.md, 'A sheared "
                   "definition ratio')")
    us_forecast: str = setting(
        "centred", "US country coefficients past the GBD years: 'centred' (the default since "
                   "version 8: NCHS and VSRR counts pin them to their last year; docs/models/"
                   "deaths.md, 'Prior worlds' and 'Version 8') or 'non_centred' (as every "
                   "country's, prior only: with the US year effects, at least 19 "
                   "divergences on one of four seeds, 2026-12-07)")
    us_year_effects: str = setting(
        "centred", "the US curve's effect of each year with certified counts (version 8; "
                   "docs/models/deaths.md, 'Version 8'): sampled 'centred' or "
                   "'non_centred' (the same model), or 'none' (version 7's model: the US "
                   "curve is its 5-year spline)")
    step_scales: str = setting(
        "independent", "the three trend-step scales (super-region, region, country): "
                       "'independent' HalfNormals, or 'decomposed': the same prior sampled "
                       "as their total and its split (deaths_graph.decomposed_scales; docs/"
                       "models/deaths.md, 'Decomposed step scales')")
    round_trend_scale: str = setting(
        "super_region", "scale of the countries' round-bias trends: one per super-region "
                        "('super_region'), or one for the world ('world'), learnt from "
                        "every country (docs/models/deaths.md, 'One round-trend scale for the world')")
    gbd_rounds: tuple[int, ...] = setting(
        GBD_ROUNDS, "GBD rounds fitted (gbd_deaths.gbd_round): each one a measurement of the "
                    "latent deaths with its own bias and dispersion")
    priors: DeathsPriors = DeathsPriors()

    def __post_init__(self):
        if not self.gbd_rounds or len(set(self.gbd_rounds)) != len(self.gbd_rounds):
            raise ConfigError("DeathsConfig.gbd_rounds must name one or more distinct GBD "
                              f"rounds, not {self.gbd_rounds!r}")
        for name, allowed in PARAMETERISATIONS.items():
            value = getattr(self, name)
            if value not in allowed:
                raise ConfigError(f"DeathsConfig.{name} must be one of "
                                  f"{', '.join(map(repr, allowed))}, not {value!r}")
        if self.step_scales == "decomposed" and self.priors.tau_step.dist != "HalfNormal":
            raise ConfigError("DeathsConfig.step_scales='decomposed' needs a HalfNormal "
                              f"priors.tau_step, not {self.priors.tau_step}")
        if self.us_forecast == "centred" and self.country_effects != "centred":
            raise ConfigError("DeathsConfig.us_forecast='centred' needs country_effects="
                              "'centred' (non-centred country effects have no separate "
                              "coefficients past the GBD years to centre); 'centred' is "
                              "us_forecast's default since version 8: give "
                              "us_forecast='non_centred' with country_effects='non_centred'")


class OpioidDeaths(BayesianEstimator):
    """Bayesian model of opioid deaths by country-year; see the module docstring."""

    _model_type: ClassVar[str] = "opioid_deaths"
    _model_version: ClassVar[str] = "8"  # 2: typed configs; 3: GBD rounds as measurements;
    # 4: certified-count error scale per drug series; 5: GBD zeros as pm.Censored (observed);
    # 6: boundary-avoiding Gamma prior on the super-region spread (the "partial" options
    # of 2026-11-30 are not a version: the default graph is version 6's); 7: the US
    # definition ratio sampled sheared (the same model, another parameterisation); 8: a US
    # effect of each certified year (``us_year_effects``), and the definition ratio's
    # drift after GBD's last year centred on the held ratio
    data_tables: ClassVar[tuple[str, ...]] = (
        "gbd_deaths", "population", "us_deaths_by_drug", "us_provisional_national")
    config_class = DeathsConfig
    #: 1,200 draws a chain (1,500 before 2026-12-02 06:30): eight seeds (default, 1-7)
    #: converged, max R-hat 1.0065-1.0082, min bulk ESS 736-992, 0 divergences; sampling
    #: 41-50 s against 52-54 s (`python analysis/deaths_sampler_settings.py '[{"draws":
    #: 1200}, ...]'`, 2026-12-02 06:01-06:10 UTC; docs/models/deaths.md, "Speed"). With
    #: 1,000 the fresh-clone fit (2026-11-29 21:56, seed default) missed max R-hat 1.01 by a
    #: hair on one of ~1,000 prior-only forecast steps (1.010, rounded; ESS 584): the noise
    #: of the maximum over thousands of R-hats.
    #: 400 tuning steps a chain since version 8 (300, nutpie's own default, from 2026-12-02;
    #: 500 before): with version 8's US year effects, 300 left one divergence in the
    #: default seed's fit (draw 19 of chain 1, no parameter past 3.6 posterior sd there)
    #: and R-hat 1.011 on seed 2; 400 converged on the default seed and seeds 1-3 (max
    #: R-hat 1.0070-1.0087, min bulk ESS 742-880, 0 divergences, sampling 61-63 s against
    #: 55-57 s; `python analysis/deaths_sampler_settings.py`, 2026-12-07 14:21-14:26 UTC;
    #: docs/models/deaths.md, "Version 8")
    #: every 2nd draw kept (thin=2, since 2026-12-07): the slowest quantities' draws are so
    #: autocorrelated that the 600 kept a chain hold nearly all their effective draws (the
    #: pipeline fit of 2026-12-07, seed 20171: min bulk ESS 781 of all 1,200 a chain, 773
    #: of every 2nd, 726 of every 3rd; min tail ESS 1,067, 1,075, 791; max R-hat 1.0055,
    #: 1.0076, 1.0075: `python analysis/thinned_ess.py <its fit saved with every bit>`,
    #: 2026-12-07 08:40-09:00 UTC), and so the saved fit holds every bit of them in under
    #: 50 MB (issue 12), where all 1,200 a chain took 91.3 MB (docs/performance.md,
    #: "Thinned, not rounded")
    default_sampler = SamplerConfig(draws=1200, tune=400, chains=4, target_accept=0.9,
                                    thin=2)
    refused_samplers: ClassVar[dict[str, str]] = {"numpyro": (
        "with numpyro every draw was divergent and the step size adapted to 0; the JAX "
        "gradient of the censored GBD zeros (gbd_below_half) is not finite at the model's "
        "initial point (`python analysis/numpyro_fits.py deaths` and `--gradient deaths`, "
        "2026-12-03; docs/performance.md, \"numpyro (JAX)\")")}
    summary_schema = result_schemas.DEATHS_SUMMARY

    def __init__(self, model_config: dict | DeathsConfig | None = None,
                 sampler_config: dict | SamplerConfig | None = None):
        super().__init__(model_config, sampler_config)
        self._inputs: DeathsInputs | None = None
        self._cache: dict[str, xr.DataArray] = {}

    def _reset_cache(self) -> None:
        self._inputs = None
        self._cache = {}

    # ---- data and model ----------------------------------------------------------------
    def prepare_data(self, data: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
        """The four tables (``gbd_deaths``: the configured rounds only) plus ``locations``
        (from the registry, the hierarchy of the latest round fitted, unless given)."""
        prepared = super().prepare_data(data)
        gbd = prepared["gbd_deaths"]
        if "gbd_round" in gbd:
            prepared["gbd_deaths"] = gbd[gbd["gbd_round"].isin(self.model_config.gbd_rounds)]
        if "locations" in data:
            prepared["locations"] = data["locations"]
        else:
            from burden.registry.locations import hierarchy

            prepared["locations"] = hierarchy(max(self.model_config.gbd_rounds))
        return prepared

    def inputs(self, data: dict[str, pd.DataFrame] | None = None) -> DeathsInputs:
        """Aligned model inputs (built from the fitted data unless ``data`` is given)."""
        if data is not None:
            cfg = self.model_config
            return prepare_inputs(data, data["locations"], forecast_to=cfg.forecast_to,
                                  knot_spacing=cfg.knot_spacing,
                                  us_knot_spacing=cfg.us_knot_spacing,
                                  last_data_year=cfg.last_data_year,
                                  gbd_rounds=cfg.gbd_rounds)
        if self._inputs is None:
            self._inputs = self.inputs(self.data)
        return self._inputs

    def build_model(self, data: dict[str, pd.DataFrame]) -> pm.Model:
        inp = self.inputs(data)
        for note in inp.notes:
            warnings.warn(note, UserWarning, stacklevel=3)
        return deaths_graph.build(inp, self.model_config)

    def target_draws(self) -> xr.DataArray:
        """Deaths (chain, draw, location, year) at every level: countries (ISO3), regions,
        super-regions and the world (``WLD``), each aggregate a sum of draws. Built once
        and kept (the concatenation copies every level: 3.5 s for 6,000 draws, and
        ``predict`` calls it for each selection)."""
        if "target" not in self._cache:
            self._cache["target"] = xr.concat(
                [self.deaths_draws(lev).drop_vars("location_name", errors="ignore")
                 for lev in LEVELS], "location").rename("deaths")
        return self._cache["target"]

    def observation_sources(self) -> dict[str, np.ndarray]:
        inp = self.inputs()
        rounds = np.asarray([f"GBD {r} round" for r in inp.rounds], dtype=object)
        out = {"gbd_log_deaths": rounds[inp.gbd_round],
               "gbd_below_half": rounds[inp.cens_round]}
        if inp.us is not None:
            out["nchs_log_deaths"] = np.full(len(inp.us.nchs_year), "NCHS final (US)")
            out["vsrr_log_deaths"] = np.full(len(inp.us.vsrr_year), "VSRR provisional (US)")
        return out

    def diagnostic_vars(self) -> list[str]:
        """Free parameters and the small US quantities; deterministic copies of free
        parameters (e.g. ``region_step``) are left out (``country_coef`` is kept: with
        several rounds it is the anchored walk minus a round's deviation), derived deaths
        are added in ``diagnostics``."""
        copies = {"super_region_step", "region_step", "definition_log_ratio_coef",
                  "share_logit_coef",
                  # its data part is the free ``country_anchored_coef_data`` itself, its
                  # forecast part a walk of the free ``..._forecast_z``
                  "country_anchored_coef"}
        if self.posterior.sizes.get("gbd_round") == 2:
            # with two rounds each round's deviation is +-1/sqrt(2) x the free contrast
            # (``*_e``): rank-normalised R-hat and ESS are the same numbers, up to how
            # ties break in the folded draws (< 0.001 in R-hat, tested)
            copies |= {"round_bias_dev", "round_super_region_bias_dev",
                       "round_country_bias_dev", "round_trend_dev"}
        # group levels are copies only when sampled non-centred (through their ``_z``)
        copies |= {v for v in ("super_region_level", "region_level")
                   if f"{v}_z" in self.posterior}
        if "round_trend_world_sd" in self.posterior:  # round_trend_scale='world'
            copies.add("round_trend_sd")  # the world's scale, repeated by super-region
        return [v for v in self.posterior.data_vars if v not in copies]

    # ---- draws -------------------------------------------------------------------------
    def _stack(self, name: str) -> np.ndarray:
        return np.asarray(self.posterior[name])

    def _rounds_average_log_deaths(self, coef: str = "country_coef") -> np.ndarray:
        """(chain, draw, country, year) log deaths on the rounds' average definition (the
        spline the GBD rounds measure around), recomputed from the spline coefficients;
        ``coef="country_anchored_coef"``: each country's anchor round's curve instead (the
        rounds' average with one round)."""
        inp = self.inputs()
        theta = self._stack(coef if coef in self.posterior else "country_coef")
        # one GEMM over all draws (np.einsum: 0.7 s a call; a stacked matmul: 1.0 s)
        k = theta.shape[-1]
        log_rate = (theta.reshape(-1, k) @ inp.basis.T).reshape(*theta.shape[:-1], -1)
        offset = np.where(inp.has_population[:, None],
                          np.log(np.nan_to_num(inp.population, nan=1.0) / 1e5), 0.0)
        out = log_rate + offset
        if "us_year_effect" in self.posterior:  # version 8: every source sees the effects
            us, effect = inp.us, self._stack("us_year_effect")
            start = us.offset
            out[..., inp.countries.index(US), start:start + effect.shape[-1]] += effect
        return out

    #: seed of the rounds' mean bias drawn into every deaths draw (fixed: the same fit gives
    #: the same numbers in every call and process)
    MEAN_BIAS_SEED = 20171

    def _new_round_bias(self, rng: np.random.Generator, scale: float = 1.0
                        ) -> tuple[np.ndarray, np.ndarray]:
        """A new GBD round's bias for every posterior draw: (chain, draw, country) level and
        trend per decade, from the fitted scales (world, super-region, country, trend
        parts; exchangeable rounds), each scale times ``scale``. One world and super-region
        draw per posterior draw is shared by its countries, so aggregates carry it whole."""
        inp = self.inputs()
        post = self.posterior
        sr = inp.country_super
        shape = post["country_coef"].shape[:3]  # chain, draw, country
        tau = scale * np.asarray(post["round_bias_sd"])[..., None]
        tau_sr = scale * np.asarray(post["round_super_region_sd"])[..., None]
        omega = scale * np.asarray(post["round_country_sd"])
        g = rng.normal(size=(*shape[:2], len(inp.super_region_ids)))
        g = g - g.mean(-1, keepdims=True)  # ZeroSumNormal: iid normals, centred
        bias = (tau * rng.normal(size=(*shape[:2], 1)) + tau_sr * g[..., sr]
                + omega[..., sr] * rng.normal(size=shape))
        trend = scale * np.asarray(post["round_trend_sd"])[..., sr] * rng.normal(size=shape)
        return bias, trend

    def _country_log_deaths(self) -> np.ndarray:
        """(chain, draw, country, year) latent log deaths: the rounds' average curve minus
        the rounds' mean bias. The rounds are exchangeable measurements whose population is
        unbiased for the latent; the data say nothing about where it lies against the
        rounds at hand, so their mean bias is drawn from its distribution given the fitted
        scales, N(0, scale^2 / R) for each part (a random-effects meta-analysis's pooled
        mean; seeded). Drawn after sampling: it does not touch the likelihood, so this is
        the same distribution as sampling it in the model, at no sampling cost."""
        if "country_log_deaths" not in self._cache:
            inp = self.inputs()
            rng = np.random.default_rng(self.MEAN_BIAS_SEED)
            bias, trend = self._new_round_bias(rng, scale=1 / np.sqrt(len(inp.rounds)))
            out = (self._rounds_average_log_deaths() - bias[..., None]
                   - trend[..., None] * inp.round_trend_x)
            if inp.us is not None:
                us, c = inp.us, inp.countries.index(US)
                out[..., c, us.offset:us.offset + len(us.years)] -= self._us_ratio_drift(rng)
            self._cache["country_log_deaths"] = out
        return self._cache["country_log_deaths"]

    def _us_ratio_drift(self, rng: np.random.Generator) -> np.ndarray:
        """(chain, draw, US year) drift of the NCHS/GBD definition ratio after GBD's last
        data year, drawn after sampling. The model holds the ratio there (certified counts
        cannot split a change between it and the GBD-definition curve), so certified counts
        move the curve. The ratio's own walk goes on instead: the coefficients whose
        B-splines weigh under 1% on every GBD year (``_drift_start``; the last of them
        sampled from its prior alone) take steps ~ N(0, tau_definition_ratio), and the
        drift is what those steps add to the ratio's path after GBD's last year, less what
        they add in that year, over the years certified counts cover, held after them:
        centred on the held ratio (version 8; version 7 took the path's distance from the
        held value, which carried on the slope of the ratio's last fitted years: -0.054 to
        -0.138 in 2020-2023, docs/models/deaths.md, Limits). The GBD-definition US deaths
        are the certified-pinned curve minus that drift (log scale); the certified series
        (``us_drug_deaths_draws``) is unchanged."""
        us = self.inputs().us
        tau = np.asarray(self.posterior["tau_definition_ratio"])[..., None]
        n_coef = us.basis.shape[1]
        start = _drift_start(us)
        walked = np.zeros((*tau.shape[:2], n_coef))
        walked[..., start:] = np.cumsum(
            tau * rng.normal(size=(*tau.shape[:2], n_coef - start)), -1)
        path = walked @ us.basis.T
        drift = np.zeros_like(path)
        k, last = us.ratio_last, us.cert_last
        drift[..., k + 1:last + 1] = path[..., k + 1:last + 1] - path[..., k:k + 1]
        drift[..., last + 1:] = drift[..., last:last + 1]
        return drift

    def gbd_measurement_draws(self, gbd_round: int | None = None,
                              seed: int = 1) -> xr.DataArray:
        """Posterior predictive draws (chain, draw, location, year) of the country deaths a
        GBD round would publish: a fitted round (``gbd_round`` in ``gbd_rounds``: its own
        bias and dispersion) or a new round (``None`` or a round not fitted: the latent
        deaths times a new round's bias, ``_new_round_bias``), plus the year-to-year
        dispersion. No rounding to whole deaths."""
        inp = self.inputs()
        post = self.posterior
        rng = np.random.default_rng(seed)
        sr = inp.country_super
        s = np.asarray(post["sigma_gbd"])  # chain, draw, super-region
        x = inp.round_trend_x
        mean = self._rounds_average_log_deaths()
        if gbd_round in inp.rounds:
            r = inp.rounds.index(gbd_round)
            if len(inp.rounds) > 1:
                # a country's whole deviation (world + super-region + country parts)
                dev = np.asarray(post["round_country_bias_dev"])[..., r]
                trend = np.asarray(post["round_trend_dev"])[..., r]
                mean = mean + dev[..., None] + trend[..., None] * x
        else:
            # latent (the rounds' average minus their mean bias) plus a new round's bias:
            # the variance of a new round about the average is scale^2 (1 + 1/R), the
            # random-effects prediction interval
            bias, trend = self._new_round_bias(rng)
            mean = self._country_log_deaths() + bias[..., None] + trend[..., None] * x
        noise = rng.normal(size=mean.shape) * s[..., sr, None]
        return xr.DataArray(
            np.exp(mean + noise), name="gbd_deaths", dims=("chain", "draw", "location", "year"),
            coords={"chain": post.chain.values, "draw": post.draw.values,
                    "location": inp.countries, "year": inp.years})

    def _groups(self, level: str) -> tuple[list[str], list[str], np.ndarray]:
        """Ids, names and a (group x country) 0/1 matrix for an aggregation level."""
        inp = self.inputs()
        n = len(inp.countries)
        if level == "country":
            return inp.countries, inp.country_names, np.eye(n)
        if level == "region":
            idx, ids, names = inp.country_region, inp.region_ids, inp.region_names
        elif level == "super_region":
            idx, ids, names = inp.country_super, inp.super_region_ids, inp.super_region_names
        elif level == "world":
            idx, ids, names = np.zeros(n, int), [WORLD_ID], [WORLD_NAME]
        else:
            raise ValueError(f"level must be one of {LEVELS}, not {level!r}")
        return ids, names, (idx[None, :] == np.arange(len(ids))[:, None]).astype(float)

    def deaths_draws(self, level: str = "country") -> xr.DataArray:
        """Draws of deaths (chain, draw, location, year); aggregates are sums of draws."""
        key = f"deaths:{level}"
        if key not in self._cache:
            inp = self.inputs()
            if "deaths:country" not in self._cache:
                self._cache["deaths:country"] = xr.DataArray(
                    np.exp(self._country_log_deaths()), name="deaths",
                    dims=("chain", "draw", "location", "year"),
                    coords={"chain": self.posterior.chain.values,
                            "draw": self.posterior.draw.values,
                            "location": inp.countries, "year": inp.years})
            ids, names, member = self._groups(level)
            country = self._cache["deaths:country"]
            # countries are their own group: the draws themselves (an identity GEMM
            # copied 262 MB of the deaths fit's draws for nothing)
            values = (country.values if level == "country"
                      else _apply_groups(member, country.values))
            self._cache[key] = xr.DataArray(
                values, name="deaths", dims=country.dims,
                coords={"chain": country.chain, "draw": country.draw, "location": ids,
                        "location_name": ("location", names), "year": country.year})
        return self._cache[key]

    def population(self, level: str = "country") -> xr.DataArray:
        """Population of each location (countries with a population only) by year."""
        inp = self.inputs()
        ids, _, member = self._groups(level)
        pop = np.where(inp.has_population[:, None], np.nan_to_num(inp.population), 0.0)
        values = member @ pop
        values[values == 0] = np.nan
        return xr.DataArray(values, dims=("location", "year"),
                            coords={"location": ids, "year": inp.years})

    def rate_draws(self, level: str = "country") -> xr.DataArray:
        """Deaths per 100,000 (countries without population left out of aggregates)."""
        inp = self.inputs()
        _, _, member = self._groups(level)
        country = self.deaths_draws("country").values
        if level == "country":  # NaN where there is no population, as the division gives
            rate = country / self.population(level).values
        else:
            rate = _apply_groups(member * inp.has_population[None, :], country)
            rate /= self.population(level).values
        rate *= 1e5  # in place: one array of the draws' size, not three
        return self.deaths_draws(level).copy(data=rate).rename("rate_per_100k")

    def us_drug_deaths_draws(self) -> xr.DataArray:
        """US opioid deaths by drug (chain, draw, drug, year) as death certificates report
        them (multiple cause, NCHS's definition): the GBD curve times the definition ratio
        times each drug's share. Deaths on certificates that name no drug are not
        reallocated here: the bounded correction is ``CertifiedDeaths.us_correction_draws``
        (the certified estimand's own model, fitted to every VSRR month)."""
        inp = self.inputs()
        if inp.us is None:
            raise ValueError("the fit has no US data (USA not among the GBD countries)")
        us = inp.us
        # NCHS measures the anchor round's GBD curve times the definition ratio: a GBD
        # round's bias is not a bias of the certified counts
        log_deaths = self._rounds_average_log_deaths("country_anchored_coef")[
            ..., inp.countries.index(US), :]
        n_years = len(us.years)
        eta = log_deaths[..., us.offset:us.offset + n_years]
        log_deaths = (eta[..., None, :] + self._stack("us_definition_log_ratio")[..., None, :]
                      + self._stack("us_log_share"))
        return xr.DataArray(
            np.exp(log_deaths), name="us_deaths_reported",
            dims=("chain", "draw", "drug", "year"),
            coords={"chain": self.posterior.chain.values, "draw": self.posterior.draw.values,
                    "drug": list(US_DRUGS), "year": us.years})

    # ---- summaries ---------------------------------------------------------------------
    def summary(self, level: str | None = None) -> pd.DataFrame:
        """Deaths and rates per 100,000 with 95% intervals, for one level or all of them.

        Columns: location_id, location_name, location_level, year, measure, mean, lower,
        upper, definition (``gbd_use_disorder``: GBD deaths due to opioid use disorders),
        projected (after the last GBD data year; in the US after the last certified count
        the fit reads). Rates are missing for countries without a population (Taiwan).
        """
        levels = LEVELS if level is None else (level,)
        frames = []
        for lev in levels:
            names = dict(zip(*self._groups(lev)[:2]))
            for measure, draws in (("deaths", self.deaths_draws(lev)),
                                   ("rate_per_100k", self.rate_draws(lev))):
                with warnings.catch_warnings():  # TWN has no rate: all-NaN draws
                    warnings.simplefilter("ignore", RuntimeWarning)
                    table = interval_summary(draws.drop_vars("location_name", errors="ignore"))
                table = table.rename(columns={"location": "location_id"})
                table.insert(1, "location_name", table["location_id"].map(names))
                table.insert(2, "location_level", lev)
                table.insert(4, "measure", measure)
                frames.append(table)
        table = pd.concat(frames, ignore_index=True)
        table["definition"] = GBD_DEFINITION
        table["projected"] = self._projected(table)
        return self.validated(table)

    def _projected(self, table: pd.DataFrame) -> pd.Series:
        """Whether no data inform a row's year: after GBD's last data year, and in the US
        (the country) after the last certified count the fit reads, which carry its curve
        past GBD's (docs/models/deaths.md, "After GBD's last data year")."""
        inp = self.inputs()
        projected = table["year"] > inp.last_data_year
        if inp.us is not None:
            us = (table["location_id"] == "USA") & (table["location_level"] == "country")
            certified_to = int(inp.us.years[inp.us.cert_last])
            projected = projected.where(~us, table["year"] > certified_to)
        return projected

    def summary_text(self) -> str:
        """A short plain-text summary: world deaths and convergence."""
        inp = self.inputs()
        world = self.summary("world")
        deaths = world[world["measure"] == "deaths"].set_index("year")
        lines = [(f"Opioid deaths (GBD definition), {len(inp.countries)} countries, "
                  f"data {inp.years[0]}-{inp.last_data_year}, forecast to {inp.years[-1]}:")]
        for year in (inp.last_data_year, int(inp.years[-1])):
            r = deaths.loc[year]
            lines.append(f"  world {year}: {r['mean']:,.0f} (95% {r['lower']:,.0f}-"
                         f"{r['upper']:,.0f})")
        conv = json.loads(self.idata.attrs.get("convergence", "{}")) or self.convergence_report()
        lines.append(
            f"  convergence: max R-hat {conv['r_hat_max']:.3f}, min bulk ESS "
            f"{conv['ess_bulk_min']:.0f}, {conv['divergences']} divergences -> "
            + ("OK" if conv["converged"] else "NOT CONVERGED: do not use"))
        return "\n".join(lines)

    # ---- diagnostics of the reported quantities ----------------------------------------
    def derived_draws(self) -> dict[str, xr.DataArray]:
        """Every reported quantity, for convergence checks."""
        out = {f"deaths_{lev}": self.deaths_draws(lev).drop_vars("location_name",
                                                                 errors="ignore")
               for lev in LEVELS}
        if self.inputs().us is not None:
            out["us_deaths_reported"] = self.us_drug_deaths_draws()
        return out

    def diagnostic_arrays(self) -> dict[str, xr.DataArray]:
        """Parameters and every reported (derived) quantity: regional sums, rates, US drugs."""
        return {**super().diagnostic_arrays(), **self.derived_draws()}

    @classmethod
    def load(cls, path: str | Path) -> OpioidDeaths:
        est = super().load(path)
        est._inputs = None
        est._cache = {}
        return est


#: a US ratio coefficient whose B-spline weighs less than this on every GBD year is walked
#: afresh by the drift (``OpioidDeaths._us_ratio_drift``)
DRIFT_WEIGHT = 0.01


def _drift_start(us) -> int:
    """First definition-ratio coefficient the drift walks afresh: the first whose B-spline
    weighs under ``DRIFT_WEIGHT`` on every year through GBD's last (on the real data
    coefficient 10 of 12, weight 0.002 in 2019, which the model samples from its prior
    alone; walking from 11 only, the drift was 0 in 2020-2021, found by a review,
    2026-12-07), at least 1."""
    weight = us.basis[:us.ratio_last + 1].max(axis=0)
    start = len(weight)
    while start > 1 and weight[start - 1] < DRIFT_WEIGHT:
        start -= 1
    return start


def _apply_groups(member: np.ndarray, country: np.ndarray) -> np.ndarray:
    """Sums over countries, ``member`` (group, country) applied to (..., country, year)
    draws as one GEMM (np.einsum took 0.7 s a call on the deaths fit's draws)."""
    moved = np.moveaxis(country, -2, 0)  # country, ..., year
    out = member @ moved.reshape(moved.shape[0], -1)
    return np.moveaxis(out.reshape(member.shape[0], *moved.shape[1:]), 0, -2)
