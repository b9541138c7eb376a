"""Smooth time trends: a B-spline basis whose coefficients follow a random walk (P-spline).

A long yearly random walk mixes badly; a handful of spline coefficients with a random-walk
penalty gives a smooth curve, and coefficients whose support lies past the last data year
are constrained only by the random-walk prior, so forecast uncertainty widens by itself
(Eilers & Marx 1996, "Flexible smoothing with B-splines and penalties", Stat. Sci. 11(2)).
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import BSpline


def bspline_basis(years: np.ndarray, start: int, end: int, knot_spacing: float,
                  degree: int = 3) -> np.ndarray:
    """Cubic B-spline basis (rows: ``years``, columns: coefficients) on ``[start, end]``.

    Knots are equally spaced ``knot_spacing`` years apart from ``start``; the last interior
    knot is pushed to ``end`` so the span is covered. Rows sum to 1 (partition of unity),
    so a constant coefficient vector gives a constant curve: the level sits in a separate
    intercept and the first coefficient is fixed at 0.
    """
    years = np.asarray(years, dtype=float)
    if years.min() < start or years.max() > end:
        raise ValueError(f"years {years.min():.0f}-{years.max():.0f} outside the basis "
                         f"span {start}-{end}")
    n_intervals = max(1, int(np.ceil((end - start) / knot_spacing)))
    inner = np.linspace(start, end, n_intervals + 1)
    knots = np.concatenate([[start] * degree, inner, [end] * degree])
    n_coef = len(knots) - degree - 1
    basis = np.empty((len(years), n_coef))
    for k in range(n_coef):
        coef = np.zeros(n_coef)
        coef[k] = 1.0
        basis[:, k] = BSpline(knots, coef, degree, extrapolate=False)(years)
    basis = np.nan_to_num(basis)
    # the right end point evaluates to 0 with extrapolate=False: put it on the last basis
    basis[years == end] = 0.0
    basis[years == end, -1] = 1.0
    return basis


def last_constrained_coef(basis: np.ndarray, n_data_years: int) -> int:
    """Index of the last coefficient whose support touches the first ``n_data_years`` rows."""
    touched = np.nonzero(basis[:n_data_years].sum(axis=0) > 1e-9)[0]
    return int(touched.max())


def _rw2_logp(value, mu0, sd0, slope_sd, sigma, _template):
    import pymc as pm
    import pytensor.tensor as pt

    first = pm.logp(pm.Normal.dist(mu0, sd0), value[..., 0])
    slope = pm.logp(pm.Normal.dist(0.0, slope_sd), value[..., 1] - value[..., 0])
    curvature = pm.logp(pm.Normal.dist(0.0, sigma),
                        value[..., 2:] - 2 * value[..., 1:-1] + value[..., :-2])
    return pt.concatenate([first[..., None], slope[..., None], curvature], axis=-1)


def _rw2_random(mu0, sd0, slope_sd, sigma, template, rng=None, size=None):
    n = np.shape(template)[-1]
    size = (*(size or ()), n) if not size or size[-1] != n else size
    mu0, sd0, slope_sd, sigma = (np.asarray(a)[..., None] if np.ndim(a) else a
                                 for a in (mu0, sd0, slope_sd, sigma))
    level0 = rng.normal(mu0, sd0, size=size[:-1])
    slope0 = rng.normal(0.0, slope_sd, size=size[:-1])
    bends = rng.normal(0.0, sigma, size=(*size[:-1], max(n - 2, 0)))
    slopes = np.concatenate([slope0[..., None], slope0[..., None]
                             + np.cumsum(bends, axis=-1)], axis=-1)[..., :n - 1]
    return np.concatenate([level0[..., None],
                           level0[..., None] + np.cumsum(slopes, axis=-1)], axis=-1)


#: A walk with fewer data years than this is sampled non-centred throughout. From 3 data
#: years on the near-census counts pin every level, so the levels themselves are sampled
#: (centred): with the old threshold of 8, the 2019 back-test cut sampled Canada (4 years)
#: and the VSRR-only drugs (5 years) non-centred, and their bends funnelled with
#: ``sigma_slope`` (min bulk ESS 269-478 over seeds 1-3, 1 divergence); centred, min bulk
#: ESS 4,523 and no divergences (2026-11-29, docs/models/certified.md). Every level
#: non-centred was far worse where counts are rich (2012 cut: 85 divergences, 631 s).
CENTRED_MIN_YEARS = 3


def second_order_walk(name: str, mu0, sd0, slope_sd, sigma, n: int, n_data: int | None = None,
                      **kwargs):
    """A second-order random walk (integrated random walk) of length ``n``: the first level
    is Normal(mu0, sd0), the first step Normal(0, slope_sd), and each change of the step
    (curvature) Normal(0, sigma), so the series keeps its trend unless the data bend it.
    The first ``n_data`` levels (those with data) are sampled as the levels themselves
    (centred: near-census counts pin each down); later ones as Normal(0, 1) bends scaled by
    ``sigma`` (non-centred: nothing but the prior informs them)."""
    import pymc as pm
    import pytensor.tensor as pt

    n_data = n if n_data is None else max(2, min(n_data, n))
    if n_data < CENTRED_MIN_YEARS:
        # few data years: the levels are not pinned, so the centred walk funnels with sigma
        level0 = pm.Normal(f"{name}_level0", mu0, sd0)
        slope0 = pm.Normal(f"{name}_slope0", 0.0, slope_sd)
        z = pm.Normal(f"{name}_bend_z", 0.0, 1.0, shape=(n - 1,))
        slopes = slope0 + pt.concatenate([pt.zeros(1), pt.cumsum(sigma * z[1:])])
        return pt.concatenate([level0[None], level0 + pt.cumsum(slopes)])
    initval = kwargs.pop("initval", None)
    if initval is not None:
        kwargs["initval"] = np.asarray(initval)[:n_data]
    # the last parameter only carries the length of the walk (its core dimension)
    fitted = pm.CustomDist(name, mu0, sd0, slope_sd, sigma, np.zeros(n_data),
                           logp=_rw2_logp, random=_rw2_random,
                           signature="(),(),(),(),(n)->(n)", **kwargs)
    if n_data == n:
        return fitted
    # past the data only the prior speaks: non-centred (a centred walk there makes a funnel
    # with sigma), continuing the last slope with Normal(0, sigma) bends
    z = pm.Normal(f"{name}_ahead_z", 0.0, 1.0, shape=(n - n_data,))
    slopes = (fitted[-1] - fitted[-2]) + pt.cumsum(sigma * z)
    return pt.concatenate([fitted, fitted[-1] + pt.cumsum(slopes)])
