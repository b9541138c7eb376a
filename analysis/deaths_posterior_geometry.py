"""Where the deaths fit's posterior is narrowest and widest, in the sampler's coordinates:
the eigenvalues of the correlation matrix of every free variable's draws (transformed as
nutpie sees them: positive scales on the log scale), and the variables that load most on the
smallest and largest. With a diagonal mass matrix NUTS's step size is bounded by the
narrowest direction (about the square root of the smallest eigenvalue) and its trajectory
must span the widest (the square root of the largest), so their ratio is about the number
of leapfrog steps a draw needs. It also prints how much of the step size's limit the
narrowest directions alone carry (the share of the sum of 1 / eigenvalue^2), and what a
mass matrix dense within blocks would leave: the spectrum after whitening the draws within
each country's coordinates, then within each super-region's (its group steps and levels,
its regions' and its countries' coordinates). That bounds what reparameterising the
hierarchy within those blocks could gain; the blocks' covariances are estimated from the
draws, with up to about 600 coordinates a block against 4,800 draws, which spreads their
whitened spectrum somewhat.

    python analysis/deaths_posterior_geometry.py [FIT]

FIT defaults to this project's ``models/deaths.nc`` (``make models``).
"""

from __future__ import annotations

from burden import config

config.use_process_defaults()  # as the command line does, before numpy or Numba load

import re
import sys
from collections import defaultdict

import numpy as np

from burden.models.deaths import OpioidDeaths


def main(path: str) -> None:
    fit = OpioidDeaths.load(path)
    post = fit.posterior
    model = fit.built_model()
    columns, names = [], []
    for rv in model.free_RVs:
        draws = post[rv.name].values
        draws = draws.reshape(draws.shape[0] * draws.shape[1], -1)
        transform = model.rvs_to_transforms[rv]
        if transform is not None and type(transform).__name__ == "LogTransform":
            draws = np.log(draws)
        columns.append(draws)
        da = post[rv.name]
        labels = [da[d].values for d in da.dims[2:]]
        for i in range(draws.shape[1]):
            at = np.unravel_index(i, da.shape[2:]) if labels else ()
            names.append(f"{rv.name}[{','.join(str(lab[j]) for lab, j in zip(labels, at))}]")
    x = np.concatenate(columns, axis=1)
    varying = x.std(axis=0) > 0  # a zero-sum transform's last element is fixed
    x, names = x[:, varying], [n for n, v in zip(names, varying) if v]
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    values, vectors = np.linalg.eigh(x.T @ x / len(x))
    print(f"{x.shape[1]} coordinates, {x.shape[0]} draws")
    small, large = values[values > 1e-8][:6], values[-6:][::-1]
    print("smallest eigenvalues:", np.round(small, 4))
    print("largest eigenvalues:", np.round(large, 2))
    print(f"sqrt(largest / smallest) = {np.sqrt(large[0] / small[0]):.0f}")
    # how much the narrowest directions alone limit the step: the leapfrog's energy error
    # grows with the sum over directions of (step / width)^4, i.e. of 1 / eigenvalue^2
    positive = values[values > 1e-8]
    inverse_sq = 1.0 / positive ** 2
    for k in (1, 3, 10, 50):
        print(f"the {k} smallest carry {inverse_sq[:k].sum() / inverse_sq.sum():.0%} of the "
              f"sum of 1 / eigenvalue^2 (without them the step could be "
              f"{(1 - inverse_sq[:k].sum() / inverse_sq.sum()) ** -0.25:.2f} times as long)")
    print(f"eigenvalues below 0.1: {(positive < 0.1).sum()}, above 2: {(positive > 2).sum()}, "
          f"above 5: {(positive > 5).sum()}")
    for label, picks in (("smallest", np.flatnonzero(values > 1e-8)[:3]),
                         ("largest", np.arange(len(values))[-3:][::-1])):
        for k in picks:
            top = np.argsort(-np.abs(vectors[:, k]))[:6]
            print(f"{label} {values[k]:.4f}: "
                  + ", ".join(f"{names[i]} {vectors[i, k]:+.2f}" for i in top))
    _block_bounds(fit, x, names)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _whitened_within(x: np.ndarray, blocks: list[list[int]]) -> np.ndarray:
    """x with each block of columns whitened by its own sample covariance."""
    out = x.copy()
    for cols in blocks:
        if len(cols) > 1:
            values, vectors = np.linalg.eigh(x[:, cols].T @ x[:, cols] / len(x))
            out[:, cols] = x[:, cols] @ vectors / np.sqrt(np.maximum(values, 1e-10))
    return out


def _block_bounds(fit, x: np.ndarray, names: list[str]) -> None:
    loc = fit.data["locations"]
    super_of_country = {c: _slug(s) for c, s in zip(loc["iso3"], loc["super_region_name"])}
    super_of_region = {_slug(r): _slug(s)
                       for r, s in zip(loc["region_name"], loc["super_region_name"])}

    def country(name):
        m = re.search(r"\[([A-Z]{3})[,\]]", name)
        return m.group(1) if m else None

    def super_region(name):
        if (c := country(name)) is not None:
            return super_of_country.get(c)
        if m := re.search(r"\[GBD_SR:([a-z_]+)", name):
            return m.group(1)
        if m := re.search(r"\[GBD_R:([a-z_]+)", name):
            return super_of_region.get(m.group(1))
        return None

    for label, key in (("each country", country), ("each super-region", super_region)):
        groups = defaultdict(list)
        for i, name in enumerate(names):
            groups[key(name)].append(i)
        blocks = [cols for k, cols in groups.items() if k is not None]
        y = _whitened_within(x, blocks)
        values = np.linalg.eigvalsh(y.T @ y / len(y))
        values = values[values > 1e-8]
        print(f"whitened within {label} ({len(blocks)} blocks, up to "
              f"{max(map(len, blocks))} coordinates): smallest {np.round(values[:3], 4)}, "
              f"largest {np.round(values[-3:][::-1], 2)}, sqrt(largest / smallest) = "
              f"{np.sqrt(values[-1] / values[0]):.0f}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(config.models_dir() / "deaths.nc"))
