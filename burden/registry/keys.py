"""Keys that travel between modules, defined once (no bare strings typed in several places).

Location ids follow ``burden.data.schemas``: ISO3 for countries, ``WLD`` for the world.
"""

from __future__ import annotations

from enum import StrEnum

#: The world as a location id, and its display name.
WORLD_ID = "WLD"
WORLD_NAME = "World"
#: The United States: the one country with certified counts by drug in every model year.
US = "USA"
#: Canada: counts of any opioid to the present (PHAC), no split by drug.
CANADA = "CAN"
#: Source id of deaths not attributed to an illicit source (attribution).
NOT_ATTRIBUTED = "none"


class FitStatus(StrEnum):
    """Convergence status of a saved fit, as the report shows it."""

    CONVERGED = "converged"
    NOT_CONVERGED = "NOT CONVERGED"
    NOT_CHECKED = "not checked"


class Level(StrEnum):
    """Aggregation levels of location results, finest first."""

    COUNTRY = "country"
    REGION = "region"
    SUPER_REGION = "super_region"
    WORLD = "world"
#: Source id of illicit synthetic-opioid deaths whose supply chain no cited source names
#: (outside the North American markets of ``registry.markets.SYNTHETIC_CHAIN``).
SYNTHETIC_UNIDENTIFIED = "unidentified_synthetic"
