"""A pipeline fit saved as fitted: the "before" of issue 12's identical-summaries check.

    python analysis/lossless_fit.py OUT_DIR [FIT] [--thin N]

Fits FIT (default deaths) on the processed tables with the pipeline's default configs
(the draws of `burden fit FIT`) and saves it to OUT_DIR/<FIT>.nc in the full format
(``save(compact=False)``: every group and every Deterministic as computed after sampling,
nothing dropped, rounded or recomputed). Then

    burden storage-benchmark --old OUT_DIR --new <other folder> --fits FIT

re-saves it in the compact format the pipeline writes and compares every number of the
two sets of result tables: "identical summaries before and after" is 0 differences.

``--thin N`` keeps every N-th draw instead of the model's default (``SamplerConfig.thin``;
``--thin 1``: every draw), e.g. to read with ``analysis/thinned_ess.py`` how much of the
effective sample size a thinning keeps.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from burden import config

config.use_process_defaults()  # before numpy: the command line's settings, its draws

from burden import fits


def main(out: Path, name: str = "deaths", thin: int | None = None) -> Path:
    spec = fits.spec(name)
    cls = spec.estimator
    upstream = ({spec.upstream: fits.load_fit(spec.upstream)}
                if spec.upstream is not None else {})
    sampler = {"thin": thin} if thin is not None else None
    model = cls(None, sampler, **upstream)
    model.fit(fits.read_tables(cls.data_tables))
    path = model.save(Path(out) / f"{name}.nc", compact=False)
    print(f"saved {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("fit", nargs="?", default="deaths")
    parser.add_argument("--thin", type=int, default=None)
    args = parser.parse_args()
    main(args.out, args.fit, args.thin)
