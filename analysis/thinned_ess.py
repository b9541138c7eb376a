"""How much of a saved fit's effective sample size every k-th draw keeps.

    python analysis/thinned_ess.py FIT.nc [--thin 1,2,3]

For each ``thin`` (1: every draw), keeps every ``thin``-th draw of each chain of the free
variables in FIT's posterior (the first included) and prints the smallest bulk and tail
effective sample size and the largest R-hat over every variable and element, with where
each is (ArviZ's ``ess`` and ``rhat``; its tail ESS at ArviZ's default, not the 5% and
95% quantiles of the package's own diagnostics). Read it on a compact fit, whose posterior
holds the free variables only (a full-format file holds every Deterministic too, which
then count), saved with every bit of all its draws: e.g. the pipeline's deaths fit with
``sampler_config={"thin": 1}``. The decision it informs is how many draws a saved fit
needs to keep (issue 12; ``SamplerConfig.thin``).
"""

from __future__ import annotations

import argparse
import time

import arviz as az
import xarray as xr


def extremes(post: xr.Dataset, thin: int) -> dict[str, tuple[float, str]]:
    """min bulk ESS, min tail ESS and max R-hat of ``post`` at every ``thin``-th draw,
    each with the variable it is found in."""
    kept = post.isel(draw=slice(None, None, thin))
    stats = {"bulk": az.ess(kept, method="bulk"), "tail": az.ess(kept, method="tail"),
             "rhat": az.rhat(kept)}
    out = {}
    for key, ds in stats.items():
        values = {name: float(ds[name].max() if key == "rhat" else ds[name].min())
                  for name in ds.data_vars}
        pick = max if key == "rhat" else min
        name = pick(values, key=values.get)
        out[key] = (values[name], name)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fit", help="a saved fit (netCDF)")
    parser.add_argument("--thin", default="1,2,3", help="comma-separated (default 1,2,3)")
    args = parser.parse_args()
    post = xr.open_datatree(args.fit)["posterior"].to_dataset()
    names = [v for v in post.data_vars if {"chain", "draw"} <= set(post[v].dims)]
    post = post[names]
    print(f"{args.fit}: {len(names)} variables, {post.sizes['chain']} chains x "
          f"{post.sizes['draw']} draws")
    print("| thin | draws a chain | min bulk ESS (where) | min tail ESS (where) | "
          "max R-hat (where) | seconds |")
    print("|---|---|---|---|---|---|")
    for thin in (int(t) for t in args.thin.split(",")):
        start = time.perf_counter()
        ex = extremes(post, thin)
        draws = len(range(0, post.sizes["draw"], thin))
        print(f"| {thin} | {draws} | {ex['bulk'][0]:.0f} ({ex['bulk'][1]}) | "
              f"{ex['tail'][0]:.0f} ({ex['tail'][1]}) | {ex['rhat'][0]:.4f} "
              f"({ex['rhat'][1]}) | {time.perf_counter() - start:.0f} |", flush=True)


if __name__ == "__main__":
    main()
