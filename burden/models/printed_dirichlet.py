"""A Dirichlet composition observed through its printed figures, rounded to whole percent.

The DEA's Heroin Signature Program shares are published in whole percent, a small region
often as 0 or 1. Read as exact shares (a 0 as 0.25%), they gave the model's Dirichlet
density at a point where the density of a small part changes by a factor of several within
its rounding cell; simulation-based calibration found the market-share model miscalibrated
because of it (docs/validation/sbc.md). Here the observation is the printed figures, and
their likelihood approximates the probability of the cells they stand for:

- each printed part but one lies in its rounding cell [printed - half, printed + half]
  (a printed 0: [0, half]). A small part (printed below 5%) enters through the exact
  probability of its cell under its marginal Beta distribution, in place of that
  marginal's density at the printed value; a larger part keeps the density, which
  changes little across its cell;
- the largest part is implied by the others: its factor is evaluated at the year's
  composition as read (a 0 as ``ZERO_AS``, normalised), as before. The unreported rest,
  where it is not the largest, is 1 minus the printed parts, known to the rounding of the
  largest printed part: it gets a cell of that half-width (2017: Southeast Asia,
  100 - 92 - 4 - 1 = 3%, lies in [2.5%, 3.5%] given the printed figures).

With one printed part below 5% and the rest, the probability is exact; with more parts,
the cells' dependence is approximated (simulation-based calibration measures what is left).
Predictive draws print a Dirichlet draw the same way (``random``), so posterior predictive
checks and SBC simulate the printing that the likelihood describes.
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

#: parts printed below this share get the exact probability of their rounding cell; larger
#: ones the density at the printed value times the cell's width (5%: the cell is then at
#: most a fifth of the value, and the density changes little across it)
SMALL = 0.05

#: a printed 0 is read as this share where a point value is needed (the dependent part):
#: half of half the printed unit, one percent
ZERO_AS = 0.0025


def logp(value, alpha, half):
    """log P(the composition prints as ``value``) for Dirichlet(``alpha``), approximately
    (module docstring). ``value``, ``alpha``, ``half``: (..., K); ``half`` 0 marks the
    unprinted rest (at most one per row), whose value is 1 minus the printed parts."""
    K = alpha.shape[-1]
    # the largest part is implied by the others (evaluated at its point); every other
    # part, the unreported rest included, gets a cell. The rest's value is 1 minus the
    # printed parts, known to the largest part's rounding: its cell has that half-width
    dependent = pt.eq(pt.arange(K), pt.argmax(value, axis=-1)[..., None])
    half = pt.switch(pt.eq(half, 0.0), half.max(axis=-1, keepdims=True), half)
    read = pt.maximum(value, ZERO_AS)
    read = read / read.sum(axis=-1, keepdims=True)
    density = (pt.gammaln(alpha.sum(axis=-1)) - pt.gammaln(alpha).sum(axis=-1)
               + ((alpha - 1.0) * pt.log(read)).sum(axis=-1))
    # each free part printed below ``SMALL``: its marginal Beta(alpha, total - alpha)
    # density at the point read is replaced by the marginal probability of its rounding
    # cell. Larger parts keep the density (times the cell's width): there the density
    # changes little across the cell, and the incomplete beta function's gradient, the
    # costly part, is computed at trivial arguments
    other = alpha.sum(axis=-1, keepdims=True) - alpha
    small = pt.lt(value, SMALL)
    lower = pt.maximum(value - half, 0.0)
    upper = pt.minimum(value + half, 1.0)
    a = pt.switch(small, alpha, 1.0)
    b = pt.switch(small, other, 1.0)
    cell = pt.betainc(a, b, pt.switch(small, upper, 0.5)) - pt.switch(
        pt.gt(lower, 0.0) & small, pt.betainc(a, b, pt.maximum(lower, 1e-300)), 0.0)
    at_point = ((alpha - 1.0) * pt.log(read) + (other - 1.0) * pt.log1p(-read)
                - (pt.gammaln(alpha) + pt.gammaln(other) - pt.gammaln(alpha + other)))
    # far in a tail the cell probability underflows: there the density x width stands in
    exact = small & pt.gt(cell, 1e-250)
    width = pt.log(2.0 * pt.maximum(half, 1e-12))
    correction = pt.switch(exact, pt.log(pt.switch(exact, cell, 1.0)) - at_point, width)
    return density + pt.switch(dependent, 0.0, correction).sum(axis=-1)


def print_composition(x: np.ndarray, half: np.ndarray) -> np.ndarray:
    """Shares ``x`` (..., K) as printed: each part with a rounding unit rounded to it, the
    unprinted rest (``half`` 0) 1 minus the printed parts (at least 0)."""
    x = np.asarray(x, dtype=float)
    half = np.broadcast_to(np.asarray(half, dtype=float), x.shape)
    printed = half > 0
    unit = np.where(printed, 2.0 * half, 1.0)
    out = np.where(printed, np.clip(np.round(x / unit) * unit, 0.0, 1.0), 0.0)
    rest = np.maximum(1.0 - out.sum(axis=-1, keepdims=True), 0.0)
    return np.where(printed, out, rest)


def random(alpha, half, rng=None, size=None):
    """A Dirichlet(``alpha``) draw, printed (``print_composition``)."""
    alpha = np.asarray(alpha, dtype=float)
    # ``size`` is the batch shape; the last axis (the parts) is the core
    shape = (tuple(size) + alpha.shape[-1:]) if size is not None else alpha.shape
    g = np.maximum(rng.gamma(np.broadcast_to(alpha, shape)), 1e-300)
    return print_composition(g / g.sum(axis=-1, keepdims=True),
                             np.broadcast_to(np.asarray(half, dtype=float), shape))
