"""printed_dirichlet: a Dirichlet composition observed through whole-percent figures."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import stats

from burden.models import printed_dirichlet

HALF = 0.005  # half a whole percent


@pytest.fixture(scope="module")
def logp():
    value, alpha, half = pt.dmatrix("value"), pt.dmatrix("alpha"), pt.dmatrix("half")
    out = printed_dirichlet.logp(value, alpha, half)
    grads = pytensor.grad(out.sum(), alpha)
    return (pytensor.function([value, alpha, half], out),
            pytensor.function([value, alpha, half], grads))


def _two_part_grid():
    printed = np.arange(101) / 100
    return np.stack([printed, 1 - printed], axis=1), np.tile([HALF, 0.0], (101, 1))


@pytest.mark.parametrize("alpha", [(2.0, 50.0), (0.3, 30.0), (80.0, 20.0), (5.0, 300.0)])
def test_a_printed_part_and_its_rest_get_their_cell_probability(logp, alpha):
    """One printed part and the rest (a Beta): below 5% the probability is exactly the
    integral of Beta(alpha) over the rounding cell; above, the density times the cell's
    width, within 2% of it inside the Beta's central 99% (further out the density's slope
    across the cell grows); over every possible printing they sum to 1 within 1%."""
    values, half = _two_part_grid()
    lp = logp[0](values, np.tile(alpha, (101, 1)), half)
    lower = np.clip(values[:, 0] - HALF, 0, 1)
    upper = np.clip(values[:, 0] + HALF, 0, 1)
    exact = stats.beta.cdf(upper, *alpha) - stats.beta.cdf(lower, *alpha)
    small = values[:, 0] < printed_dirichlet.SMALL
    keep = exact > 1e-200
    np.testing.assert_allclose(np.exp(lp[keep & small]), exact[keep & small], rtol=1e-6,
                               atol=1e-12)
    central = stats.beta.ppf([0.005, 0.995], *alpha)
    bulk = ~small & (lower >= central[0]) & (upper <= central[1])
    np.testing.assert_allclose(np.exp(lp[bulk]), exact[bulk], rtol=0.02)
    assert np.exp(lp).sum() == pytest.approx(1.0, abs=0.01)


def test_a_printed_zero_is_the_probability_of_less_than_half_a_percent(logp):
    alpha = np.array([[0.2, 40.0]])
    lp = logp[0](np.array([[0.0, 1.0]]), alpha, np.array([[HALF, 0.0]]))
    assert np.exp(lp[0]) == pytest.approx(stats.beta.cdf(HALF, 0.2, 40.0), rel=1e-6)


def test_log_probability_and_gradient_stay_finite_far_in_a_tail(logp):
    """Far from the parameters' mass the cell probability underflows; the density times
    the cell width stands in, so sampling can start anywhere."""
    values = np.array([[0.99, 0.0, 0.01]])
    alpha = np.array([[0.5, 700.0, 0.5]])
    half = np.full((1, 3), HALF)
    assert np.isfinite(logp[0](values, alpha, half)).all()
    assert np.isfinite(logp[1](values, alpha, half)).all()


def test_printing_rounds_printed_parts_and_gives_the_rest_what_they_leave():
    x = np.array([[0.60437, 0.0015, 0.39413], [0.004, 0.98, 0.016]])
    half = np.array([[HALF, HALF, 0.0], [HALF, 0.5 / 97, 0.0]])
    printed = printed_dirichlet.print_composition(x, half)
    np.testing.assert_allclose(printed[0], [0.60, 0.0, 0.40])
    np.testing.assert_allclose(printed[1, :2], [0.0, 95 / 97])  # rounded of the 97%
    assert printed[1, 2] == pytest.approx(1 - 95 / 97)


def test_random_draws_are_printed_dirichlet_draws():
    """Predictive draws: on the whole-percent grid, the rest 1 minus the printed parts,
    and on average the Dirichlet mean."""
    rng = np.random.default_rng(4)
    alpha = np.array([[6.0, 3.0, 1.0]])
    half = np.array([[HALF, HALF, 0.0]])
    draws = printed_dirichlet.random(alpha, half, rng=rng, size=(20000, 1))
    assert draws.shape == (20000, 1, 3)
    np.testing.assert_allclose(draws[..., :2] * 100, np.round(draws[..., :2] * 100),
                               atol=1e-9)
    np.testing.assert_allclose(draws.sum(-1), 1.0)
    # Dirichlet means 0.6, 0.3, 0.1; the standard error of 20,000 draws is < 0.004
    np.testing.assert_allclose(draws.mean(axis=(0, 1)), [0.6, 0.3, 0.1], atol=0.01)
