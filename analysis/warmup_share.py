"""How much of a fit's sampling is warm-up: leapfrog steps in nutpie's tuning draws against
the kept draws, and the tuning draws' mean steps by block of 100.

    python analysis/warmup_share.py FIT [SEED]

FIT is one of the pipeline's fits (``burden.fits.FITS``) with its default settings, on this
project's processed tables (``make data``). The saved fits drop the warm-up; this keeps
nutpie's own trace for the count. Nothing is saved. Used on the deaths fit
(docs/performance.md, "Profile of c582e6f on a new machine").
"""

from __future__ import annotations

import sys

from burden import config

config.use_process_defaults()  # as the command line does, before numpy or Numba load

from burden.fits import load_fit, read_tables, spec


def main(name: str, seed: int | None) -> None:
    import nutpie

    original, kept = nutpie.sample, {}

    def keeping(*args, **kwargs):
        kept["trace"] = original(*args, **kwargs)
        return kept["trace"]

    s = spec(name)
    kwargs = {s.upstream: load_fit(s.upstream)} if s.upstream else {}
    est = s.estimator(None, {"random_seed": seed} if seed is not None else None, **kwargs)
    nutpie.sample = keeping
    try:
        est.fit(read_tables(s.estimator.data_tables), progressbar=False)
    finally:
        nutpie.sample = original
    warm = kept["trace"]["warmup_sample_stats"]["n_steps"].values
    draws = kept["trace"]["sample_stats"]["n_steps"].values
    total = warm.sum() + draws.sum()
    print(f"{name}: warm-up {warm.shape[1]} x {warm.shape[0]} chains, {warm.sum():,} "
          f"leapfrog steps; kept draws {draws.shape[1]} x {draws.shape[0]}, {draws.sum():,}; "
          f"warm-up share {warm.sum() / total:.3f}")
    print("warm-up mean steps by block of 100 draws: "
          + ", ".join(f"{warm[:, i:i + 100].mean():.0f}" for i in range(0, warm.shape[1], 100)))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else None)
