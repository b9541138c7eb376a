"""Posterior-draw utilities shared by every model, attribution and summarise.

One job: operations on draws held as ``xarray.DataArray`` with ``chain`` and ``draw`` dims.

- ``interval_summary``: mean and central interval (95% by default) as a tidy table
  (``interval_dataset`` and ``interval_table``: the same in two steps); ``total_from_draws``
  the same of the sum over sources;
- ``resample_draws`` / ``align_draws``: bring draws of independent fits to one (chain, draw)
  shape with a seeded resample, so they can be multiplied draw by draw;
- ``group_sum``: sums of draws over groups (countries -> regions -> world), never of means.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from burden.table_checks import INTERVAL_COLUMNS

SAMPLE_DIMS: tuple[str, str] = ("chain", "draw")
#: Summaries are the mean and the central 95% interval (2.5th and 97.5th percentiles).
INTERVAL_PROB = 0.95


def interval_summary(draws: xr.DataArray, sample_dims: Sequence[str] = SAMPLE_DIMS,
                     prob: float = INTERVAL_PROB) -> pd.DataFrame:
    """Mean and central ``prob`` interval of ``draws`` as a tidy table (one row per element
    of the non-sample dims; columns: those dims, ``mean``, ``lower``, ``upper``)."""
    return interval_table(interval_dataset(draws, sample_dims, prob))


def total_from_draws(production_draws: xr.DataArray, prob: float = INTERVAL_PROB
                     ) -> pd.DataFrame:
    """World total by year from draws (``OpiumProduction.production_draws()``).

    The interval of a sum is the interval of the summed draws, never the sum of the
    sources' intervals.
    """
    total = production_draws.sum("source")
    return interval_summary(total, prob=prob)[["year", *INTERVAL_COLUMNS]]


def interval_dataset(draws: xr.DataArray, sample_dims: Sequence[str] = SAMPLE_DIMS,
                     prob: float = INTERVAL_PROB) -> xr.Dataset:
    """Mean and central ``prob`` interval of ``draws`` (variables ``mean``, ``lower``,
    ``upper`` over the non-sample dims): ``interval_summary`` before it becomes a table."""
    lo, hi = (1 - prob) / 2, 1 - (1 - prob) / 2
    kept = draws.isel(dict.fromkeys(sample_dims, 0), drop=True)
    ordered = draws.transpose(*kept.dims, *sample_dims)
    # the pooled draws last, in one C-ordered copy of our own (what ``stack`` made,
    # without its index): the mean first, then the quantiles may partition it in place.
    # Two copies of the draws fewer (docs/performance.md, "Memory is CPU time here")
    values = np.array(ordered.values, order="C", copy=True).reshape(*kept.shape, -1)
    mean = _nanmean(values)
    lower, upper = _quantiles(values, (lo, hi), overwrite=True)
    return xr.Dataset({"mean": kept.copy(data=mean), "lower": kept.copy(data=lower),
                       "upper": kept.copy(data=upper)})


def _nanmean(values: np.ndarray) -> np.ndarray:
    """Mean over the last axis, NaNs skipped (as xarray's ``mean``), without
    ``np.nanmean``'s NaN-free copy when there is no NaN."""
    if np.isnan(values).any():
        with warnings.catch_warnings():  # an all-NaN slice: NaN, as xarray gives
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(values, axis=-1)
    return np.mean(values, axis=-1)


def interval_table(stats: xr.Dataset) -> pd.DataFrame:
    """An ``interval_dataset`` as the tidy table ``interval_summary`` returns."""
    frame = stats.to_dataframe()
    return frame.reset_index() if frame.index.nlevels > 1 or frame.index.name else frame


def _quantiles(values: np.ndarray, probs: Sequence[float],
               overwrite: bool = False) -> np.ndarray:
    """Quantiles over the last axis, NaNs skipped (as ``xarray.quantile``), vectorised:
    ``np.nanquantile`` works slice by slice (10 s for the deaths summary's 54,000 slices);
    only slices with some but not all values missing need it. ``overwrite``: ``values``
    may be reordered (partitioned) in place instead of copied."""
    missing = np.isnan(values)
    partial = missing.any(-1) & ~missing.all(-1)
    nan_parts = (np.nanquantile(values[partial], probs, axis=-1) if partial.any()
                 else None)
    out = np.quantile(values, probs, axis=-1, overwrite_input=overwrite)
    if nan_parts is not None:
        out[:, partial] = nan_parts
    return out


def resample_draws(draws: xr.DataArray, chains: int, n_draw: int, seed: int) -> xr.DataArray:
    """``draws`` reshaped to (chains, n_draw): identical sizes pass through; otherwise a
    seeded sample of the pooled draws (without replacement when there are enough)."""
    if draws.sizes["chain"] == chains and draws.sizes["draw"] == n_draw:
        return draws.assign_coords(chain=np.arange(chains), draw=np.arange(n_draw))
    # the pooled draws in chain-major order (as ``stack(sample=SAMPLE_DIMS)`` orders them,
    # without building its index: 5 s of the attribution's 2026-12-01 run)
    ordered = draws.transpose(*SAMPLE_DIMS, ...)
    pooled = np.asarray(ordered.values).reshape(-1, *ordered.shape[2:])
    n = chains * n_draw
    rng = np.random.default_rng(seed)
    pick = rng.choice(pooled.shape[0], size=n, replace=pooled.shape[0] < n)
    values = pooled[pick].reshape(chains, n_draw, *pooled.shape[1:])
    dims = ("chain", "draw", *ordered.dims[2:])
    coords = {d: ordered[d].values for d in dims[2:]}
    return xr.DataArray(values, dims=dims,
                        coords={"chain": np.arange(chains), "draw": np.arange(n_draw),
                                **coords}, name=draws.name)


def align_draws(reference: xr.DataArray, other: xr.DataArray, seed: int) -> xr.DataArray:
    """``other`` with the (chain, draw) sizes and labels of ``reference`` (seeded resample).

    The labels matter: xarray pairs draws by label, so shares labelled 0..n-1 against
    deaths labelled otherwise (a thinned or sliced fit) would be an inner join that drops
    draws, or an outer one that fills them with zeros."""
    out = resample_draws(other, reference.sizes["chain"], reference.sizes["draw"], seed)
    return out.assign_coords(chain=reference["chain"].values, draw=reference["draw"].values)


def membership(groups: Sequence[str], member_of: Sequence[str]) -> np.ndarray:
    """(group x member) 0/1 matrix: ``member_of[i]`` is the group of member ``i``."""
    index = {g: k for k, g in enumerate(groups)}
    unknown = sorted({g for g in member_of if g not in index})
    if unknown:
        raise ValueError(f"members belong to groups not listed: {unknown}")
    out = np.zeros((len(groups), len(member_of)))
    out[[index[g] for g in member_of], np.arange(len(member_of))] = 1.0
    return out


def group_sum(draws: xr.DataArray, dim: str, groups: Sequence[str],
              member_of: Sequence[str], new_dim: str | None = None) -> xr.DataArray:
    """Sum ``draws`` over ``dim`` into ``groups``, draw by draw (``member_of`` gives each
    element's group, in ``dim`` order)."""
    matrix = xr.DataArray(membership(groups, member_of), dims=(new_dim or dim, f"{dim}__m"),
                          coords={new_dim or dim: list(groups)})
    renamed = draws.rename({dim: f"{dim}__m"}).drop_vars(f"{dim}__m", errors="ignore")
    return xr.dot(matrix, renamed, dim=f"{dim}__m")
