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
