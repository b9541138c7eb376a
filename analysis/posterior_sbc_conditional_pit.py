"""The conditional PIT of the deaths model's VSRR any-opioid error scale in a posterior SBC
run's worlds, without any refit: are its true values and simulated copies consistent?

    python analysis/posterior_sbc_conditional_pit.py --fit models/deaths.nc \\
        --simulations 200 --seed 1

``sigma_vsrr[any_opioid]`` has its own prior (LogNormal(-2.9957, 0.6), ``DeathsPriors.
sigma_nchs``) and enters only the VSRR any-opioid rows, as sqrt(sigma^2 + extra^2).
So its conditional posterior given every other parameter is one-dimensional:
prior × those rows' Normal densities. In a posterior SBC world (true values theta* a draw
of the real fit, copy y' drawn at them), the true value's quantile in p(sigma |
theta*_-sigma, y, y') is uniform over the worlds when theta* is a posterior draw and y'
comes from the likelihood: no refit is involved. The script prints the decile counts
and the band test's p-value (the run's test) of that quantile given y and y', given y
alone (checks the true values alone), and at every third draw of the saved fit given y
(checks the conditional computed here); then
the copies' squared standardised noise on those rows, world by world, against its
chi-squared distribution; and for every NCHS and VSRR series, the correlation of the
copies' and the real data's standardised residuals at the truths (0 expected) and the
copies' squared noise by row (1 expected).
Run it in the clone of the run, with its fit (the worlds are drawn again from it).
"""

from __future__ import annotations

from burden import config

config.use_process_defaults()  # as the command line does, before numpy or Numba load

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

#: sigma_vsrr's prior (burden/models/deaths.py, ``DeathsPriors.sigma_nchs``)
PRIOR_MU, PRIOR_SIGMA = -2.9957, 0.6
GRID = np.exp(np.linspace(np.log(1e-4), np.log(0.3), 4000))


def conditional_pit(observations: list[np.ndarray], mean: np.ndarray, extra: np.ndarray,
                    truth: float) -> float:
    """Share of p(sigma | mean, observations) below ``truth`` (on ``GRID``)."""
    from scipy import stats

    sd = np.sqrt(GRID[:, None] ** 2 + extra[None, :] ** 2)
    logp = stats.lognorm.logpdf(GRID, s=PRIOR_SIGMA, scale=np.exp(PRIOR_MU))
    for y in observations:
        logp = logp + stats.norm.logpdf(y[None, :], mean[None, :], sd).sum(1)
    w = np.exp(logp - logp.max()) * np.gradient(GRID)
    return float(w[GRID < truth].sum() / w.sum())


def deciles(p: list[float]) -> str:
    """Decile counts, tails, mean and the band test's p-value (``sbc_stats``, as a run's)."""
    from burden.validate.sbc_stats import band_p_values

    p = np.asarray(p)
    return (f"deciles {np.histogram(p, bins=10, range=(0, 1))[0].tolist()}, below 0.05: "
            f"{(p < 0.05).sum()}, above 0.95: {(p > 0.95).sum()}, mean {p.mean():.3f}, "
            f"band test p {band_p_values(p)[0]:.5f} (n {len(p)})")


def main() -> None:
    from burden.validate import posterior_sbc, sbc_specs

    sys.path.insert(0, str(Path(__file__).parent))
    from sbc_noise_control import location_and_scale

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--fit", type=Path, required=True, help="the run's saved real fit")
    p.add_argument("--simulations", type=int, default=200)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    warnings.simplefilter("ignore")
    base = sbc_specs.spec_for("deaths")
    est = posterior_sbc.load_fit(base, a.fit)
    spec = posterior_sbc.posterior_spec(base, est, a.fit)
    sims, _, _ = posterior_sbc.posterior_worlds(spec, est, a.fit, a.simulations, a.seed)
    flat = est.posterior.stack(sample=("chain", "draw"))
    one_chain = (flat.drop_vars(["sample", "chain", "draw"]).rename(sample="draw")
                 .expand_dims("chain"))
    name = "vsrr_log_deaths"
    located = location_and_scale(est.build_model(est.data), [name, "nchs_log_deaths"],
                                 one_chain)
    mean, sigma = located[name]
    inp = est.inputs(est.prepare_data(est.data))
    rows = np.where(inp.us.vsrr_drug == 0)[0]
    extra = inp.us.vsrr_extra_sd[rows]
    scale = np.asarray(flat["sigma_vsrr"].isel(drug=0))
    if not np.allclose(sigma[:, rows], np.sqrt(scale[:, None] ** 2 + extra[None, :] ** 2)):
        raise SystemExit("the model's VSRR any-opioid scale is not sqrt(sigma^2 + extra^2)")
    picks = posterior_sbc.picked_draws(flat.sizes["sample"], a.simulations, a.seed)
    real = np.asarray(sims[0].data[name])[rows]
    both, alone, noise = [], [], []
    for i, sim in enumerate(sims):
        k = picks[i]
        copy = np.asarray(sim.data[posterior_sbc.replicate_name(name)])[rows]
        both.append(conditional_pit([real, copy], mean[k, rows], extra, scale[k]))
        alone.append(conditional_pit([real], mean[k, rows], extra, scale[k]))
        plain = extra == 0  # the rows without VSRR's added error
        noise.append(np.mean(((copy - mean[k, rows]) / sigma[k, rows])[plain] ** 2))
    print("sigma_vsrr[any_opioid] at the true values of every other parameter")
    print("  given y and the copy y':", deciles(both))
    print("  given y alone:          ", deciles(alone))
    every = [conditional_pit([real], mean[k, rows], extra, scale[k])
             for k in range(0, len(scale), 3)]
    print("  saved draws, given y:   ", deciles(every))
    from scipy import stats

    n = int((extra == 0).sum())
    noise = np.asarray(noise)
    print(f"the copies' mean squared standardised noise over the {n} rows without added "
          f"error, world by world: mean {noise.mean():.3f} (1 expected)")
    for level in (1.5, 2.0, 2.5):
        print(f"  share of worlds above {level}: {np.mean(noise > level):.3f} (chi2_{n}/{n}: "
              f"{stats.chi2.sf(level * n, n):.3f})")
    ks = stats.kstest(noise * n, stats.chi2(n).cdf)
    print(f"  Kolmogorov-Smirnov against chi2_{n}/{n}: D {ks.statistic:.3f}, p {ks.pvalue:.3f}")
    print("every certified series: the copies' and the real data's standardised residuals "
          "at the truths")
    for series, drugs in ((name, inp.us.vsrr_drug), ("nchs_log_deaths", inp.us.nchs_drug)):
        mu_s, sd_s = located[series]
        real_s = np.asarray(sims[0].data[series])
        copies = np.stack([np.asarray(sim.data[posterior_sbc.replicate_name(series)])
                           for sim in sims])
        z_copy = (copies - mu_s[picks]) / sd_s[picks]
        z_real = (real_s[None, :] - mu_s[picks]) / sd_s[picks]
        for d in np.unique(drugs):
            cols = drugs == d
            a_, b_ = z_real[:, cols].ravel(), z_copy[:, cols].ravel()
            print(f"  {series} drug {d}: correlation {np.corrcoef(a_, b_)[0, 1]:+.3f} "
                  f"(se {1 / np.sqrt(len(a_)):.3f}, {len(a_)} rows); copies' squared noise "
                  f"by row {np.round((z_copy[:, cols] ** 2).mean(0), 2).tolist()}")


if __name__ == "__main__":
    main()
