"""burden: Bayesian estimates of the global burden of opioid deaths and their sources.

The public API, imported lazily so that ``import burden`` stays fast:

- ``load_processed(table)``: a processed table (see docs/data.md)
- ``OpioidDeaths``: opioid deaths by country-year, summed draw by draw to regions and world
- ``OpiumProduction``, ``MarketShares``: latent opium production and market shares by source
- ``attribution``: deaths attributable to each source country
- ``plots``: one function per figure (``ax=`` in, Figure out) with its data twin
"""

from __future__ import annotations

import importlib
import os

__version__ = "0.1.0"

#: LLVM optimisation level of the Numba code PyTensor and nutpie compile (the models' log
#: densities), used when the environment does not set NUMBA_OPT: 1, not Numba's 3. With
#: fastmath off (``models.base.NUMBA_FASTMATH``) LLVM may not reorder floating-point
#: arithmetic at any level, and the draws of all five fits were the same at 3 and 1
#: (checksums; ``tests/test_reproducibility.py`` for the production model). A cold compile
#: took 10-19% less time (the five fits 385 -> 329 s) and sampling was no slower:
#: ``python analysis/numba_opt.py``, 2026-12-01 19:22-19:41 UTC (docs/performance.md,
#: "Numba's optimisation level"). Numba reads the variable once, when first imported: it has
#: no effect in a process that imported Numba before ``burden``.
NUMBA_OPT_DEFAULT = "1"
os.environ.setdefault("NUMBA_OPT", NUMBA_OPT_DEFAULT)

_EXPORTS = {
    "load_processed": ("burden.data.build", "load_processed"),
    "build_all": ("burden.data.build", "build_all"),
    "OpioidDeaths": ("burden.models.deaths", "OpioidDeaths"),
    "OpiumProduction": ("burden.models.production", "OpiumProduction"),
    "MarketShares": ("burden.models.markets", "MarketShares"),
    "attribution": ("burden.attribution", None),
    "plots": ("burden.plots", None),
}

__all__ = ["__version__", "load_processed", "build_all", "OpioidDeaths",  # noqa: RUF022
           "OpiumProduction", "MarketShares", "attribution", "plots"]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'burden' has no attribute {name!r}")
    module_name, attr = _EXPORTS[name]
    module = importlib.import_module(module_name)
    return module if attr is None else getattr(module, attr)
