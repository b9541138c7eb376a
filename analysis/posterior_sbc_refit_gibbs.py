"""Refit chosen worlds of a deaths posterior SBC run and check the refit's own draws of
the VSRR any-opioid error scale against its one-dimensional conditional posterior.

    python analysis/posterior_sbc_refit_gibbs.py --fit models/deaths.nc --worlds 38,75

``sigma_vsrr[any_opioid]`` enters only the VSRR any-opioid rows, so its posterior given
every other parameter is prior × those rows' Normal densities
(``posterior_sbc_conditional_pit.conditional_pit``). At each 4th draw of a correct
refit, the draw's quantile in that conditional, given the draw's other parameters and
both the real data and the world's copy, is uniform. Each world is fitted as the run
fitted it (``sbc.sample_simulation``, its seed; about 2 minutes a world on one core
here). Prints the refit's mean and sd of the scale and the quantiles' decile counts with
the band test's p-value.
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
    from burden.validate import posterior_sbc, sbc, sbc_specs

    sys.path.insert(0, str(Path(__file__).parent))
    from posterior_sbc_conditional_pit import conditional_pit, deciles
    from sbc_noise_control import location_and_scale

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--fit", type=Path, required=True, help="the run's saved real fit")
    p.add_argument("--worlds", default="38,75", help="simulation numbers, e.g. 38,75")
    p.add_argument("--seed", type=int, default=1, help="the run's seed")
    a = p.parse_args()
    warnings.simplefilter("ignore")
    worlds = [int(w) for w in a.worlds.split(",")]
    base = sbc_specs.spec_for("deaths")
    est = posterior_sbc.load_fit(base, a.fit)
    spec = posterior_sbc.posterior_spec(base, est, a.fit)
    sims, _, _ = posterior_sbc.posterior_worlds(spec, est, a.fit, max(worlds) + 1, a.seed)
    model = est.build_model(est.data)
    inp = est.inputs(est.prepare_data(est.data))
    rows = np.where(inp.us.vsrr_drug == 0)[0]
    extra = inp.us.vsrr_extra_sd[rows]
    name = "vsrr_log_deaths"
    for world in worlds:
        sim = sims[world]
        _, post, _, _, seconds = sbc.sample_simulation(spec, sim, sim.seed)
        flat = post.stack(sample=("chain", "draw"))
        one = (flat.drop_vars(["sample", "chain", "draw"]).rename(sample="draw")
               .expand_dims("chain"))[[rv.name for rv in model.free_RVs]]
        mean, _ = location_and_scale(model, [name], one)[name]
        scale = np.asarray(flat["sigma_vsrr"].isel(drug=0))
        real = np.asarray(sim.data[name])[rows]
        copy = np.asarray(sim.data[posterior_sbc.replicate_name(name)])[rows]
        pits = [conditional_pit([real, copy], mean[k, rows], extra, scale[k])
                for k in range(0, len(scale), 4)]
        print(f"world {world} (sampled in {seconds:.0f} s): refit sigma_vsrr[any_opioid] "
              f"{scale.mean():.4f} (sd {scale.std():.4f}); its draws in their conditional: "
              f"{deciles(pits)}", flush=True)


if __name__ == "__main__":
    main()
