"""The measurements behind the certified model's mass-matrix settings (docs/models/certified.md,
"Version 2").

    python analysis/certified_mass_matrix.py [SEED]

fits the certified model once (which compiles it), then samples the compiled model with
nutpie directly, 4 chains on 2 cores, for each setting below, and prints the wall time,
max R-hat, min bulk ESS (over every free variable and the deaths), divergences and mean
leapfrog steps per draw: the diagonal mass matrix, the low-rank one with nutpie's default
regularisation (``mass_matrix_gamma`` 1e-5), the same with 100 draws after the 1,000
tuning steps (what the tuning costs), with 200 tuning steps, with ``mass_matrix_eigval_cutoff``
1,000 and with ``mass_matrix_gamma`` 1e-3. Needs ``data/processed`` (``make data``).
"""

from __future__ import annotations

from burden import config

config.use_process_defaults()  # as the command line does, before numpy or Numba load

import sys
import time

import numpy as np


def main(seed: int = 1) -> None:
    import nutpie

    from burden.fits import read_tables
    from burden.models import fast_diagnostics
    from burden.models.certified import CertifiedDeaths

    model = CertifiedDeaths(sampler_config={"random_seed": seed})
    model.fit(read_tables(CertifiedDeaths.data_tables))
    compiled = model.compiled_model(model.model)
    settings = [
        ("diagonal, 1,000 tuning + 1,000 draws", {"adaptation": "diag"}, 1000, 1000),
        ("low-rank, gamma 1e-5 (nutpie's default)", {"adaptation": "low_rank"}, 1000, 1000),
        ("low-rank, gamma 1e-5, 1,000 tuning + 100 draws", {"adaptation": "low_rank"}, 1000, 100),
        ("low-rank, gamma 1e-5, 200 tuning", {"adaptation": "low_rank"}, 200, 1000),
        ("low-rank, eigval cutoff 1,000", {"adaptation": "low_rank",
                                           "mass_matrix_eigval_cutoff": 1000.0}, 1000, 1000),
        ("low-rank, gamma 1e-3", {"adaptation": "low_rank", "mass_matrix_gamma": 1e-3},
         1000, 1000),
    ]
    print("| setting | wall s | max R-hat | min bulk ESS | divergences | leapfrog steps |")
    print("|---|---|---|---|---|---|")
    for label, kwargs, tune, draws in settings:
        start = time.perf_counter()
        idata = nutpie.sample(compiled, chains=4, cores=2, seed=seed, target_accept=0.9,
                              tune=tune, draws=draws, progress_bar=False, **kwargs)
        wall = time.perf_counter() - start
        post = idata["posterior"].to_dataset()
        flat = np.concatenate([post[v].values.reshape(*post[v].shape[:2], -1)
                               for v in post.data_vars], axis=-1)
        stats = fast_diagnostics.summarise(flat)
        sample_stats = idata["sample_stats"]
        print(f"| {label} | {wall:.1f} | {np.nanmax(stats['r_hat']):.4f} | "
              f"{np.nanmin(stats['ess_bulk']):,.0f} | {int(sample_stats['diverging'].sum())} | "
              f"{float(sample_stats['n_steps'].mean()):.1f} |", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
