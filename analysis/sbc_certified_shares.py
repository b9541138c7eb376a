"""The certified SBC's fits by how extreme a drug's share of US opioid deaths is in their
world (docs/validation/sbc.md, "certified version 3").

    python analysis/sbc_certified_shares.py RUN_FOLDER [--seed S]

redraws the prior worlds of the run in RUN_FOLDER (``burden validate sbc --model
certified --sims N --seed S --out RUN_FOLDER``: the same N, seed and model version give the
same worlds) and prints, per class of world, how many fits converged, had a divergence,
R-hat above 1.01 (and 1.1: chains
stuck apart) or bulk ESS below 400. Classes, from the counts and nowcasts alone
(``sbc_worlds.certified_summaries``): the most extreme share logit within the certified
rule's band around the real data's; finite, outside it; a drug counted 0 times; a drug
counted at least as often as all opioids in the same window. Needs ``data/processed``.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd


def world_classes(sims, rule, inp) -> list[str]:
    """The class of each simulated world (see the module's docstring)."""
    from burden.models.certified import observation_rows, row_values, split_partner

    partner = split_partner(inp.obs)
    drug = np.flatnonzero(partner >= 0)
    low, high = rule.bands["us_share_logit_most_extreme"]
    out = []
    for sim in sims:
        values = row_values(inp.obs, sim.data)
        counted = np.isin(np.arange(len(inp.obs)),
                          np.concatenate([r for n, r in observation_rows(inp.obs).items()
                                          if n != "reported_lower_bound"]))
        d = drug[counted[drug]]
        extreme = rule.summaries(sim.data)["us_share_logit_most_extreme"]
        if (values[d] >= values[partner[d]]).any():
            out.append("a drug counted as often as all opioids or more")
        elif (values[d] == 0).any():
            out.append("a drug counted 0 times")
        elif low <= extreme <= high:
            out.append("within the rule's band")
        else:
            out.append("finite, outside the band")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--seed", type=int, default=None,
                        help="the run's seed (default: its manifest's)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    from burden.validate import sbc, sbc_specs, sbc_worlds

    manifest = json.loads((args.run / "manifest.json").read_text())
    seed = manifest["seed"] if args.seed is None else args.seed
    table = pd.read_csv(args.run / "sims.csv").set_index("sim").sort_index()
    spec = sbc_specs.spec_for("certified")
    sims, _ = sbc.simulate(spec, len(table), seed)
    rule = sbc_worlds.certified_rule(spec)
    inp, _ = sbc_worlds.certified_real_data(spec)
    table["world class"] = world_classes(sims, rule, inp)
    ok = table["status"] == "ok"
    grouped = table[ok].groupby("world class")
    out = pd.DataFrame({
        "worlds": table.groupby("world class").size(),
        "converged": grouped["converged"].sum().astype(int),
        "with a divergence": grouped["divergences"].apply(lambda d: int((d > 0).sum())),
        "divergences": grouped["divergences"].sum().astype(int),
        "R-hat above 1.01": grouped["r_hat_max"].apply(lambda r: int((r > 1.01).sum())),
        "R-hat above 1.1": grouped["r_hat_max"].apply(lambda r: int((r > 1.1).sum())),
        "bulk ESS below 400": grouped["ess_bulk_min"].apply(lambda e: int((e < 400).sum())),
    }).fillna(0).astype(int)
    out.loc["all"] = out.sum()
    print(f"{args.run}: model version {manifest.get('model_version', '?')}, seed {seed}, "
          f"{len(table)} worlds, {int((~ok).sum())} failed fits")
    print(out.to_string())


if __name__ == "__main__":
    main()
