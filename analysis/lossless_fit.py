"""A pipeline fit saved with every bit of its draws: the "before" of issue 12's
identical-summaries comparison (docs/performance.md, "Machine Z, 2026-12-07").

    python analysis/lossless_fit.py OUT_DIR [FIT]

Fits FIT (default deaths) on the processed tables with the pipeline's default configs
(the draws of `burden fit FIT`) and saves it to OUT_DIR/<FIT>.nc without the mantissa
rounding its class sets (``save_keep_bits``). Then

    burden storage-benchmark --old OUT_DIR --new <other folder> --fits FIT

re-saves it compactly and compares every number of the two sets of result tables.
"""

from __future__ import annotations

import sys
from pathlib import Path

from burden import config

config.use_process_defaults()  # before numpy: the command line's settings, its draws

from burden import fits


def main(out: Path, name: str = "deaths") -> Path:
    cls = fits.spec(name).estimator
    cls.save_keep_bits = None  # every bit (the class default rounds the deaths draws)
    _, path = fits.fit_and_keep(name, models_dir=out)
    print(f"saved {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return path


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    main(Path(sys.argv[1]), *sys.argv[2:])
