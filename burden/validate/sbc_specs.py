"""The models' designs for simulation-based calibration (``burden validate sbc``): what a
worker needs to build, compile and fit one model (``SBCSpec``, picklable, no files), each
model's reduced design (fewer countries, sources or years of the real data's measurement
pattern; docs/validation/sbc.md, "Reduced designs") and ``spec_for``, the spec of a model by
name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr


@dataclass(frozen=True)
class SBCSpec:
    """What a worker needs to build, compile and fit one model: picklable, no files."""

    model: str
    module: str
    cls: str
    model_config: dict
    tables: dict[str, pd.DataFrame]
    #: the real fit's sampler settings (``default_sampler``), so that the runs calibrate
    #: the fit as it ships, its convergence included; the deaths model's reduced design
    #: draws fewer (``DEATHS_SBC_DRAWS``)
    sampler: dict
    reduction: str
    #: names of posterior quantities ranked besides the free random variables
    extra: tuple[str, ...] = ()
    #: free variables not ranked: auxiliary variables whose definition depends on the data
    #: (the composition model's data-centred z = (x - a) / b, a and b computed from the
    #: data), so a prior draw's value, made with the real data's a and b, and a fit's,
    #: made with the simulated data's, are different quantities; the quantities they define
    #: are ranked instead (``extra``)
    unranked: tuple[str, ...] = ()
    #: derived quantities, e.g. world production: name -> function of a Dataset
    derived: tuple[tuple[str, Callable[[xr.Dataset], xr.DataArray]], ...] = field(
        default=())
    #: the sampler's starting values of some variables from a simulation's data, as the
    #: model's real fit starts from the real data: (spec, data) -> {free RV name: value}
    initial_points: Callable[[SBCSpec, dict[str, np.ndarray]], dict[str, np.ndarray]] | None = (
        None)
    #: posterior SBC (``posterior_sbc``): every observed variable gets a replicate, so a
    #: fit sees the real data and a simulated second copy; a tuple of observed variables'
    #: names replicates only those (a diagnosis: which data a miscalibration needs)
    replicated: bool | tuple[str, ...] = False

    @property
    def key(self) -> str:
        from burden.models.base import frame_hash

        parts = [self.model, self.module, self.cls, repr(sorted(self.model_config.items()))]
        if self.replicated is True:
            parts += ["replicated"]
        elif self.replicated:
            parts += ["replicated:" + ",".join(sorted(self.replicated))]
        parts += [f"{k}:{frame_hash(v)}" for k, v in sorted(self.tables.items())]
        return "|".join(parts)

    def estimator(self):
        import importlib

        cls = getattr(importlib.import_module(self.module), self.cls)
        return cls(self.model_config, self.sampler)

    def build(self):
        est = self.estimator()
        model = est.build_model(est.prepare_data(self.tables))
        if self.replicated:
            from burden.validate.posterior_sbc import with_replicated_observations

            return with_replicated_observations(
                model, None if self.replicated is True else self.replicated)
        return model


# ---- the models' reduced designs -----------------------------------------------------------
#: production: the sources and years of the reduced design (real measurement pattern kept)
PRODUCTION_SOURCES = ("AFG", "MMR", "MEX", "ROW")
PRODUCTION_YEARS = (2005, 2014)


def _world(ds: xr.Dataset) -> xr.DataArray:
    return ds["production_t"].sum("source")


def production_spec() -> SBCSpec:
    """The production model on the real published-figure table restricted to Afghanistan,
    Myanmar, Mexico and the rest of the world, 2005-2014."""
    from burden.data.cleaning import CleaningLog
    from burden.data.loaders import reference
    from burden.models.production import OpiumProduction
    from burden.registry import published

    src = published.REFERENCE_SOURCES["reference_opium_production"]
    table = reference.load(src.path, CleaningLog(src.id, str(src.path)), src.id)
    config = {"sources": list(PRODUCTION_SOURCES), "years": list(PRODUCTION_YEARS)}
    reduction = (
        "sources AFG, MMR, MEX and ROW (of 11), years 2005-2014 (of 1998-2024); the "
        "measurement design of the real published table in those cells is kept: which "
        "source is measured in which year by which kind (production, area, yield, shares, "
        "world totals), UNODC vs US-government rows, recalled ('memory') rows, published "
        "ranges (their widths set extra error), the censored bound, republications counted "
        "once, and so the centred/non-centred split and the Student-t steps that the design "
        "implies; world rows become the sum of the four modelled sources")
    return SBCSpec(model="production", module=OpiumProduction.__module__,
                   cls=OpiumProduction.__name__, model_config=config,
                   tables={"production_measurements": table},
                   sampler=OpiumProduction.default_sampler.to_dict(), reduction=reduction,
                   extra=("production_t",), derived=(("world_production_t", _world),))


#: certified: the first modelled year of the reduced design
CERTIFIED_FIRST_YEAR = 2013


def certified_spec(tables: dict[str, pd.DataFrame] | None = None) -> SBCSpec:
    """The certified-deaths model on the real processed tables (``tables``, default the
    project's) from 2013 (of 1999) to 2025: every series, source and kind of row of those
    years."""
    from burden.fits import read_tables
    from burden.models.certified import CertifiedDeaths

    tables = tables or read_tables(CertifiedDeaths.data_tables)
    reduction = (
        f"years {CERTIFIED_FIRST_YEAR}-2025 (of 1999-2025), every series (US any opioid and "
        "the four drug shares, Canada); the real design of those years is kept: final NCHS "
        "counts to 2019 overlapping VSRR provisional counts from 2015 (the VSRR bias), "
        "12-month windows, underreported recent months as censored lower bounds with the "
        "publisher's nowcasts (their cv from the real adjustments), PHAC's partial 2025; "
        "the sampler starts each walk at levels computed from the simulated counts, as the "
        "real fit starts at the real ones")
    return SBCSpec(model="certified", module=CertifiedDeaths.__module__,
                   cls=CertifiedDeaths.__name__,
                   model_config={"first_year": CERTIFIED_FIRST_YEAR}, tables=tables,
                   sampler=CertifiedDeaths.default_sampler.to_dict(), reduction=reduction,
                   extra=("deaths",), initial_points=certified_initial_points)


def certified_initial_points(spec: SBCSpec, data: dict[str, np.ndarray]
                             ) -> dict[str, np.ndarray]:
    """Starting levels of the certified walks from a simulation's counts
    (``certified_data.initial_levels`` on the simulated rows; counts below 1 count as 1,
    for a finite log)."""
    import dataclasses

    from burden.models import certified_data
    from burden.models.certified import row_values

    est = spec.estimator()
    inp = est.inputs(est.prepare_data(spec.tables))
    obs = inp.obs.copy()
    obs["value"] = np.maximum(row_values(obs, data), 1.0)
    levels = certified_data.initial_levels(dataclasses.replace(inp, obs=obs))
    return {f"trend_{s.replace(':', '_')}": level for s, level in levels.items()}


def markets_spec() -> SBCSpec:
    """The US market-share model on the packaged heroin-signature table: the full model
    (1998-2024, four regions), no reduction needed (it samples in seconds)."""
    from burden.data.cleaning import CleaningLog
    from burden.data.loaders import reference
    from burden.models.markets import MarketShares
    from burden.registry import published

    src = published.REFERENCE_SOURCES["reference_heroin_signature"]
    table = reference.load(src.path, CleaningLog(src.id, str(src.path)), src.id)
    reduction = (
        "none: the full US model on the packaged HSP table (its years, reported parts and "
        "bounds); simulated compositions are printed by the model itself, in whole percent "
        "as the real ones (printed_dirichlet); the real fit's sampler settings")
    sampler = MarketShares.default_sampler.to_dict()
    return SBCSpec(model="markets", module=MarketShares.__module__,
                   cls=MarketShares.__name__, model_config={},
                   tables={"signature_shares": table},
                   sampler=sampler, reduction=reduction, extra=("us_share",))


#: composition: the data-centred auxiliary variables (``SBCSpec.unranked``); the country
#: compositions they define (theta) and the hyperparameters are ranked
COMPOSITION_DATA_CENTRED_Z = ("z_region_synthetic", "z_region_opiate", "z_country_synthetic",
                              "z_country_opiate")


def composition_spec(tables: dict[str, pd.DataFrame] | None = None) -> SBCSpec:
    """The drug-type composition model on the real processed tables (``tables``, default
    the project's): the full model (195 countries, 21 regions), which samples in seconds."""
    from burden.fits import read_tables
    from burden.models.composition import OpioidComposition

    tables = tables or read_tables(OpioidComposition.data_tables)
    reduction = (
        "none: every country of the GBD 2017 hierarchy with the real evidence design (which "
        "countries have a UNODC prevalence ratio, which have seizure compositions, how many "
        "of each); the measured US and Canada blocks do not enter this model; the real "
        "fit's sampler settings")
    sampler = OpioidComposition.default_sampler.to_dict()
    return SBCSpec(model="composition", module=OpioidComposition.__module__,
                   cls=OpioidComposition.__name__, model_config={}, tables=tables,
                   sampler=sampler, reduction=reduction, extra=("theta",),
                   unranked=COMPOSITION_DATA_CENTRED_Z)


#: deaths: countries kept in each GBD region (the most populous), besides the United States
DEATHS_COUNTRIES_PER_REGION = 2
#: deaths: draws and tuning steps per chain of an SBC fit (the real fit's are
#: ``OpioidDeaths.default_sampler``'s); the ranks are thinned to the fit's bulk ESS, and
#: R-hat and ESS are recorded per fit
DEATHS_SBC_DRAWS = 500


def reduced_deaths_tables(tables: dict[str, pd.DataFrame], locations: pd.DataFrame,
                          per_region: int | None = DEATHS_COUNTRIES_PER_REGION
                          ) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """(tables restricted to the kept countries, with their ``locations``; the kept ISO3
    codes): the ``per_region`` most populous countries of every GBD region in the latest
    population year, and the United States (the NCHS and VSRR series); every country of
    ``locations`` when ``per_region`` is None."""
    if per_region is not None and per_region < 1:
        raise ValueError(f"countries per region must be at least 1, not {per_region}")
    pop = tables["population"]
    latest = pop[pop["year"] == pop["year"].max()].set_index("location_id")["population"]
    ranked = locations.assign(population=locations["iso3"].map(latest).fillna(0.0))
    ranked = ranked.sort_values(["region_id", "population", "iso3"],
                                ascending=[True, False, True])
    groups = ranked.groupby("region_id", sort=False)
    keep = set(ranked["iso3"] if per_region is None else groups.head(per_region)["iso3"])
    keep |= {"USA"}
    kept = sorted(keep)
    out = dict(tables)
    out["gbd_deaths"] = tables["gbd_deaths"][tables["gbd_deaths"]["location_id"].isin(keep)]
    out["population"] = pop[pop["location_id"].isin(keep)]
    out["locations"] = locations[locations["iso3"].isin(keep)].reset_index(drop=True)
    return out, kept


def deaths_spec(tables: dict[str, pd.DataFrame] | None = None,
                per_region: int | None = DEATHS_COUNTRIES_PER_REGION) -> SBCSpec:
    """The deaths model on the real processed tables (``tables``, default the project's)
    restricted to the ``per_region`` most populous countries of each GBD region (all of
    them when None) and the United States, every year and GBD round, with shorter chains
    (``DEATHS_SBC_DRAWS``)."""
    from burden.fits import read_tables
    from burden.models.deaths import OpioidDeaths
    from burden.registry.locations import hierarchy

    tables = tables or read_tables(OpioidDeaths.data_tables)
    rounds = OpioidDeaths().model_config.gbd_rounds
    reduced, kept = reduced_deaths_tables(tables, hierarchy(max(rounds)), per_region)
    which = ("every country of each GBD region" if per_region is None else
             f"the {per_region} most populous of each GBD region")
    sampler = {**OpioidDeaths.default_sampler.to_dict(), "draws": DEATHS_SBC_DRAWS,
               "tune": DEATHS_SBC_DRAWS}
    real = OpioidDeaths.default_sampler
    reduction = (
        f"{len(kept)} countries (of the GBD hierarchy's): {which} and the United States "
        "(with two or more a region the hierarchy's three levels stay separable); every "
        "year and GBD round of the real tables (their zeros as censored rows), the US NCHS "
        "series by drug and the VSRR provisional counts; chains of "
        f"{DEATHS_SBC_DRAWS} draws after {DEATHS_SBC_DRAWS} tuning steps (the real fit: "
        f"{real.draws:,} after {real.tune:,})")
    return SBCSpec(model="deaths", module=OpioidDeaths.__module__, cls=OpioidDeaths.__name__,
                   model_config={}, tables=reduced, sampler=sampler, reduction=reduction,
                   extra=("country_coef", "us_year_effect", "us_log_share",
                          "us_definition_log_ratio"))


SPECS: dict[str, Callable[[], SBCSpec]] = {"production": production_spec,
                                           "certified": certified_spec,
                                           "deaths": deaths_spec,
                                           "markets": markets_spec,
                                           "composition": composition_spec}
#: models the command accepts
MODELS = tuple(SPECS)


#: the models whose design can be changed, and how (``spec_for``'s keyword arguments)
DESIGN_OPTIONS: dict[str, tuple[str, ...]] = {"deaths": ("per_region",)}


def spec_for(model: str, **design: Any) -> SBCSpec:
    """The model's SBC spec; ``design`` changes its reduced design where the model allows
    it (``DESIGN_OPTIONS``: deaths ``per_region``, countries kept per GBD region, None for
    all)."""
    from burden.errors import ConfigError

    if model not in MODELS:
        raise ConfigError(f"unknown model {model!r}; known: {', '.join(MODELS)}")
    unknown = set(design) - set(DESIGN_OPTIONS.get(model, ()))
    if unknown:
        allowed = ", ".join(DESIGN_OPTIONS.get(model, ())) or "none"
        raise ConfigError(f"{model}: no design option {', '.join(sorted(unknown))} "
                         f"(options for this model: {allowed})")
    return SPECS[model](**design)
