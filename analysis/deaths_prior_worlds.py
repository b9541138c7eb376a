"""Where the real data sit among the deaths model's prior worlds (docs/models/deaths.md,
"Worlds like ours").

    python analysis/deaths_prior_worlds.py [--sims N] [--seed S] [--model-config JSON]

draws the N prior worlds of ``burden validate sbc --model deaths --sims N --seed S`` (the
reduced design) and prints, for each data summary of ``burden.validate.sbc_worlds`` (data
only: no parameter enters), the real data's value, the prior worlds' 5, 25, 50, 75 and 95%
quantiles, and the share of worlds below the real value; then how many worlds the
plausibility rule accepts, and why the others fail it. ``--model-config`` is merged over
the model's settings, as ``burden validate sbc --model-config`` (e.g. another prior). Needs
``data/processed`` (``make data``).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=400)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--model-config", default="{}")
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    from burden.config import use_process_defaults

    use_process_defaults()
    from burden.validate import sbc, sbc_worlds

    start = time.perf_counter()
    spec = sbc.spec_for("deaths")
    spec = sbc.SBCSpec(**{**spec.__dict__, "model_config": {**spec.model_config,
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
    reasons = [rule.reject_reason(sim.data) for sim in sims]
    accepted = sum(r is None for r in reasons)
    print(f"\naccepted: {accepted} of {len(sims)}")
    failed: dict[str, int] = {}
    for r in reasons:
        for name in (r or "").split("; "):
            if name:
                key = name.split(" ")[0]
                failed[key] = failed.get(key, 0) + 1
    for name, n in sorted(failed.items(), key=lambda kv: -kv[1]):
        print(f"  outside {name}: {n}")


if __name__ == "__main__":
    main()
