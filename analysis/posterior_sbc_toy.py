"""Posterior SBC of an error scale on a toy with a mean free in each year: is the method
calibrated on that structure, with nutpie as the deaths model's runs sample?

    python analysis/posterior_sbc_toy.py --seed 2 --sims 200 --form non_centred \
        [--series one|two]

The toy: 10 years, a mean per year ~ N(0, tau^2) (``--form centred``, or
non-centred as z * tau), one observation a year ~ N(mean, sigma^2), tau and sigma
LogNormal(-2.9957, 0.6) (the prior of the deaths model's ``sigma_vsrr`` and
``sigma_us_year``, burden/models/deaths.py). Its "real" data are 0.01 times standard
normal draws (the size of the VSRR any-opioid residuals). As ``--worlds posterior``
does (docs/validation/sbc.md, "Posterior worlds"): true values are draws of the real
data's posterior, a copy y' is drawn at them, and the model is fitted to (y, y'); the
PIT of sigma is the share of the refit's draws (every 4th) below the true value.
Prints the PITs' decile counts and how many fall below 0.05 and above 0.95 (uniform:
1/10 and 1/20 of ``--sims``). About 4 minutes for 200 worlds on one core here.

``--series two`` adds what the deaths model's VSRR any-opioid rows have and the one-series
toy lacks: a second series of the same means with its own scale (NCHS's, ``sigma_nchs``'s
prior) in the first 5 years only, as NCHS's final counts overlap VSRR's in 2015-2019 and
VSRR alone covers 2020-2024; and real data where the second series is the first plus
0.005 in every shared year, as VSRR sits above NCHS there in all 20 pairs
(``python analysis/us_certified_overlap.py``, 2026-12-08: mean log difference 0.0052).
The PIT is of the scale of the series covering every year (``sigma``, VSRR's).
"""

from __future__ import annotations

import argparse

import numpy as np

YEARS = 10
#: LogNormal(mu, sigma) of both scales: the deaths model's sigma_vsrr prior
SCALE_PRIOR = (-2.9957, 0.6)


#: ``--series two``: the years the second series (NCHS-like) covers, and its real data's
#: offset below the first (VSRR-like) there
SHARED_YEARS = 5
OFFSET = 0.005


def build(y: np.ndarray, form: str, copy: np.ndarray | None = None,
          second: np.ndarray | None = None, second_copy: np.ndarray | None = None):
    import pymc as pm

    with pm.Model() as model:
        tau = pm.LogNormal("tau", *SCALE_PRIOR)
        sigma = pm.LogNormal("sigma", *SCALE_PRIOR)
        if form == "non_centred":
            mean = pm.Normal("z", 0.0, 1.0, shape=YEARS) * tau
        else:
            mean = pm.Normal("z", 0.0, tau, shape=YEARS)
        pm.Normal("y", mean, sigma, observed=y)
        if copy is not None:
            pm.Normal("y_copy", mean, sigma, observed=pm.Data("copy", copy))
        if second is not None:
            sigma_2 = pm.LogNormal("sigma_2", *SCALE_PRIOR)
            pm.Normal("y2", mean[:SHARED_YEARS], sigma_2, observed=second)
            if second_copy is not None:
                pm.Normal("y2_copy", mean[:SHARED_YEARS], sigma_2,
                          observed=pm.Data("copy_2", second_copy))
    return model


def fit(model, seed: int):
    import pymc as pm

    with model:
        idata = pm.sample(draws=1000, tune=1000, chains=4, random_seed=seed,
                          target_accept=0.9, nuts_sampler="nutpie", progressbar=False,
                          compute_convergence_checks=False)
    return idata.posterior.to_dataset()


def main() -> None:
    import pymc as pm

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=2)
    p.add_argument("--sims", type=int, default=200)
    p.add_argument("--form", choices=("centred", "non_centred"), default="non_centred")
    p.add_argument("--series", choices=("one", "two"), default="one")
    a = p.parse_args()
    rng = np.random.default_rng(a.seed)
    y = 0.01 * rng.standard_normal(YEARS)
    second = y[:SHARED_YEARS] - OFFSET if a.series == "two" else None
    real = fit(build(y, a.form, second=second), a.seed).stack(sample=("chain", "draw"))
    sigma, tau, z = (real[v].values for v in ("sigma", "tau", "z"))
    sigma_2 = real["sigma_2"].values if second is not None else None
    z = z.T
    refit_model = build(y, a.form, np.zeros(YEARS), second,
                        None if second is None else np.zeros(SHARED_YEARS))
    pits = []
    for i in range(a.sims):
        k = rng.integers(len(sigma))
        mean = z[k] * tau[k] if a.form == "non_centred" else z[k]
        copies = {"copy": mean + sigma[k] * rng.standard_normal(YEARS)}
        if second is not None:
            copies["copy_2"] = (mean[:SHARED_YEARS]
                                + sigma_2[k] * rng.standard_normal(SHARED_YEARS))
        with refit_model:
            pm.set_data(copies)
        draws = fit(refit_model, 1000 + i)["sigma"].values.ravel()[::4]
        pits.append(float((draws < sigma[k]).mean()))
    pits = np.array(pits)
    print(f"form {a.form}, series {a.series}, seed {a.seed}: real posterior of sigma "
          f"{sigma.mean():.4f} (sd {sigma.std():.4f})")
    print("PIT decile counts", np.histogram(pits, bins=10, range=(0, 1))[0].tolist(),
          f"below 0.05: {(pits < 0.05).sum()}, above 0.95: {(pits > 0.95).sum()} "
          f"(uniform: {a.sims / 10:g} a decile, {a.sims / 20:g} each tail)")


if __name__ == "__main__":
    main()
