"""Many simulated copies at a few fixed true values, drawn through a posterior SBC run's
own predictive path: does it draw the deaths model's VSRR any-opioid rows with the
likelihood's scale?

    python analysis/posterior_sbc_copies_at_truths.py --fit models/deaths.nc \\
        --worlds 38,75,0 --copies 1000

For each of ``--worlds`` (simulation numbers of a run of seed ``--seed``: the true values
at that world's posterior draw), ``--copies`` copies are drawn with the predictive
sampler ``posterior_sbc.posterior_worlds`` uses (``predictive_sampler``, reseeded per
copy) and standardised by the model's own mean and scale at those values
(``sbc_noise_control.location_and_scale``). Prints the mean and mean square of the
standardised noise by row of the any-opioid series (0 and 1 expected), the
Kolmogorov-Smirnov p of each copy's mean square over the rows without VSRR's added error
against chi2_n / n, and the mean square over all VSRR rows.
"""

from __future__ import annotations

from burden import config

config.use_process_defaults()  # as the command line does, before numpy or Numba load

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np


def main() -> None:
    import xarray as xr
    from scipy import stats

    from burden.models.posterior_predictive import predictive_sampler
    from burden.validate import posterior_sbc, sbc_specs

    sys.path.insert(0, str(Path(__file__).parent))
    from sbc_noise_control import location_and_scale

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--fit", type=Path, required=True, help="the run's saved real fit")
    p.add_argument("--worlds", default="38,75,0", help="simulation numbers, e.g. 38,75,0")
    p.add_argument("--seed", type=int, default=1, help="the run's seed (its picks)")
    p.add_argument("--copies", type=int, default=1000)
    a = p.parse_args()
    warnings.simplefilter("ignore")
    worlds = [int(w) for w in a.worlds.split(",")]
    est = posterior_sbc.load_fit(sbc_specs.spec_for("deaths"), a.fit)
    model = est.build_model(est.data)
    flat = est.posterior.stack(sample=("chain", "draw"))
    one_chain = (flat.drop_vars(["sample", "chain", "draw"]).rename(sample="draw")
                 .expand_dims("chain"))
    name = "vsrr_log_deaths"
    mean, sd = location_and_scale(model, [name], one_chain)[name]
    inp = est.inputs(est.prepare_data(est.data))
    rows = np.where(inp.us.vsrr_drug == 0)[0]
    plain = rows[inp.us.vsrr_extra_sd[rows] == 0]
    free = [rv.name for rv in model.free_RVs]
    predictive = predictive_sampler(model)
    picks = posterior_sbc.picked_draws(flat.sizes["sample"], max(worlds) + 1, a.seed)
    for world in worlds:
        j = picks[world]
        one = xr.Dataset({n: flat[n].isel(sample=[j]).drop_vars(["sample", "chain", "draw"])
                          .rename(sample="draw").expand_dims("chain") for n in free})
        z = np.array([(np.asarray(predictive(one, [99, 7, i])[name].values[0, 0]) - mean[j])
                      / sd[j] for i in range(a.copies)])
        squares = (z[:, plain] ** 2).mean(1)
        n = len(plain)
        ks = stats.kstest(squares * n, stats.chi2(n).cdf)
        scale = float(flat["sigma_vsrr"].isel(drug=0, sample=j))
        print(f"world {world} (sigma_vsrr[any_opioid] {scale:.4f}), {a.copies} copies:")
        print(f"  mean by row {np.round(z[:, rows].mean(0), 3).tolist()}")
        print(f"  mean square by row {np.round((z[:, rows] ** 2).mean(0), 3).tolist()}")
        print(f"  Kolmogorov-Smirnov against chi2_{n}/{n}: p {ks.pvalue:.3f}; mean square "
              f"over all {z.shape[1]} VSRR rows {np.mean(z ** 2):.3f}")


if __name__ == "__main__":
    main()
