"""Posterior SBC of an error scale on a toy with a mean free in each year: is the method
calibrated on that structure, with nutpie as the deaths model's runs sample?

    python analysis/posterior_sbc_toy.py --seed 2 --sims 200 --form non_centred

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
"""

from __future__ import annotations

import argparse

import numpy as np

YEARS = 10
#: LogNormal(mu, sigma) of both scales: the deaths model's sigma_vsrr prior
SCALE_PRIOR = (-2.9957, 0.6)


def build(y: np.ndarray, form: str, copy: np.ndarray | None = None):
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
    a = p.parse_args()
    rng = np.random.default_rng(a.seed)
    y = 0.01 * rng.standard_normal(YEARS)
    real = fit(build(y, a.form), a.seed).stack(sample=("chain", "draw"))
    sigma, tau, z = (real[v].values for v in ("sigma", "tau", "z"))
    z = z.T
    refit_model = build(y, a.form, np.zeros(YEARS))
    pits = []
    for i in range(a.sims):
        k = rng.integers(len(sigma))
        mean = z[k] * tau[k] if a.form == "non_centred" else z[k]
        with refit_model:
            pm.set_data({"copy": mean + sigma[k] * rng.standard_normal(YEARS)})
        draws = fit(refit_model, 1000 + i)["sigma"].values.ravel()[::4]
        pits.append(float((draws < sigma[k]).mean()))
    pits = np.array(pits)
    print(f"form {a.form}, seed {a.seed}: real posterior of sigma {sigma.mean():.4f} "
          f"(sd {sigma.std():.4f})")
    print("PIT decile counts", np.histogram(pits, bins=10, range=(0, 1))[0].tolist(),
          f"below 0.05: {(pits < 0.05).sum()}, above 0.95: {(pits > 0.95).sum()} "
          f"(uniform: {a.sims / 10:g} a decile, {a.sims / 20:g} each tail)")


if __name__ == "__main__":
    main()
