"""Pareto-smoothed importance sampling (PSIS) leave-one-out log weights, every observation
at once.

The same computation as ``arviz_stats``' ``psislw`` (Vehtari et al. 2024, JMLR 25(72):
the right tail of each observation's importance ratios fitted by a generalized Pareto
distribution with Zhang & Stephens' empirical-Bayes estimator and a weak prior on k at
0.5, the tail replaced by the fitted quantiles, the weights normalised), written on
arrays of observations. ``arviz_stats`` loops in Python over observations: for the deaths
model's 11,434 observations that took 7.2 of the 40 s of ``burden summarise deaths``
(cProfile, 2026-12-01 05:14 UTC). The results equal arviz's to rounding
(``tests/test_psis.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr
from scipy.special import logsumexp

#: Zhang & Stephens' prior on the scale grid and the prior weight of k = 0.5 (arviz_stats)
_PRIOR_BS, _PRIOR_K = 3, 10
#: rows fitted at once: the estimator makes a (rows, grid, tail) array, ~25 MB at 6,000 draws
_CHUNK = 256


def tail_length(n_draws: int, r_eff: float = 1.0) -> int:
    """Draws in the fitted right tail: 3 sqrt(S / r_eff), or S / 5 for few draws."""
    if n_draws * r_eff > 225:
        m = int(np.floor(3 * (n_draws / r_eff) ** 0.5))
    else:
        m = int(np.floor(n_draws / 5))
    if m < 5:
        raise ValueError(f"psislw: {n_draws} draws leave {m} in the tail; at least 5 needed")
    return m


def gpd_fit(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(k, sigma) of a generalized Pareto distribution fitted to each row of ``x`` (rows
    sorted ascending, exceedances over the cutoff), with the prior on k; NaN where the
    first quartile does not exceed the minimum (far from a generalized Pareto), k = inf
    where the fit is NaN."""
    rows, n = x.shape
    m_est = 30 + int(n**0.5)
    kappa = np.full(rows, np.nan)
    sigma = np.full(rows, np.nan)
    xstar = x[:, int((n / 4 + 0.5) - 1)]
    ok = xstar > x[:, 0]
    if not ok.any():
        return kappa, sigma
    xs, xstar = x[ok], xstar[ok]
    with np.errstate(all="ignore"):  # degenerate tails give inf/NaN, as in arviz_stats
        grid = 1 - np.sqrt(m_est / (np.arange(1, m_est + 1, dtype=float) - 0.5))
        b = grid[None, :] / (_PRIOR_BS * xstar[:, None]) + 1 / xs[:, -1:]
        k = np.mean(np.log1p(-b[:, :, None] * xs[:, None, :]), axis=2)
        len_scale = n * (np.log(-b / k) - k - 1)
        w = np.exp(len_scale - logsumexp(len_scale, axis=1, keepdims=True))
        # negligible (or NaN) weights are dropped; with none left the posterior mean of b is
        # an empty sum, 0, as in arviz_stats (whose smoothed weights are then NaN)
        keep = w >= 10 * np.finfo(float).eps
        w = np.where(keep, w, 0.0)
        w = w / w.sum(axis=1, keepdims=True)
        b_post = np.where(keep, b * w, 0.0).sum(axis=1)
        k_post = np.mean(np.log1p(-b_post[:, None] * xs), axis=1)
        sig = -k_post / b_post
        k_post = (n * k_post + _PRIOR_K * 0.5) / (n + _PRIOR_K)
        sig = np.where(np.isnan(k_post), np.nan, sig)
        k_post = np.where(np.isnan(k_post), np.inf, k_post)
    kappa[ok], sigma[ok] = k_post, sig
    return kappa, sigma


def _gpd_quantiles(p: np.ndarray, kappa: np.ndarray, sigma: np.ndarray,
                   mu: np.ndarray) -> np.ndarray:
    """Generalized Pareto quantiles at ``p`` for each row's (k, sigma, mu)."""
    kappa, sigma, mu = kappa[:, None], sigma[:, None], mu[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        general = mu + sigma * np.expm1(-kappa * np.log1p(-p)) / kappa
    q = np.where(kappa == 0, mu - sigma * np.log1p(-p), general)
    return np.where(sigma <= 0, np.nan, q)


def psislw_array(loglik: np.ndarray, r_eff: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(log weights, Pareto k) of each row of ``loglik`` (rows, draws): the normalised
    PSIS log weights of leaving the row's observation out, and the fitted tail's k."""
    loglik = np.asarray(loglik, dtype=float)
    if loglik.ndim != 2:
        raise ValueError(f"psislw_array: expected (observations, draws), got {loglik.shape}")
    rows, n_draws = loglik.shape
    m = tail_length(n_draws, r_eff)
    out = np.empty_like(loglik)
    khat = np.empty(rows)
    p = (np.arange(0.5, m) / m)[None, :]
    for start in range(0, rows, _CHUNK):
        lw = -loglik[start:start + _CHUNK]
        lw = lw - lw.max(axis=1, keepdims=True)
        order = np.argsort(lw, axis=1)
        ordered = np.take_along_axis(lw, order, axis=1)
        tail = ordered[:, n_draws - m:]
        cutoff = ordered[:, n_draws - m - 1]
        max_tail = tail.max(axis=1)
        flat = np.flatnonzero(np.abs(max_tail - tail.min(axis=1)) < np.finfo(float).tiny)
        if flat.size:
            raise ValueError(f"psislw: all tail values of the log weights of observation "
                             f"{start + int(flat[0])} (row of the flattened observations) "
                             "are the same: its log-likelihood is constant over the draws")
        kappa, sigma = gpd_fit(np.exp(tail) - np.exp(cutoff)[:, None])
        smooth = np.isfinite(kappa)
        if smooth.any():
            with np.errstate(divide="ignore", invalid="ignore"):
                new = np.log(_gpd_quantiles(p, kappa[smooth], sigma[smooth],
                                            np.exp(cutoff[smooth])))
            cap = max_tail[smooth][:, None]
            new = np.where(new > cap, cap, new)
            idx = order[smooth][:, n_draws - m:]
            rows_s = np.flatnonzero(smooth)[:, None]
            lw[rows_s, idx] = new
        out[start:start + _CHUNK] = lw - logsumexp(lw, axis=1, keepdims=True)
        khat[start:start + _CHUNK] = kappa
    return out, khat


def psislw(loglik: xr.DataArray, sample_dims: Sequence[str] = ("chain", "draw"),
           r_eff: float = 1.0) -> tuple[xr.DataArray, xr.DataArray]:
    """PSIS log weights (the other dimensions, then ``sample_dims``) and Pareto k (the other
    dimensions) of a pointwise log-likelihood, as ``loglik.azstats.psislw``."""
    sample_dims = list(sample_dims)
    rest = [d for d in loglik.dims if d not in sample_dims]
    arr = loglik.transpose(*rest, *sample_dims)
    shape = arr.shape
    n_rows = int(np.prod(shape[:len(rest)], dtype=int))
    lw, k = psislw_array(np.asarray(arr.values).reshape(n_rows, -1), r_eff)
    coords = {name: c for name, c in arr.coords.items()}
    log_weights = xr.DataArray(lw.reshape(shape), dims=arr.dims, coords=coords)
    khat_coords = {name: c for name, c in coords.items()
                   if not set(c.dims) & set(sample_dims)}
    khat = xr.DataArray(k.reshape(shape[:len(rest)]), dims=rest, coords=khat_coords)
    return log_weights, khat
