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

__version__ = "0.1.0"

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
