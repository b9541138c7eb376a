"""Where the real data sit among the deaths model's prior worlds (docs/validation/sbc.md,
"deaths: worlds like ours").

    python analysis/deaths_prior_worlds.py [--sims N] [--seed S] [--model-config JSON]

draws the N prior worlds of ``burden validate sbc --model deaths --sims N --seed S`` (the
reduced design) and prints, for each data summary of ``burden.validate.sbc_worlds`` (data
only: no parameter enters), the real data's value, the prior worlds' 5, 25, 50, 75 and 95%
quantiles, and the share of worlds below the real value. Then it prints how many worlds
the plausibility rule accepts and how many each band rejects (a world may fail several),
and the same with the bands also held within each super-region (a diagnostic, not the
rule). ``--model-config`` is merged over the model's settings, as ``burden validate sbc
--model-config`` (e.g. another prior). Needs ``data/processed`` (``make data``).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

from burden.config import use_process_defaults

use_process_defaults()  # as the command line does, before numpy or Numba load

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=400)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--model-config", default="{}")
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    from burden.validate import sbc, sbc_specs, sbc_worlds

    start = time.perf_counter()
    spec = sbc_specs.spec_for("deaths")
    spec = sbc_specs.SBCSpec(**{**spec.__dict__, "model_config": {**spec.model_config,
                                                           **json.loads(args.model_config)}})
    rule = sbc_worlds.deaths_rule(spec)
    sims, _ = sbc.simulate(spec, args.sims, args.seed)
    # the rule's summaries and, as a diagnostic, the same within each super-region
    inp, real_data = sbc_worlds.deaths_real_data(spec)
    detailed = sbc_worlds.deaths_summaries(inp, by_super_region=True)
    real = detailed(real_data)
    table = [detailed(sim.data) for sim in sims]
    print(f"{args.sims} prior worlds, seed {args.seed}, "
          f"{time.perf_counter() - start:.0f} s\n")
    print("| summary | real | 5% | 25% | 50% | 75% | 95% | worlds below real | "
          "accepted band |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, value in real.items():
        values = np.array([row[name] for row in table])
        q = np.nanquantile(values, [0.05, 0.25, 0.5, 0.75, 0.95])
        band = (f"{rule.bands[name][0]:.3g} to {rule.bands[name][1]:.3g}"
                if name in rule.bands else "(diagnostic only)")
        print(f"| {name} | {value:.3g} | " + " | ".join(f"{v:.3g}" for v in q)
              + f" | {np.mean(values < value):.0%} | {band} |")
    _report(rule, sims, "the rule (pooled summaries)")
    # the same bands held within each super-region as well (not the rule: a diagnostic)
    strict = sbc_worlds.WorldRule(
        "pooled and per super-region", real,
        {name: rule.bands[name.split("[")[0]] for name in real
         if name.split("[")[0] in rule.bands and np.isfinite(real[name])}, detailed)
    _report(strict, sims, "the same bands within each super-region as well")


def _report(rule, sims, what: str) -> None:
    from burden.validate import sbc_worlds

    accepted, counts = sbc_worlds.rejections(rule, [sim.data for sim in sims])
    print(f"\n{what}: accepted {len(accepted)} of {len(sims)}; worlds outside each band:")
    for name, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"  {name}: {n}")


if __name__ == "__main__":
    main()
