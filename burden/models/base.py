"""The estimator contract shared by every model (after pymc-marketing's ModelBuilder).

- ``model_config`` / ``sampler_config`` are typed (``burden.models.config``): overrides are
  merged over the class defaults and an unknown key raises ``ConfigError`` listing the
  valid keys. Priors are ``Prior`` objects.
- Data goes to ``fit(data)`` (a dict of DataFrames), never to ``__init__``.
- ``build_model(data)`` returns a new PyMC model and never changes the estimator:
  ``sample_prior_predictive(data)`` works before ``fit`` and leaves a fitted estimator as
  it was.
- ``predict(*, years=None, **coords)`` returns posterior draws (an ``xarray.DataArray``
  with ``chain`` and ``draw`` dims) of the model's target quantity, selected by
  coordinate; ``summary()`` returns a table validated against the model's result schema
  (mean and 95% interval per row).
- After every fit the estimator computes R-hat, bulk/tail ESS and divergences itself and
  warns loudly (``ConvergenceWarning``) when the fit falls short.
- With nutpie (the default) the model is compiled once per structure and data
  (``compiled_model``) and reused by later fits of the same model with other seeds or
  sampler settings; compile and sampling times are recorded apart in ``timings``.
- ``save``/``load`` use netCDF; the file carries the configs, package and library versions,
  the compute environment (CPU architecture, OpenBLAS kernel), seed, input hashes and the
  training data, so ``load`` can rebuild the model. It is compact
  (``burden.models.storage``): free variables only, the Deterministics recomputed on first
  use of the posterior and checked against draws stored at save time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pymc as pm
import xarray as xr

from burden import config as project_config
from burden.errors import ConfigError, ConvergenceWarning, NotFittedError

# logistic: registers the Logistic's log-survival function, which PyMC lacks, for every model
from burden.models import fast_diagnostics, logistic, nutpie_cache  # noqa: F401
from burden.models.batched import prior_draws
from burden.models.config import NUTS_SAMPLERS, Config, SamplerConfig
from burden.models.posterior_predictive import posterior_predictive

__all__ = ["NUTS_SAMPLERS", "BayesianEstimator", "ConfigError", "ConvergenceWarning",
           "NotFittedError", "compile_log", "frame_hash", "select_draws",
           "thin_draws"]

log = logging.getLogger(__name__)

RHAT_MAX, ESS_MIN = fast_diagnostics.RHAT_MAX, fast_diagnostics.ESS_MIN

#: Numba fastmath for the compiled logp (PyTensor's default is on). Off: with it on, draws of
#: the same seed differed between a cold and a warm compile cache (see ``compiled_model``).
NUMBA_FASTMATH = False
#: PyTensor rewrites left out of nutpie's Numba compilation. The in-place Elemwise rewrite
#: validates each candidate against the whole graph: the composition fit took 29.7 s with
#: it, 24.5 s without (`python analysis/steps_ab.py f32ab76 5f5b839`, 2026-12-02). It only
#: lets an operation write into an input's memory, so the arithmetic and the draws are
#: the same (docs/performance.md, "In-place rewrites"; tests/test_numba_mode.py)
NUMBA_EXCLUDED_REWRITES: tuple[str, ...] = ("inplace_elemwise",)
#: nutpie-compiled models of this process, by structure key (see ``compiled_model``)
_COMPILED: dict[str, Any] = {}
#: (model_type, key, seconds) of every compilation in this process, oldest first
_COMPILE_LOG: list[tuple[str, str, float]] = []


@contextmanager
def numba_mode_without(rewrites: Sequence[str]) -> Iterator[None]:
    """Within: PyTensor's "NUMBA" mode, which nutpie compiles with, leaves out
    ``rewrites`` (names or tags of PyTensor's rewrite database)."""
    from pytensor.compile import mode as modes

    saved = modes.predefined_modes["NUMBA"]
    modes.predefined_modes["NUMBA"] = saved.excluding(*rewrites) if rewrites else saved
    try:
        yield
    finally:
        modes.predefined_modes["NUMBA"] = saved


@contextmanager
def nutpie_compile_settings() -> Iterator[None]:
    """Within: ``nutpie.compile_pymc_model`` compiles as the package's fits do: Numba
    fastmath off (``NUMBA_FASTMATH``), the callbacks from PyTensor's compile folder when
    cached (``nutpie_cache``), without ``NUMBA_EXCLUDED_REWRITES``. Used by
    ``BayesianEstimator.compiled_model`` and the SBC workers."""
    import pytensor

    with (pytensor.config.change_flags(numba__fastmath=NUMBA_FASTMATH),
          nutpie_cache.cached_callbacks(),
          numba_mode_without(NUMBA_EXCLUDED_REWRITES)):
        yield


def jax_cpu_devices(chains: int) -> bool:
    """Give JAX at least ``chains`` CPU devices, so that numpyro (through ``pm.sample``) runs
    the chains in parallel: with fewer devices than chains PyMC draws them one after another
    (the composition fit sampled for 91 s so, 43 s in parallel, 2026-12-03;
    docs/performance.md, "numpyro (JAX)"). JAX takes the setting only before its first
    computation in the process; later (a notebook that already ran JAX) the devices stay as
    they are and this says so. True when there are enough."""
    import jax

    if jax.config.jax_num_cpu_devices >= chains:
        return True
    try:
        jax.config.update("jax_num_cpu_devices", chains)
    except RuntimeError:
        if jax.local_device_count() >= chains:
            return True
        log.warning("numpyro: JAX already runs with %d CPU device(s) in this process, fewer "
                    "than the %d chains: they will be drawn one after another (set "
                    "jax.config.update('jax_num_cpu_devices', %d) before any JAX "
                    "computation to run them in parallel)", jax.local_device_count(), chains,
                    chains)
        return False
    return True


def compile_log() -> list[tuple[str, str, float]]:
    """Every model compilation of this process: (model type, structure key, seconds)."""
    return list(_COMPILE_LOG)


def frame_hash(frame: pd.DataFrame) -> str:
    """A content hash of a DataFrame (values and column names), stable across runs."""
    h = hashlib.sha256()
    h.update(",".join(map(str, frame.columns)).encode())
    h.update(pd.util.hash_pandas_object(frame, index=False).values.tobytes())
    return h.hexdigest()


#: attribute of thinned sample statistics: the divergences of every draw sampled
DIVERGENCES_SAMPLED = "divergences_sampled"


def thin_draws(idata: xr.DataTree, thin: int) -> xr.DataTree:
    """``idata`` with every ``thin``-th draw of each chain kept (the first included) in
    every group of posterior draws (posterior, sample statistics and what else has a
    ``draw`` dimension), numbered 0, 1, ... again; the warmup groups are left whole. The
    sample statistics keep the number of divergences of every draw sampled (attribute
    ``DIVERGENCES_SAMPLED``), which the convergence check counts. ``thin`` 1 returns
    ``idata``."""
    if thin == 1:
        return idata
    for name, node in idata.children.items():
        ds = node.to_dataset()
        if "draw" in ds.dims and not name.startswith("warmup"):
            kept = ds.isel(draw=slice(None, None, thin))
            if "diverging" in ds:  # a divergence in a dropped draw still counts
                kept.attrs[DIVERGENCES_SAMPLED] = int(np.asarray(ds["diverging"]).sum())
            # numbered 0, 1, ... again: draws of two fits are joined by label
            idata[name] = xr.DataTree(dataset=kept.assign_coords(
                draw=np.arange(kept.sizes["draw"])))
    return idata


def select_draws(draws: xr.DataArray, years: Sequence[int] | int | None = None,
                 **coords: str | Sequence[str]) -> xr.DataArray:
    """``draws`` restricted to ``years`` and to the labels in ``coords`` (dim -> one label,
    which drops the dim, or a list of labels, which keeps it); an unknown dim, label or year
    raises ValueError naming what is valid."""
    selection: dict[str, Any] = {}
    if years is not None:
        coords = {**coords, "year": years}
    for dim, labels in coords.items():
        if dim not in draws.dims or dim in ("chain", "draw"):
            valid = [d for d in draws.dims if d not in ("chain", "draw")]
            raise ValueError(f"predict: no dimension {dim!r}; select on {valid}")
        scalar = isinstance(labels, str | int | np.integer)
        wanted = [labels] if scalar else list(labels)
        known = draws[dim].values.tolist()
        unknown = [x for x in wanted if x not in known]
        if unknown:
            shown = known if len(known) <= 12 else known[:6] + ["..."] + known[-3:]
            raise ValueError(f"predict: {dim} {unknown} not in the fit; valid: {shown}")
        selection[dim] = labels if scalar else wanted
    return draws.sel(selection)


def _netcdf_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with pandas' nullable dtypes as NumPy ones netCDF can store: nullable
    integers and booleans as floats (NaN where missing), other extension types as text."""
    out = {}
    for col in frame.columns:
        values = frame[col]
        if isinstance(values.dtype, pd.api.extensions.ExtensionDtype) and not (
                pd.api.types.is_string_dtype(values.dtype)):
            if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(
                    values.dtype):
                values = values.astype("float64")
            else:
                values = values.astype(str)
        out[col] = values
    return pd.DataFrame(out)


def _package_version() -> str:
    from burden import __version__

    return __version__


#: saved group holding the convergence table computed at fit time
DIAGNOSTICS_GROUP = "convergence_diagnostics"


def nutpie_order(model: pm.Model, posterior: xr.Dataset) -> list[str]:
    """The variables of ``posterior`` in the order nutpie's trace holds them when it
    traces every variable (``nutpie.compile_pymc``: the free variables' value variables,
    then the model's other unobserved value variables), so that a posterior completed
    with its Deterministics is laid out as before (``tests/test_storage.py``)."""
    joined = [model.rvs_to_values[rv].name for rv in model.free_RVs]
    names = joined + [v.name for v in model.unobserved_value_vars if v.name not in joined]
    order = [n for n in names if n in posterior.data_vars]
    return order + [n for n in posterior.data_vars if n not in order]


class BayesianEstimator(ABC):
    """Base class: subclasses define their config class, data preparation and the model."""

    _model_type: ClassVar[str] = "base"
    _model_version: ClassVar[str] = "1"
    #: names of the input tables ``fit`` expects in its ``data`` dict
    data_tables: ClassVar[tuple[str, ...]] = ()
    #: the typed model config (a ``Config`` dataclass with defaults)
    config_class: ClassVar[type[Config]]
    #: this model's sampler defaults
    default_sampler: ClassVar[SamplerConfig] = SamplerConfig()
    #: samplers measured not to work on this model, each with what went wrong: ``fit``
    #: refuses them (``ConfigError``) instead of sampling for minutes into garbage
    refused_samplers: ClassVar[dict[str, str]] = {}
    #: schema of ``summary()``
    summary_schema: ClassVar[pa.DataFrameSchema | None] = None

    def __init__(self, model_config: dict | Config | None = None,
                 sampler_config: dict | SamplerConfig | None = None):
        self.model_config = self.config_class.merge(model_config)
        self.sampler_config = SamplerConfig.merge(sampler_config, self.default_sampler)
        self.model: pm.Model | None = None
        self._idata: xr.DataTree | None = None
        self._data: dict[str, pd.DataFrame] | None = None
        self.input_hashes: dict[str, str] = {}
        self.timings: dict[str, float] = {}

    @property
    def default_model_config(self) -> Config:
        return self.config_class()

    @property
    def default_sampler_config(self) -> SamplerConfig:
        return self.default_sampler

    # ---- to implement ------------------------------------------------------------------
    @abstractmethod
    def build_model(self, data: dict[str, pd.DataFrame]) -> pm.Model:
        """A new PyMC model for ``data`` (prepared tables). Must not change ``self``."""

    @abstractmethod
    def target_draws(self) -> xr.DataArray:
        """Posterior draws of the model's target quantity (what ``predict`` selects from)."""

    def prepare_data(self, data: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
        """Check and select the inputs; raise ValueError naming what is missing."""
        missing = [t for t in self.data_tables if t not in data]
        if missing:
            raise ValueError(
                f"{type(self).__name__}.fit needs tables {list(self.data_tables)}; "
                f"missing {missing}"
            )
        return {name: data[name] for name in self.data_tables}

    def observation_sources(self) -> dict[str, np.ndarray]:
        """Data source of each element of an observed variable (``{variable: labels}``, in
        the variable's element order) for checks by source; a variable left out is one
        source, named after the variable."""
        return {}

    def diagnostic_vars(self) -> list[str] | None:
        """Posterior variables whose convergence is checked (None: all of them)."""
        return None

    # ---- fitting -----------------------------------------------------------------------
    def structure_key(self, model: pm.Model) -> str:
        """Models with the same key share one compiled sampler: the model type and version,
        the model config and the hashes of the prepared inputs (so a refit with another seed
        or sampler setting reuses the compiled model; other data compile anew)."""
        h = hashlib.sha256()
        h.update(f"{self._model_type}:{self._model_version}".encode())
        h.update(json.dumps(self.model_config.to_dict(), sort_keys=True, default=str).encode())
        h.update(json.dumps(self.input_hashes, sort_keys=True).encode())
        h.update(str(sorted((k, len(v)) for k, v in model.coords.items())).encode())
        return h.hexdigest()[:16]

    def compile_options(self, model: pm.Model) -> dict:
        """Extra keyword arguments of ``nutpie.compile_pymc_model`` (e.g. ``jitter_rvs``)."""
        return {}

    def compiled_model(self, model: pm.Model) -> Any:
        """The nutpie-compiled ``model``, compiled once per ``structure_key`` and process."""
        import nutpie

        key = self.structure_key(model)
        if key not in _COMPILED:
            start = time.perf_counter()
            # Numba's fastmath lets LLVM reorder floating-point arithmetic, and the order
            # it picks depended on whether the compiled pieces came from PyTensor's cache:
            # the same seed gave other draws cold and warm (docs/architecture.md,
            # "Reproducibility"). With IEEE arithmetic the draws depend on the graph only.
            # nutpie's C callbacks come from PyTensor's compile folder when an earlier
            # process compiled the same ones (``nutpie_cache``)
            with nutpie_compile_settings():
                _COMPILED[key] = nutpie.compile_pymc_model(
                    model, backend="numba", var_names=[rv.name for rv in model.free_RVs],
                    **self.compile_options(model))
            seconds = time.perf_counter() - start
            _COMPILE_LOG.append((self._model_type, key, seconds))
            self.timings["compile_s"] = seconds
            log.info("compiled %s in %.1f s (key %s; %d of nutpie's 2 callbacks cached)",
                     self._model_type, seconds, key, nutpie_cache.cache_hits(_COMPILED[key]))
        else:
            self.timings["compile_s"] = 0.0
            log.info("reusing the compiled %s (key %s)", self._model_type, key)
        return _COMPILED[key]

    def _sample(self, progressbar: bool, cfg: SamplerConfig) -> xr.DataTree:
        kwargs = cfg.sample_kwargs()
        log.info("sampling %s with %s (%d chains x %d draws, %d tune)", self._model_type,
                 cfg.nuts_sampler, cfg.chains, cfg.draws, cfg.tune)
        if cfg.nuts_sampler == "nutpie":
            import nutpie
            from pymc.backends.arviz import patch_nutpie_idata

            project_config.forget_unloaded_jax()  # nutpie brought in arviz_base

            compiled = self.compiled_model(self.model)
            start = time.perf_counter()
            idata = nutpie.sample(compiled, draws=cfg.draws, tune=max(cfg.tune, 1),
                                  chains=cfg.chains, cores=kwargs["cores"],
                                  seed=cfg.random_seed, target_accept=cfg.target_accept,
                                  progress_bar=progressbar, **cfg.nutpie_kwargs())
            self.timings["sample_s"] = time.perf_counter() - start
            patch_nutpie_idata(idata, self.model, sampling_time=self.timings["sample_s"])
            return self._with_deterministics(thin_draws(idata, cfg.thin))
        if cfg.mass_matrix != "diag":
            log.warning("%s: PyMC's NUTS has only a diagonal mass matrix; mass_matrix=%r "
                        "is ignored", self._model_type, cfg.mass_matrix)
        if cfg.nuts_sampler == "numpyro":
            jax_cpu_devices(cfg.chains)
        start = time.perf_counter()
        with self.model:
            idata = pm.sample(progressbar=progressbar, **kwargs)
        # PyMC's own samplers compile inside pm.sample: the time includes compilation
        self.timings["sample_s"] = time.perf_counter() - start
        return thin_draws(idata, cfg.thin)

    def _with_deterministics(self, idata: xr.DataTree) -> xr.DataTree:
        """``idata`` with the model's Deterministics added to its posterior, computed for
        every draw at once (``storage.recompute_deterministics``), in the order nutpie
        stores them when it traces every variable (``nutpie_order``).

        nutpie traces only the free variables (``compiled_model``): its per-draw function
        for the trace then leaves out the Deterministics, which made the five models'
        nutpie compilations 31.5 s shorter with an empty cache and 8 s with a warm one
        (deaths 11 and 2.6 s; docs/performance.md, "Tracing the free variables only").
        The draws of the free variables are the same either way."""
        from burden.models import storage

        post = idata["posterior"].to_dataset()
        names = [d.name for d in self.model.deterministics if d.name not in post]
        if names:
            added = storage.recompute_deterministics(self.model, post, names)
            post = post.assign({name: added[name] for name in names})
            idata["posterior"] = xr.DataTree(dataset=post[nutpie_order(self.model, post)])
        return idata

    def fit(
        self,
        data: dict[str, pd.DataFrame],
        *,
        progressbar: bool | None = None,
        input_hashes: dict[str, str] | None = None,
        sampler_config: dict | SamplerConfig | None = None,
    ) -> xr.DataTree:
        """Fit the model to ``data`` (a dict of processed tables) and check convergence.

        ``sampler_config`` overrides this estimator's sampler settings for this fit only.
        The progress bar is shown on a terminal only (``progressbar=None``).
        """
        if progressbar is None:
            progressbar = sys.stderr.isatty()
        cfg = SamplerConfig.merge(sampler_config, self.sampler_config)
        if cfg.nuts_sampler in self.refused_samplers:
            others = [s for s in SamplerConfig.samplers if s not in self.refused_samplers]
            raise ConfigError(
                f"{type(self).__name__} cannot be fitted with nuts_sampler="
                f"{cfg.nuts_sampler!r}: {self.refused_samplers[cfg.nuts_sampler]}; use one "
                f"of {others}")
        prepared = self.prepare_data(data)
        hashes = {name: frame_hash(f) for name, f in prepared.items()}
        hashes.update(input_hashes or {})
        start = time.perf_counter()
        model = self.build_model(prepared)
        self.timings = {"build_s": time.perf_counter() - start}
        self._data, self.input_hashes, self.model = prepared, hashes, model
        self._reset_cache()
        self._idata = self._sample(progressbar, cfg)
        self._fit_sampler = cfg
        self._attach_fit_data()
        self.check_convergence(warn=True)
        return self._idata

    def _reset_cache(self) -> None:
        """Subclasses drop whatever they derived from the previous fit."""

    def sample_prior_predictive(
        self, data: dict[str, pd.DataFrame], draws: int = 200, random_seed: int | None = None
    ) -> xr.DataTree:
        """Draws from the prior and prior predictive; works before (and without) ``fit``
        and leaves a fitted estimator unchanged."""
        model = self.build_model(self.prepare_data(data))
        seed = self.sampler_config.random_seed if random_seed is None else random_seed
        return prior_draws(model, draws, random_seed=seed)

    def built_model(self) -> pm.Model:
        """The PyMC model of the fitted data: the fit's own, or for a loaded fit built once
        and kept (restoring the posterior, predictive draws and the log densities of a
        summary each rebuilt it: 5 builds in ``burden summarise deaths``, 3.4 s under cProfile,
        2026-12-01)."""
        if self.model is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # the data warnings of the fit
                self.model = self.build_model(self.data)
        return self.model

    def sample_posterior_predictive(self, random_seed: int | None = None,
                                    thin: int = 1) -> xr.DataTree:
        """Posterior predictive draws of every observed variable, at every ``thin``-th
        draw of each chain (``burden.models.posterior_predictive``: blocks of draws at
        once; an error if the model has Potentials or its data containers do not hold
        the fit's data)."""
        seed = self.sampler_config.random_seed if random_seed is None else random_seed
        idata = self.idata  # outside the model context: a compact save rebuilds its model
        posterior = idata["posterior"].to_dataset().isel(draw=slice(None, None, thin))
        constant = (idata["constant_data"].to_dataset()
                    if "constant_data" in idata.children else None)
        pp = posterior_predictive(self.built_model(), posterior, seed, constant)
        groups = {"posterior_predictive": pp}
        if "observed_data" in idata.children:  # as PyMC returns it, for ArviZ's plots
            groups["observed_data"] = idata["observed_data"].to_dataset()
        return xr.DataTree.from_dict(groups)

    def predict(self, *, years: Sequence[int] | int | None = None,
                **coords: str | Sequence[str]) -> xr.DataArray:
        """Posterior draws (chain, draw, ...) of the target quantity for ``years`` and the
        labels in ``coords`` (e.g. ``location="USA"``, ``source=["AFG", "MMR"]``)."""
        return select_draws(self.target_draws(), years, **coords)

    def validated(self, table: pd.DataFrame) -> pd.DataFrame:
        """``table`` checked against ``summary_schema`` (errors name columns and rows)."""
        if self.summary_schema is None:
            return table
        return self.summary_schema.validate(table, lazy=True)

    # ---- state -------------------------------------------------------------------------
    @property
    def idata(self) -> xr.DataTree:
        if self._idata is None:
            raise NotFittedError(f"{type(self).__name__} has no posterior: call fit() first")
        if getattr(self, "_pending_restore", False):
            self._restore_posterior()
        return self._idata

    @property
    def posterior(self) -> xr.Dataset:
        return self.idata["posterior"].to_dataset()

    @property
    def data(self) -> dict[str, pd.DataFrame]:
        if self._data is None:
            raise NotFittedError(f"{type(self).__name__} has no data: call fit() first")
        return self._data

    @property
    def fit_sampler_config(self) -> SamplerConfig:
        """The sampler settings of the fit (this estimator's own before a fit)."""
        return getattr(self, "_fit_sampler", None) or self.sampler_config

    @property
    def is_fitted(self) -> bool:
        return self._idata is not None

    # ---- diagnostics -------------------------------------------------------------------
    def diagnostic_arrays(self) -> dict[str, xr.DataArray]:
        """Every quantity whose convergence is checked: the variables named by
        ``diagnostic_vars`` (default: all posterior variables). Subclasses may add derived
        quantities they report (e.g. regional sums)."""
        post = self.posterior
        return {name: post[name] for name in (self.diagnostic_vars() or list(post.data_vars))}

    def diagnostics(self) -> pd.DataFrame:
        """Per quantity: max R-hat, min bulk and tail ESS over its elements.

        Rank-normalised split R-hat and ESS (Vehtari et al. 2021), vectorised in
        ``fast_diagnostics`` (ArviZ 1.x loops element by element: minutes for the ~10,000
        quantities of the deaths model); agreement with ArviZ is tested.

        Computed once per fit (31 s for the deaths model, which the fit, the CLI and
        ``burden summarise`` each recomputed) and saved with it (group
        ``convergence_diagnostics``, from the draws as sampled, before any rounding).
        """
        tree = self._idata
        cached = getattr(self, "_diagnostics_cache", None)
        if cached is not None and cached[0] is tree:
            return cached[1].copy()
        if tree is not None and DIAGNOSTICS_GROUP in tree.children:
            table = tree[DIAGNOSTICS_GROUP].to_dataset().to_dataframe().reset_index()
            table = table[["variable", "size", "r_hat_max", "ess_bulk_min", "ess_tail_min"]]
            table["variable"] = table["variable"].astype(str)
            table["size"] = table["size"].astype(int)
        else:
            table = self._compute_diagnostics()
        self._diagnostics_cache = (tree, table)
        return table.copy()

    def _compute_diagnostics(self) -> pd.DataFrame:
        rows = []
        flat = {}
        for name, arr in self.diagnostic_arrays().items():
            values = np.asarray(arr.transpose("chain", "draw", ...).values, dtype=float)
            if values[0, 0].size:
                flat[name] = values.reshape(values.shape[0], values.shape[1], -1)
        for name, stats in fast_diagnostics.summarise_many(flat).items():
            rows.append({
                "variable": name,
                "size": int(flat[name].shape[-1]),
                "r_hat_max": float(np.nanmax(stats["r_hat"])),
                "ess_bulk_min": float(np.nanmin(stats["ess_bulk"])),
                "ess_tail_min": float(np.nanmin(stats["ess_tail"])),
            })
        return pd.DataFrame(rows)

    def n_divergences(self) -> int:
        """Divergent transitions of every draw sampled (those of draws a thinning dropped
        included: ``thin_draws``)."""
        stats = self.idata["sample_stats"]
        if DIVERGENCES_SAMPLED in stats.attrs:
            return int(stats.attrs[DIVERGENCES_SAMPLED])
        return int(np.asarray(stats["diverging"]).sum()) if "diverging" in stats else 0

    def worst_elements(self, variables: int = 3, per_variable: int = 2) -> pd.DataFrame:
        """Where a fit mixes worst: the ``per_variable`` elements with the largest R-hat of
        each of the ``variables`` checked quantities whose largest R-hat is largest, with
        their coordinates, bulk ESS and each chain's mean. The variable-level table
        (``diagnostics``) names a variable of thousands of elements; a chain that wandered
        along one direction shows here as one element whose chain means disagree."""
        table = self.diagnostics().nlargest(variables, "r_hat_max")
        arrays = self.diagnostic_arrays()
        rows = []
        for name in table["variable"]:
            arr = arrays[name].transpose("chain", "draw", ...)
            values = np.asarray(arr.values, dtype=float)
            flat = values.reshape(values.shape[0], values.shape[1], -1)
            stats = fast_diagnostics.summarise(flat)
            r_hat = np.where(np.isnan(stats["r_hat"]), -np.inf, stats["r_hat"])
            for i in np.argsort(-r_hat, kind="stable")[:per_variable]:
                position = np.unravel_index(int(i), values.shape[2:])
                coords = [str(arr[dim].values[p]) if dim in arr.coords else str(p)
                          for dim, p in zip(arr.dims[2:], position)]
                chain_means = flat[:, :, i].mean(axis=1)
                rows.append({
                    "variable": name,
                    "element": f"{name}[{', '.join(coords)}]" if coords else name,
                    "r_hat": float(stats["r_hat"][i]),
                    "ess_bulk": float(stats["ess_bulk"][i]),
                    "chain_means": " / ".join(f"{m:.4g}" for m in chain_means),
                })
        return pd.DataFrame(rows, columns=["variable", "element", "r_hat", "ess_bulk",
                                           "chain_means"])

    def convergence_report(self) -> dict[str, Any]:
        diag = self.diagnostics()
        report = {
            "r_hat_max": float(diag["r_hat_max"].max()),
            "ess_bulk_min": float(diag["ess_bulk_min"].min()),
            "ess_tail_min": float(diag["ess_tail_min"].min()),
            "divergences": self.n_divergences(),
            "worst_r_hat": str(diag.loc[diag["r_hat_max"].idxmax(), "variable"]),
            "worst_ess": str(diag.loc[diag["ess_bulk_min"].idxmin(), "variable"]),
        }
        report["converged"] = bool(
            report["r_hat_max"] <= RHAT_MAX
            and report["ess_bulk_min"] >= ESS_MIN
            and report["divergences"] == 0
        )
        return report

    def check_convergence(self, warn: bool = True) -> dict[str, Any]:
        report = self.convergence_report()
        self.idata.attrs["convergence"] = json.dumps(report)
        if warn and not report["converged"]:
            msg = (
                f"{type(self).__name__} DID NOT CONVERGE: max R-hat {report['r_hat_max']:.3f} "
                f"(<= {RHAT_MAX} wanted, worst: {report['worst_r_hat']}), min bulk ESS "
                f"{report['ess_bulk_min']:.0f} (>= {ESS_MIN} wanted, worst: "
                f"{report['worst_ess']}), {report['divergences']} divergences (0 wanted). "
                "Do not use these estimates; sample longer or reparameterise."
            )
            if report["r_hat_max"] > RHAT_MAX:  # which direction: the element and its chains
                worst = self.worst_elements(1, 1).iloc[0]
                msg += (f" Worst element: {worst['element']} (R-hat {worst['r_hat']:.4f}, "
                        f"chain means {worst['chain_means']}).")
            warnings.warn(msg, ConvergenceWarning, stacklevel=2)
            log.warning(msg)
        else:
            log.info("%s converged: max R-hat %.3f, min bulk ESS %.0f, %d divergences "
                     "(sampling %.0f s)", type(self).__name__, report["r_hat_max"],
                     report["ess_bulk_min"], report["divergences"],
                     self.timings.get("sample_s", float("nan")))
        return report

    # ---- persistence -------------------------------------------------------------------
    def _attach_fit_data(self) -> None:
        children = {
            name: xr.DataTree(dataset=xr.Dataset.from_dataframe(
                _netcdf_ready(frame.reset_index(drop=True))))
            for name, frame in self.data.items()
        }
        self._idata["fit_data"] = xr.DataTree(children=children)
        self._idata.attrs.update(self._metadata())

    def _metadata(self) -> dict[str, str]:
        return {
            "model_type": self._model_type,
            "model_version": self._model_version,
            "package_version": _package_version(),
            "model_config": json.dumps(self.model_config.to_dict()),
            "sampler_config": json.dumps(self.fit_sampler_config.to_dict()),
            "random_seed": str(self.fit_sampler_config.random_seed),
            "input_hashes": json.dumps(self.input_hashes),
            "timings": json.dumps(self.timings),
        }

    #: bits of mantissa kept of the free variables' draws in a saved fit (None: all 52,
    #: lossless); a model whose file is too large sets it (see ``storage.bitround``)
    save_keep_bits: ClassVar[int | None] = None

    def save(self, path: str | Path, *, compact: bool = True) -> Path:
        """Write posterior, diagnostics, training data and metadata to one netCDF file.

        ``compact`` (the default, ``burden.models.storage``): Deterministics are dropped
        (recomputed on load) and warmup groups dropped; otherwise the posterior is written
        as sampled. Every array is compressed either way."""
        from burden.models import storage

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.idata.attrs.update(self._metadata())
        tmp = path.with_suffix(path.suffix + ".tmp")
        idata = self.idata.copy()
        # object-dtype sampler messages (nutpie) do not round-trip through netCDF
        if "sample_stats" in idata:
            stats = idata["sample_stats"].to_dataset()
            keep = [v for v in stats.data_vars if stats[v].dtype != object]
            idata["sample_stats"] = xr.DataTree(dataset=stats[keep])
        idata[DIAGNOSTICS_GROUP] = xr.DataTree(dataset=xr.Dataset.from_dataframe(
            self.diagnostics().set_index("variable")))
        if compact:
            dropped = [g for g in storage.DROPPED_GROUPS if g in idata]
            for group in dropped:
                del idata[group]
            if "posterior" in idata:
                self._compact_posterior(idata, path, dropped)
        idata.attrs["library_versions"] = json.dumps(storage.library_versions())
        idata.attrs["compute_environment"] = json.dumps(storage.compute_environment())
        self._write(idata, tmp)
        os.replace(tmp, path)
        return path

    @staticmethod
    def _write(idata: xr.DataTree, path: Path) -> None:
        from burden.models import storage

        encoding = {node.path: storage.encodings(node.to_dataset(inherit=False))
                    for node in idata.subtree if node.has_data}
        idata.to_netcdf(path, engine="netcdf4", encoding=encoding)

    def _compact_posterior(self, idata: xr.DataTree, path: Path, dropped: list[str]) -> None:
        """Replace ``idata``'s posterior by its free variables (rounded to
        ``save_keep_bits``) and add the check draws of the Deterministics dropped."""
        from burden.models import storage

        post = idata["posterior"].to_dataset()
        order = list(post.data_vars)
        model = self.built_model()
        free = [rv.name for rv in model.free_RVs]
        dets = [d.name for d in model.deterministics if d.name in post]
        dims = {name: list(post[name].dims[2:]) for name in dets}
        check = storage.check_draws(post)
        if dets:
            # the rebuilt graph must give the sampled Deterministics, or they are kept
            again = storage.recompute_deterministics(model, post, dets, dims, check)
            try:
                storage.check_recomputed(again, post[dets].isel(check), f"saving {path}")
            except ValueError as err:
                log.warning("%s: Deterministics stored as sampled: %s", path, err)
                dets = []
        compact = post.drop_vars(dets)
        for name in free:
            if name in compact and compact[name].dtype.kind == "f":
                compact[name] = compact[name].copy(
                    data=storage.bitround(compact[name].values, self.save_keep_bits))
        idata["posterior"] = xr.DataTree(dataset=compact)
        if dets:
            idata["recompute_check"] = xr.DataTree(dataset=storage.recompute_deterministics(
                model, compact, dets, dims, check))
        idata.attrs.update(storage.storage_attrs(dets, self.save_keep_bits, order,
                                                 dims, dropped))

    def _restore_posterior(self) -> None:
        """Recompute the Deterministics a compact file dropped (``storage``), check them
        against the draws stored at save time and put the posterior in its saved order."""
        from burden.models import storage

        self._pending_restore = False
        info = json.loads(self._idata.attrs.get("storage", "{}"))
        names = info.get("recomputed_deterministics") or []
        if not names:
            return
        post = self._idata["posterior"].to_dataset()
        model = self.built_model()
        recomputed = storage.recompute_deterministics(model, post, names,
                                                      info.get("deterministic_dims", {}))
        if "recompute_check" in self._idata:
            storage.check_recomputed(recomputed,
                                     self._idata["recompute_check"].to_dataset(),
                                     getattr(self, "_source", type(self).__name__))
            del self._idata["recompute_check"]
        full = post.assign(recomputed.data_vars)
        order = [n for n in info.get("posterior_variable_order", []) if n in full]
        order += [n for n in full.data_vars if n not in order]
        self._idata["posterior"] = xr.DataTree(dataset=full[order])

    @classmethod
    def load(cls, path: str | Path) -> BayesianEstimator:
        """Load a saved fit; name any field that does not match this class. A compact
        file's Deterministics are recomputed when the posterior is first used."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no saved model at {path}")
        idata = xr.open_datatree(path, engine="netcdf4").load()
        attrs = idata.attrs
        if attrs.get("model_type") != cls._model_type:
            raise ValueError(
                f"{path}: model_type is {attrs.get('model_type')!r}, but "
                f"{cls.__name__} loads {cls._model_type!r}"
            )
        if attrs.get("model_version") != cls._model_version:
            raise ValueError(
                f"{path}: model_version is {attrs.get('model_version')!r}; this package's "
                f"{cls.__name__} is version {cls._model_version!r}: refit the model"
            )
        try:
            # a fit saved before SamplerConfig.thin kept every draw, whatever the default
            sampler = {"thin": 1, **json.loads(attrs["sampler_config"])}
            est = cls(json.loads(attrs["model_config"]), sampler)
        except ConfigError as err:
            raise ValueError(f"{path}: its saved configuration does not fit this package's "
                             f"{cls.__name__} ({err}): refit the model") from None
        est._idata = idata
        est._pending_restore = "storage" in attrs
        est._source = str(path)
        est.input_hashes = json.loads(attrs.get("input_hashes", "{}"))
        est.timings = json.loads(attrs.get("timings", "{}"))
        if "fit_data" in idata:
            est._data = {
                name: node.to_dataset().to_dataframe().reset_index(drop=True)
                for name, node in idata["fit_data"].children.items()
            }
        return est

    @property
    def saved_metadata(self) -> dict[str, Any]:
        attrs = self.idata.attrs
        out: dict[str, Any] = {}
        for key, value in attrs.items():
            try:
                out[key] = json.loads(value) if isinstance(value, str) else value
            except json.JSONDecodeError:
                out[key] = value
        return out
