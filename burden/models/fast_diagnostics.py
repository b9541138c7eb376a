"""Vectorised rank-normalised R-hat and bulk/tail ESS (Vehtari et al. 2021, Bayesian Analysis
16(2)), for thousands of quantities at once.

ArviZ 1.x loops over elements in Python (about 2 minutes for the ~10,000 quantities of the
deaths model); these NumPy versions follow the same definitions (split chains, rank
normalisation, folding, Geyer's initial monotone sequence as in Stan) and agree with ArviZ
to within a few percent (tested), in seconds. Tail ESS uses the 5% and 95% quantiles as in
the paper (ArviZ 1.x's default ``prob`` is its ``stats.ci_prob``, 0.89: pass
``prob=(0.05, 0.95)`` to compare).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.fft
from scipy.special import ndtri

#: Convergence thresholds (Vehtari et al. 2021, "Rank-normalization, folding, and
#: localization: an improved R-hat", Bayesian Analysis 16(2)): R-hat <= 1.01 and bulk ESS
#: >= 400 (100 per chain for 4 chains), and no divergent transitions.
RHAT_MAX = 1.01
ESS_MIN = 400


def _split(x: np.ndarray) -> np.ndarray:
    """(chain, draw, m) -> (2 chain, draw // 2, m)."""
    half = x.shape[1] // 2
    return np.concatenate([x[:, :half], x[:, -half:]], axis=0)


def _rank_normalise(x: np.ndarray) -> np.ndarray:
    chains, draws = x.shape[:2]
    flat = x.reshape(chains * draws, -1)
    # ties have probability 0 for continuous draws (constant quantities are masked later)
    ranks = np.empty_like(flat)
    order = np.argsort(flat, axis=0)
    np.put_along_axis(ranks, order, np.arange(1, flat.shape[0] + 1, dtype=float)[:, None],
                      axis=0)
    z = ndtri((ranks - 0.375) / (flat.shape[0] + 0.25))
    return z.reshape(x.shape)


def _rhat(x: np.ndarray) -> np.ndarray:
    n = x.shape[1]
    within = x.var(axis=1, ddof=1).mean(axis=0)
    between = n * x.mean(axis=1).var(axis=0, ddof=1)
    var_hat = (n - 1) / n * within + between / n
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt(var_hat / within)


def _ess(x: np.ndarray) -> np.ndarray:
    """ESS of (chain, draw, m) with Geyer's initial monotone sequence, vectorised over m."""
    chains, n = x.shape[:2]
    # float32 halves the FFT cost; ESS needs ~3 significant digits
    centred = (x - x.mean(axis=1, keepdims=True)).astype(np.float32)
    size = 2 ** int(np.ceil(np.log2(2 * n)))
    spec = scipy.fft.rfft(centred, n=size, axis=1)
    acov = scipy.fft.irfft(spec.real ** 2 + spec.imag ** 2, n=size, axis=1)[:, :n].astype(float) / n  # biased
    mean_var = acov[:, 0].mean(axis=0) * n / (n - 1)
    var_plus = mean_var * (n - 1) / n
    if chains > 1:
        var_plus = var_plus + x.mean(axis=1).var(axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = 1.0 - (mean_var[None, :] - acov.mean(axis=0)) / var_plus[None, :]
    n_pairs = n // 2
    pairs = rho[: 2 * n_pairs: 2] + rho[1: 2 * n_pairs: 2]  # (pairs, m)
    negative = pairs < 0
    negative[0] = False
    first_neg = np.where(negative.any(axis=0), negative.argmax(axis=0), n_pairs)
    keep = np.arange(n_pairs)[:, None] < first_neg[None, :]
    pairs = np.where(keep, np.minimum.accumulate(np.where(keep, pairs, np.inf), axis=0), 0.0)
    tau = -1.0 + 2.0 * pairs.sum(axis=0)
    total = chains * n
    tau = np.maximum(tau, 1.0 / np.log10(total))
    return total / tau


def summarise(draws: np.ndarray, chunk: int = 500) -> dict[str, np.ndarray]:
    """R-hat (max of bulk and folded), bulk ESS and tail ESS of (chain, draw, m) draws.

    Works through ``chunk`` quantities at a time to bound memory (FFT buffers).
    """
    return summarise_many({"x": draws}, chunk)["x"]


def summarise_many(arrays: dict[str, np.ndarray], chunk: int = 500
                   ) -> dict[str, dict[str, np.ndarray]]:
    """``summarise`` of several (chain, draw, m) arrays, their chunks spread over the
    machine's cores (NumPy's sorts and SciPy's FFTs release the GIL): 26 -> 14 s for the
    deaths fit's 15,485 quantities on 2 cores (2026-11-30)."""
    arrays = {k: np.asarray(v, dtype=float) for k, v in arrays.items()}
    tasks = [(name, i) for name, x in arrays.items() for i in range(0, x.shape[-1], chunk)]

    def run(task):
        name, i = task
        return _summarise(arrays[name][..., i:i + chunk])

    workers = min(os.cpu_count() or 1, len(tasks))
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            parts = list(pool.map(run, tasks))
    else:
        parts = [run(t) for t in tasks]
    out = {}
    for name in arrays:
        mine = [p for (n, _), p in zip(tasks, parts) if n == name]
        out[name] = ({k: np.concatenate([p[k] for p in mine]) for k in mine[0]} if mine
                     else {k: np.array([]) for k in ("r_hat", "ess_bulk", "ess_tail")})
    return out


def _summarise(draws: np.ndarray) -> dict[str, np.ndarray]:
    x = _split(draws)
    z = _rank_normalise(x)
    folded = _rank_normalise(np.abs(x - np.median(x.reshape(-1, x.shape[-1]), axis=0)))
    rhat = np.fmax(_rhat(z), _rhat(folded))
    bulk = _ess(z)
    q05, q95 = np.quantile(x.reshape(-1, x.shape[-1]), [0.05, 0.95], axis=0)
    tail = np.fmin(_ess((x <= q05).astype(float)), _ess((x <= q95).astype(float)))
    constant = np.ptp(x.reshape(-1, x.shape[-1]), axis=0) == 0
    for arr in (rhat, bulk, tail):
        arr[constant] = np.nan
    return {"r_hat": rhat, "ess_bulk": bulk, "ess_tail": tail}
