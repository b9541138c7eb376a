"""The Logistic distribution's log-survival function, which PyMC lacks.

``pm.Censored`` right-censors with the base distribution's log-survival function and,
without one, takes log(1 - exp(log-CDF)), which is -inf wherever the CDF rounds to 1: a
fit whose bound ends up far on the censored side gets an infinite log density. Importing
this module registers the exact tail for every Logistic in the process
(``burden.models.base`` imports it, so every estimator has it). Production's bounds use it (``OpiumProduction``; docs/models/shares.md,
"Version 6").
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
from pymc.logprob.abstract import _logccdf
from pytensor.tensor.random.basic import LogisticRV

#: a Logistic's scale per standard deviation (its variance is (pi s)^2 / 3)
LOGISTIC_PER_SD = float(np.sqrt(3.0) / np.pi)


@_logccdf.register(LogisticRV)
def logistic_logccdf(op, value, *inputs):
    """log P(X > value) of a Logistic: -log(1 + exp((value - mu) / s)), its exact tail."""
    mu, s = inputs[-2:]
    return -pt.log1pexp((value - mu) / s)
