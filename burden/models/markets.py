"""MarketShares: where each destination market's opiates come from, by source country and year.

Two kinds of market:

- **United States** (``USA``): fitted to the DEA Heroin Signature Program shares
  (``signature_shares``). Latent shares of four source regions (Mexico, South America,
  Southwest Asia, Southeast Asia) follow a random walk on the log-ratio (softmax) scale, so
  they drift between the few published years and widen where there are none. The walk is
  sampled centred where a published number pins it and non-centred elsewhere
  (``MarketsConfig.walk``, ``walk_design``; the same prior either way). The walk is the
  composition of the HSP's seizure sample; the market's is the sample's shifted by a design
  bias (an assumption-only prior). Each year's published figures are one joint Dirichlet
  observation, however many publications printed them (``markets_data``), taken as
  printed: whole percent, each figure standing for its rounding cell
  (``printed_dirichlet``); bounds stated in words ("less than 5 percent") are censored
  observations.
- **Other markets**: route priors (``ROUTE_PRIORS``, cited): a market draws a share ``w`` from
  its main source region(s) (``w ~ Beta``; "mostly" read as a mean of 0.8, an assumption the
  user can change) and the rest from all other sources in proportion to their production.
  Markets with no cited route draw from world production in proportion (an assumption too).
  Every such number is flagged ``prior_driven`` in ``summary()``.

Within a region, a share is split between its countries by their modelled production, draw
by draw (Southwest Asia: Afghanistan and Pakistan; Southeast Asia: Myanmar, Lao PDR and
Thailand). Production draws come from a fitted ``OpiumProduction`` and are stored in the
saved file, resampled with a fixed seed when the two fits have different numbers of draws.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, replace
from itertools import pairwise
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from burden import result_schemas
from burden.draws import interval_summary, resample_draws
from burden.errors import ConfigError
from burden.models import markets_data, printed_dirichlet
from burden.models.base import BayesianEstimator
from burden.models.batched import prior_draws
from burden.models.config import Config, Prior, SamplerConfig, prior, setting
from burden.models.deaths_graph import contrast_basis
from burden.models.markets_data import YearComposition, basis_of  # noqa: F401 (re-export)
from burden.models.production import SOURCES, YEARS, OpiumProduction
from burden.registry.markets import (
    ROUTE_PRIORS,
    SOURCE_REGIONS,
    US_MARKET,
    US_REGIONS,
    RoutePrior,
    region_of,
)


# ---- signature data: burden.models.markets_data --------------------------------------
def prepare_signature(table: pd.DataFrame, years: tuple[int, int] = YEARS):
    """Signature rows -> (one ``YearComposition`` per year with data, usage of every row);
    see ``burden.models.markets_data``."""
    return markets_data.prepare_signature(table, years)


@dataclass(frozen=True)
class MarketsPriors(Config):
    """Priors of the US market-share walk (``MarketShares``)."""

    initial_logit: Prior = prior(
        "ZeroSumNormal", "log-ratios of the four HSP regions in the first year (sum to "
        "zero): sd 1.5 leaves the 1998 composition open, any region from a few % to ~95%",
        sigma=1.5)
    rw_sigma: Prior = prior(
        "LogNormal", "yearly random-walk scale of the log-ratios, median 0.3, 95% 0.11-0.8: "
        "the US composition changed by tens of points within a few years (Southeast Asia "
        "68% in 1993 and 5% in 1997, DEA HSP 1999 brief)", mu=float(np.log(0.3)), sigma=0.5)
    concentration: Prior = prior(
        "LogNormal", "Dirichlet concentration of a year's published composition (an "
        "effective number of independent samples, sampling error and the seizure sample's "
        "clustering together): median 100, 95% 14-700. An assumption: the HSP 1999 brief "
        "gives ~480 kg analysed, not a sample count, and later years give no size",
        mu=float(np.log(100.0)), sigma=1.0)
    design_bias: Prior = prior(
        "ZeroSumNormal", "log-ratio bias of the seizure-based HSP sample against the US "
        "heroin supply, per region, constant over years (sums to zero): GAO found the HSP "
        "sample not representative of the US supply (mostly federal seizures at ports of "
        "entry, few state and local samples; GAO-02-416, March 2002; GAO-01-237R, January "
        "2001) without sizing it, so sd 0.5 (a region's share off by up to a factor ~2.7 "
        "at 2 sd) is an assumption. The data cannot learn it: it only widens the market "
        "shares", sigma=0.5)


@dataclass(frozen=True)
class MarketsConfig(Config):
    """Settings of ``MarketShares``."""

    years: tuple[int, int] = setting(YEARS, "first and last modelled year")
    fixed_concentration: float | None = setting(
        None, "a fixed Dirichlet concentration instead of its prior (used in small test "
              "fits)")
    design_bias: bool = setting(
        True, "shift the HSP sample's composition by a seizure-sample design bias to get "
              "the market's (False: the HSP composition is the market's)")
    prior_driven_width_ratio: float = setting(
        0.5, "a US share is prior-driven where its posterior 95% width is at least this "
             "fraction of its prior's")
    walk: str = setting(
        "anchored", "parameterisation of the log-ratio walk (same prior either way): "
                    "'anchored' samples the log-ratios of the years with data directly "
                    "(centred) and the years between and after them as sigma x N(0, 1) "
                    "bridges (non-centred); 'noncentred' samples every step as sigma x "
                    "N(0, 1) (version 3). docs/models/shares.md compares them")
    route_overrides: tuple[tuple[str, tuple[tuple[str, float], ...]], ...] = setting(
        (), "route-prior changes, e.g. {'Africa': {'main_share_mean': 0.6}} (given as a "
            "dict; stored as sorted pairs)")
    priors: MarketsPriors = MarketsPriors()

    @classmethod
    def merge(cls, overrides=None, base=None):
        if isinstance(overrides, dict) and isinstance(overrides.get("route_overrides"),
                                                      dict):
            routes = overrides["route_overrides"]
            for market, change in routes.items():
                if market not in ROUTE_PRIORS:
                    raise ConfigError(f"MarketsConfig.route_overrides: no route prior for "
                                      f"{market!r}; known: {', '.join(ROUTE_PRIORS)}")
                bad = sorted(set(change) - {"main_share_mean", "concentration"})
                if bad:
                    raise ConfigError(f"MarketsConfig.route_overrides[{market!r}]: unknown "
                                      f"keys {bad}; valid: main_share_mean, concentration")
            overrides = {**overrides, "route_overrides": tuple(
                (m, tuple(sorted((k, float(v)) for k, v in c.items())))
                for m, c in sorted(routes.items()))}
        return super().merge(overrides, base)

    def route_change(self, market: str) -> dict[str, float]:
        return dict(dict(self.route_overrides).get(market, ()))


@dataclass(frozen=True)
class WalkDesign:
    """Constant matrices of the anchored walk over ``n`` years (positions 0..n-1).

    ``anchors``: positions sampled directly (the first year, then every year with data);
    ``gaps[i]``: years from ``anchors[i]`` to ``anchors[i + 1]``; ``free``: the other
    positions, each ``interp @ anchor levels + sigma * bridge @ z`` with ``z`` iid N(0, 1):
    between two anchors a Brownian bridge (Cholesky factor of its covariance
    min(i, j) - i j / k), after the last anchor a forward walk (cumulative sums)."""

    anchors: np.ndarray
    gaps: np.ndarray
    free: np.ndarray
    interp: np.ndarray
    bridge: np.ndarray

    @property
    def order(self) -> np.ndarray:
        """Index that puts ``concat(anchor levels, free levels)`` back in year order."""
        return np.argsort(np.concatenate([self.anchors, self.free]), kind="stable")


def walk_design(n: int, measured) -> WalkDesign:
    anchors = np.array(sorted({0, *(int(i) for i in measured if 0 <= int(i) < n)}))
    free = np.array([i for i in range(n) if i not in set(anchors)], dtype=int)
    interp = np.zeros((len(free), len(anchors)))
    bridge = np.zeros((len(free), len(free)))
    row = 0
    segments = [*pairwise(anchors), (anchors[-1], None)]
    for j, (a, b) in enumerate(segments):
        inner = (np.arange(a + 1, b) if b is not None else np.arange(a + 1, n)) - a
        m = len(inner)
        if m == 0:
            continue
        block = slice(row, row + m)
        if b is None:  # after the last anchor: a walk forward from it
            interp[block, j] = 1.0
            bridge[block, block] = np.tril(np.ones((m, m)))
        else:  # between anchors: linear interpolation + a Brownian bridge
            k = b - a
            interp[block, j] = 1.0 - inner / k
            interp[block, j + 1] = inner / k
            cov = np.minimum.outer(inner, inner) - np.outer(inner, inner) / k
            bridge[block, block] = np.linalg.cholesky(cov)
        row += m
    return WalkDesign(anchors, np.diff(anchors), free, interp, bridge)


def _centred_walk(start, scale, size):
    """Levels of a walk from ``start`` with Normal(0, scale) steps: PyMC derives the
    density of the cumulative sum, so the levels themselves are the free variable."""
    return start + pt.cumsum(pm.Normal.dist(0.0, scale, size=size), axis=0)


class MarketShares(BayesianEstimator):
    """US heroin market shares fitted to HSP data; other markets from cited route priors."""

    _model_type = "market_shares"
    # 2: typed configs; 3: bounds as pm.Censored, not Potentials; 4: anchored walk;
    # 5: one joint Dirichlet composition per HSP year, seizure-sample design bias;
    # 6: the composition observed as printed, in whole percent (printed_dirichlet)
    _model_version = "6"
    data_tables = ("signature_shares",)
    config_class = MarketsConfig
    # target_accept 0.99, tune 1,000, 2,000 draws. Version 5 (2026-11-30, seeds 1-4, 4 x
    # 1,000 draws): at 0.9, 1-5 divergences on every seed; at 0.99, none, and the
    # concentration, the slowest quantity, reached bulk ESS 500-630 (with 750 draws
    # 412-505). 2,000 draws since 2026-12-05: at 1,000 its bulk ESS was 584-921 over 12
    # seeds; a quantity that mixes perfectly well with an ESS of 580-710 has R-hat above
    # 1.01 in 6-14% of fits by chance alone (`python analysis/rhat_tail.py`), and 1 of 24
    # fits missed (the default seed with the CPU's own numerics, R-hat 1.0116); at 2,000,
    # ESS 1,276-1,617 and R-hat at most 1.004 on 12 seeds (`python
    # analysis/convergence_over_seeds.py markets ...`). docs/models/shares.md, "Draws:
    # 2,000 a chain"
    default_sampler = SamplerConfig(draws=2000, tune=1000, chains=4, target_accept=0.99,
                                    mass_matrix="low_rank")
    refused_samplers: ClassVar[dict[str, str]] = {"numpyro": (
        "PyTensor's JAX backend has no gradient of the incomplete beta function (the printed "
        "compositions' likelihood) with respect to its parameters: numpyro stops with "
        "\"Betainc gradient with respect to a and b not supported\" (`python "
        "analysis/numpyro_fits.py markets`, 2026-12-03; docs/performance.md, \"numpyro "
        "(JAX)\")")}
    summary_schema = result_schemas.MARKET_SUMMARY

    def __init__(self, model_config: dict | MarketsConfig | None = None,
                 sampler_config: dict | SamplerConfig | None = None,
                 production: OpiumProduction | None = None):
        super().__init__(model_config, sampler_config)
        self.production = production

    @property
    def years(self) -> np.ndarray:
        first, last = self.model_config.years
        return np.arange(int(first), int(last) + 1)

    def signature(self, data: dict[str, pd.DataFrame] | None = None):
        first, last = self.model_config.years
        return prepare_signature((data or self.data)["signature_shares"],
                                 (int(first), int(last)))

    def measurement_usage(self) -> pd.DataFrame:
        return self.signature()[1]

    def build_model(self, data: dict[str, pd.DataFrame]) -> pm.Model:
        """The US model. The walk is the composition of the HSP sample, what the
        publications measure; the market's composition is the sample's shifted by the
        design bias (``MarketsConfig.design_bias``). Each year with published figures is
        one joint observation (``markets_data``). Observed values are ``pm.Data``
        (``<variable>_data``), so a compiled model takes simulated values of the same
        design without compiling again (``nutpie``'s ``with_data``; the recovery test)."""
        cfg = self.model_config
        comps, _ = self.signature(data)
        years = self.years
        first = int(years[0])
        coords = {"region": list(US_REGIONS), "year": years.tolist()}
        with pm.Model(coords=coords) as model:
            # log-ratios that sum to zero over regions (no reference region: a reference
            # whose share nears zero, as Southeast Asia's did, made a ridge)
            initial = cfg.priors.initial_logit.create("initial_logit", dims="region")
            rw_sigma = cfg.priors.rw_sigma.create("rw_sigma")
            logit = self._walk(model, initial, rw_sigma, comps)
            sample = pt.special.softmax(logit, axis=1)  # (year, region): the HSP sample
            if cfg.design_bias:
                # sampled apart from the walk: the data see only the sample, so the bias
                # stays independent of it in the posterior (no ridge)
                bias = cfg.priors.design_bias.create("design_bias", dims="region")
                market = pt.special.softmax(logit - bias[None, :], axis=1)
            else:
                market = sample
            pm.Deterministic("us_share", market.T, dims=("region", "year"))
            if cfg.fixed_concentration is None:
                kappa = cfg.priors.concentration.create("concentration")
            else:
                kappa = pt.as_tensor(float(cfg.fixed_concentration))
            # a year's published composition (the regions with a point figure and the
            # unreported rest as one part) ~ Dirichlet(kappa x the sample's shares of the
            # same parts), the proportions of a Dirichlet-multinomial, observed as printed:
            # rounded to whole percent (``printed_dirichlet``)
            for k, g in markets_data.dirichlet_groups(comps, first).items():
                parts = (pt.as_tensor(g["agg"]) * sample[g["year"]][:, None, :]).sum(-1)
                name = f"obs_composition_{k}"
                pm.CustomDist(name, kappa * pt.clip(parts, 1e-9, 1.0),
                              pt.as_tensor(g["half"]), logp=printed_dirichlet.logp,
                              random=printed_dirichlet.random,
                              signature="(k),(k)->(k)",
                              observed=pm.Data(f"{name}_data", g["printed"]))
            # bounds stated in words: the region's share is censored at the bound,
            # measured with the Dirichlet's marginal sd plus one point (whole-percent
            # rounding; without it the bound became a wall as the share neared zero).
            # "upper" (share below the bound) is censored from below at the bound: its
            # likelihood is P(measured <= bound); "lower" the mirror. Observed Censored
            # variables, not Potentials, so predictive draws and LOO-PIT include them. A
            # bound's dependence on the same year's points is ignored (it enters alone).
            for side, bd in markets_data.bound_arrays(comps, first).items():
                mu = sample[bd["year"], bd["region"]]
                sd = pt.sqrt(mu * (1 - mu) / (kappa + 1) + 0.01**2)
                name = f"obs_{side}_bound"
                limits = ({"lower": bd["value"], "upper": None} if side == "upper"
                          else {"lower": None, "upper": bd["value"]})
                pm.Censored(name, pm.Normal.dist(mu, sd), **limits,
                            observed=pm.Data(f"{name}_data", bd["value"]))
        return model

    def _walk(self, model: pm.Model, initial, rw_sigma, comps: list[YearComposition]):
        """Log-ratios (year, region) of the walk from ``initial`` with yearly step
        ZeroSumNormal(rw_sigma), in the parameterisation ``model_config.walk``."""
        years = self.years
        if self.model_config.walk == "noncentred":
            model.add_coord("step", years[1:].tolist())
            innov = pm.ZeroSumNormal("innovation", 1.0, dims=("step", "region"))
            steps = pt.cumsum(rw_sigma * innov, axis=0)
            return pt.concatenate([initial[None, :], initial[None, :] + steps], axis=0)
        if self.model_config.walk != "anchored":
            raise ConfigError(f"MarketsConfig.walk must be 'anchored' or 'noncentred', "
                              f"not {self.model_config.walk!r}")
        # ZeroSumNormal(s) over the regions = H x with x iid Normal(0, s) in the contrast
        # basis H (orthonormal, sums to zero; coordinate k contrasts region k + 1 with the
        # regions before it): the walk runs on each coordinate of x apart
        basis = contrast_basis(len(US_REGIONS))
        pinned = markets_data.pinned(comps, int(years[0]), len(years))
        start = pt.dot(initial, basis)
        columns = []
        for k in range(basis.shape[1]):
            name = f"c{k + 1}"
            design = walk_design(len(years), np.flatnonzero(pinned[:, k]))
            levels = start[k][None]
            if len(design.anchors) > 1:
                model.add_coord(f"anchor_year_{name}", years[design.anchors[1:]].tolist())
                scale = rw_sigma * pt.as_tensor(np.sqrt(design.gaps.astype(float)))
                anchored = pm.CustomDist(f"anchor_level_{name}", start[k], scale,
                                         dist=_centred_walk, dims=f"anchor_year_{name}")
                levels = pt.concatenate([levels, anchored])
            if len(design.free):
                model.add_coord(f"free_year_{name}", years[design.free].tolist())
                z = pm.Normal(f"bridge_{name}", 0.0, 1.0, dims=f"free_year_{name}")
                free = (pt.dot(pt.as_tensor(design.interp), levels)
                        + rw_sigma * pt.dot(pt.as_tensor(design.bridge), z))
                levels = pt.concatenate([levels, free])[design.order]
            columns.append(levels)
        return pt.dot(pt.stack(columns, axis=1), basis.T)

    def pinned(self, comps: list[YearComposition]) -> np.ndarray:
        """(year, contrast coordinate) True where the walk is sampled centred
        (``markets_data.pinned``)."""
        return markets_data.pinned(comps, int(self.years[0]), len(self.years))

    def diagnostic_vars(self) -> list[str]:
        names = ["initial_logit", "rw_sigma", "innovation",
                 *[n for n in self.posterior.data_vars
                   if n.startswith(("anchor_level", "bridge"))], "concentration",
                 "design_bias"]
        return [n for n in names if n in self.posterior]

    # ---- fit: also keep the prior of the US shares and the production shares ----------
    def fit(self, data: dict[str, pd.DataFrame], *, progressbar: bool | None = None,
            input_hashes: dict[str, str] | None = None,
            sampler_config: dict | SamplerConfig | None = None) -> xr.DataTree:
        if self.production is None:
            raise ValueError("MarketShares needs a fitted OpiumProduction: "
                             "MarketShares(production=...)")
        super().fit(data, progressbar=progressbar, input_hashes=input_hashes,
                    sampler_config=sampler_config)
        seed = self.fit_sampler_config.random_seed
        prior = prior_draws(self.model, 1000, var_names=["us_share"], random_seed=seed)
        self._idata["prior"] = xr.DataTree(dataset=prior["prior"].to_dataset())
        post = self.posterior
        shares = resample_draws(self.production.share_draws(), post.sizes["chain"],
                                post.sizes["draw"], seed)
        self._idata["production"] = xr.DataTree(dataset=xr.Dataset(
            {"production_share": shares.rename("production_share")}))
        self._idata.attrs["production_input_hashes"] = json.dumps(
            self.production.input_hashes)
        return self._idata

    # ---- route priors -------------------------------------------------------------------
    def route_prior(self, market: str) -> RoutePrior | None:
        route = ROUTE_PRIORS.get(market)
        override = self.model_config.route_change(market)
        if route is not None and override:
            route = replace(route, **override)
        return route

    def assumptions(self) -> pd.DataFrame:
        """Every route prior in use: main regions, Beta prior, its 95% interval, citation."""
        from scipy import stats

        rows = []
        for market in ROUTE_PRIORS:
            r = self.route_prior(market)
            a, b = r.beta()
            rows.append({"market": market, "main_regions": "+".join(r.main),
                         "main_share_mean": r.main_share_mean,
                         "concentration": r.concentration,
                         "prior_lower": float(stats.beta.ppf(0.025, a, b)),
                         "prior_upper": float(stats.beta.ppf(0.975, a, b)),
                         "statement": r.statement, "citation": r.citation, "url": r.url})
        return pd.DataFrame(rows)

    # ---- draws --------------------------------------------------------------------------
    def production_share_draws(self) -> xr.DataArray:
        return self.idata["production"].to_dataset()["production_share"]

    def _route_weights(self, market: str, shape: tuple[int, int]) -> np.ndarray | None:
        """Draws of the share ``market`` takes from its main regions (None: no route)."""
        route = self.route_prior(market)
        if route is None:
            return None
        seed = self.fit_sampler_config.random_seed + zlib.crc32(market.encode())
        a, b = route.beta()
        return np.random.default_rng(seed).beta(a, b, size=shape)

    def _region_arrays(self, markets: list[str]) -> tuple[np.ndarray, np.ndarray, xr.DataArray]:
        """(market, chain, draw, source_region, year) shares by region, the production
        shares (chain, draw, source, year) in ``SOURCES`` order, and the latter as an
        array with coordinates. One pass over the production draws for every market."""
        prod = self.production_share_draws().transpose("chain", "draw", "source", "year")
        prod = prod.sel(source=list(SOURCES))
        p = np.asarray(prod.values, dtype=float)
        regions = list(SOURCE_REGIONS)
        member = np.array([[float(src in SOURCE_REGIONS[r]) for src in SOURCES]
                           for r in regions])
        by_region = np.einsum("rs,cdsy->cdry", member, p)
        out = np.empty((len(markets), *by_region.shape))
        for k, market in enumerate(markets):
            if market == US_MARKET:
                us = self.posterior["us_share"].transpose("chain", "draw", "region", "year")
                if not np.array_equal(us["year"].values, prod["year"].values):
                    raise ValueError(
                        f"MarketShares: the US fit's years ({int(us.year[0])}-"
                        f"{int(us.year[-1])}) are not the production draws' "
                        f"({int(prod.year[0])}-{int(prod.year[-1])}): fit both on the same "
                        "years (MarketsConfig.years)")
                out[k] = 0.0
                for j, region in enumerate(us["region"].values.tolist()):
                    out[k, :, :, regions.index(region)] = us.values[:, :, j]
                continue
            w = self._route_weights(market, by_region.shape[:2])
            if w is None:  # no cited route: world production in proportion
                out[k] = by_region
                continue
            main = np.isin(regions, list(self.route_prior(market).main))
            main_total = by_region[:, :, main].sum(axis=2, keepdims=True)
            rest_total = by_region[:, :, ~main].sum(axis=2, keepdims=True)
            w = w[:, :, None, None]
            out[k] = np.where(main[None, None, :, None], w * by_region / main_total,
                              (1 - w) * by_region / rest_total)
        return out, p, prod

    def region_share_draws(self, market: str) -> xr.DataArray:
        """Shares of ``market`` by source region (chain, draw, source_region, year)."""
        arr, _, prod = self._region_arrays([market])
        return xr.DataArray(arr[0], dims=("chain", "draw", "source_region", "year"),
                            coords={"chain": prod["chain"].values,
                                    "draw": prod["draw"].values,
                                    "source_region": list(SOURCE_REGIONS),
                                    "year": prod["year"].values})

    def share_draws(self, market: str) -> xr.DataArray:
        """Shares of ``market`` by source country (chain, draw, source, year); sum to 1."""
        return self.all_share_draws([market]).isel(market=0, drop=True).rename("share")

    def markets(self) -> list[str]:
        return [US_MARKET, *ROUTE_PRIORS]

    def all_share_draws(self, markets: list[str] | None = None) -> xr.DataArray:
        """Shares of every market, dims (chain, draw, market, source, year): a region's
        share split between its countries by their modelled production, draw by draw."""
        markets = list(markets or self.markets())
        regions, p, prod = self._region_arrays(markets)
        region_of_source = [list(SOURCE_REGIONS).index(region_of(src)) for src in SOURCES]
        member = np.array([[float(region_of(src) == r) for src in SOURCES]
                           for r in SOURCE_REGIONS])
        within = p / np.einsum("rs,cdry->cdsy", member, np.einsum("rs,cdsy->cdry", member, p))
        share = regions[:, :, :, region_of_source, :] * within[None]
        return xr.DataArray(
            share.transpose(1, 2, 0, 3, 4), name="share",
            dims=("chain", "draw", "market", "source", "year"),
            coords={"chain": prod["chain"].values, "draw": prod["draw"].values,
                    "market": markets, "source": list(SOURCES),
                    "year": prod["year"].values})

    def us_prior_driven(self) -> xr.DataArray:
        """(source_region, year) True where the US posterior interval is at least
        ``prior_driven_width_ratio`` of the prior interval: the data say little there."""
        def width(da):
            q = da.quantile([0.025, 0.975], dim=("chain", "draw"))
            return q.sel(quantile=0.975) - q.sel(quantile=0.025)

        post = width(self.posterior["us_share"])
        prior = width(self.idata["prior"].to_dataset()["us_share"])
        ratio = self.model_config.prior_driven_width_ratio
        return (post >= ratio * prior).rename(region="source_region").drop_vars(
            "quantile", errors="ignore")

    def summary(self, by: str = "source", markets: list[str] | None = None) -> pd.DataFrame:
        """market, source (or source_region), year, mean, lower, upper, prior_driven."""
        if by not in ("source", "source_region"):
            raise ValueError("by must be 'source' or 'source_region'")
        us_flag = self.us_prior_driven()
        frames = []
        for market in markets or self.markets():
            draws = (self.share_draws(market) if by == "source"
                     else self.region_share_draws(market))
            frame = interval_summary(draws.rename("share"))
            frame.insert(0, "market", market)
            if market == US_MARKET:
                keys = (frame[by] if by == "source_region" else frame["source"].map(region_of))
                flags = us_flag.reindex(source_region=list(SOURCE_REGIONS), fill_value=False)
                lookup = flags.to_series()
                frame["prior_driven"] = [bool(lookup.get((k, y), False))
                                         for k, y in zip(keys, frame["year"])]
            else:
                frame["prior_driven"] = True
            frames.append(frame)
        return self.validated(pd.concat(frames, ignore_index=True)[
            ["market", by, "year", "mean", "lower", "upper", "prior_driven"]])

    def summary_text(self, years: tuple[int, ...] = (1999, 2015, 2017)) -> str:
        table = self.summary("source_region", markets=[US_MARKET])
        lines = ["US heroin market by source region (DEA HSP fit), mean [95% interval]"]
        for year in years:
            sub = table[table.year == year].sort_values("mean", ascending=False)
            parts = [f"{r.source_region} {100 * r.mean:.0f}% [{100 * r.lower:.0f}-"
                     f"{100 * r.upper:.0f}]{' (prior-driven)' if r.prior_driven else ''}"
                     for r in sub.itertuples() if r.mean > 0.005]
            lines.append(f"{year}: " + "; ".join(parts))
        lines.append("Other markets: route priors (assumptions), main source share ~ Beta:")
        for r in self.assumptions().itertuples():
            lines.append(f"  {r.market}: {r.main_regions} {r.main_share_mean:.0%} "
                         f"[{r.prior_lower:.0%}-{r.prior_upper:.0%}] ({r.citation[:40]}...)")
        return "\n".join(lines)

    def target_draws(self) -> xr.DataArray:
        """Shares (chain, draw, market, source, year) of every market; sum to 1 over
        source."""
        return self.all_share_draws().rename("share")

    @classmethod
    def load(cls, path: str | Path) -> MarketShares:
        est = super().load(path)
        est.production = None  # the production shares travel inside the file
        return est
