"""Drug markets: opium source countries and regions, destination markets and the cited
trafficking-route priors of markets without signature data.

Data, not logic: ``burden.models.markets`` fits the US shares and applies these priors;
``burden.attribution`` maps each country's deaths to its market with ``market_of``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from burden.registry.keys import US

#: Opium source countries modelled by ``OpiumProduction`` (ISO3) plus the rest of the world.
OPIUM_SOURCES: tuple[str, ...] = ("AFG", "MMR", "LAO", "MEX", "COL", "PAK", "GTM", "THA", "ROW")
#: The rest-of-world pseudo-source.
REST_OF_WORLD = "ROW"
#: Market label of world totals in attribution tables.
WORLD_MARKET = "World"

#: Source regions and the modelled sources they contain.
SOURCE_REGIONS: dict[str, tuple[str, ...]] = {
    "mexico": ("MEX",),
    "south_america": ("COL",),
    "southwest_asia": ("AFG", "PAK"),
    "southeast_asia": ("MMR", "LAO", "THA"),
    "other": ("GTM", "ROW"),
}
#: Heroin Signature Program region labels -> source region (the HSP classifies every
#: conclusive sample into these four).
SIGNATURE_REGIONS: dict[str, str] = {
    "Mexico": "mexico",
    "South America": "south_america",
    "Southwest Asia": "southwest_asia",
    "Southeast Asia": "southeast_asia",
}
US_REGIONS: tuple[str, ...] = tuple(SIGNATURE_REGIONS.values())
US_MARKET = US


def region_of(source: str) -> str:
    """The source region (``SOURCE_REGIONS`` key) of an opium source; ValueError if none."""
    for region, members in SOURCE_REGIONS.items():
        if source in members:
            return region
    raise ValueError(f"{source!r} is in no opium source region ({', '.join(SOURCE_REGIONS)})")


@dataclass(frozen=True)
class RoutePrior:
    """A documented trafficking route: ``market`` gets most of its opiates from ``main``."""

    market: str  # a burden.registry.locations market region, or an ISO3 country market
    main: tuple[str, ...]  # source regions (SOURCE_REGIONS keys)
    statement: str  # what the publication says
    citation: str
    url: str
    #: "mostly" read as a Beta prior with this mean and concentration (assumptions)
    main_share_mean: float = 0.8
    concentration: float = 10.0

    def beta(self) -> tuple[float, float]:
        return (self.main_share_mean * self.concentration,
                (1 - self.main_share_mean) * self.concentration)


_WDR2019 = ("UNODC, World Drug Report 2019, Booklet 3 (Depressants), opiates trafficking "
            "section, as excerpted in UNODC's WDR 2019 summary 'Complex global smuggling "
            "networks underpin heroin and cocaine markets' (page number not verified)")
_WDR2019_URL = ("https://miningawareness.wordpress.com/2019/12/28/complex-global-smuggling-"
                "networks-underpin-heroin-and-cocaine-markets/")
_CIA_SEA = ("US CIA, 'Heroin Movement Worldwide: Southeast Asia' (DCI Crime and Narcotics "
            "Center, c. 2000)")
_CIA_SEA_URL = ("https://www.cia.gov/library/publications/international-relations/"
                "heroin-movement-worldwide/southeast-asia.html")
_SEAOS2014 = ("UNODC, Southeast Asia Opium Survey 2014: Lao PDR, Myanmar (Dec 2014), as "
              "reported by The Nation (Thailand)")
_SEAOS2014_URL = "https://www.nationthailand.com/noname/30249364"

_BALKAN = ("Balkan route: heroin from Afghanistan through Iran, Turkey and the Balkans to "
           "Western and Central Europe, the world's largest heroin trafficking pathway")
_SOUTHERN = "southern route: heroin out of Afghanistan via Pakistan to South Asia or Africa"

ROUTE_PRIORS: dict[str, RoutePrior] = {
    r.market: r
    for r in [
        RoutePrior("Western and Central Europe", ("southwest_asia",), _BALKAN, _WDR2019,
                   _WDR2019_URL),
        RoutePrior("Eastern and South-Eastern Europe", ("southwest_asia",),
                   _BALKAN + "; northern route through Central Asia to the Russian "
                   "Federation", _WDR2019, _WDR2019_URL),
        RoutePrior("Near and Middle East / South-West Asia", ("southwest_asia",),
                   _BALKAN + " (transit through Iran and Turkey)", _WDR2019, _WDR2019_URL),
        RoutePrior("Central Asia and Transcaucasia", ("southwest_asia",),
                   "northern route: through Central Asia to the Russian Federation",
                   _WDR2019, _WDR2019_URL),
        RoutePrior("Africa", ("southwest_asia",), _SOUTHERN, _WDR2019, _WDR2019_URL),
        RoutePrior("South Asia", ("southwest_asia",),
                   _SOUTHERN + "; most heroin consumed in India originates in Afghanistan or "
                   "Pakistan (CIA)", _WDR2019, _WDR2019_URL),
        RoutePrior("CAN", ("southwest_asia",),
                   "the heroin found in Canada originates in Afghanistan", _WDR2019,
                   _WDR2019_URL),
        RoutePrior("MEX", ("mexico", "south_america"),
                   "most heroin trafficked in the Americas originates within the region, "
                   "usually from Mexico to the United States", _WDR2019, _WDR2019_URL),
        RoutePrior("East and South-East Asia", ("southeast_asia",),
                   "Myanmar and Lao PDR opium refined into heroin and trafficked to "
                   "neighbouring countries; China is the biggest market", _SEAOS2014,
                   _SEAOS2014_URL),
        RoutePrior("Oceania", ("southeast_asia",),
                   "Southeast Asian heroin is smuggled to Australia from the Golden Triangle "
                   "and China", _CIA_SEA, _CIA_SEA_URL),
    ]
}
#: Countries that form their own market (the rest use their market region).
COUNTRY_MARKETS = (US, "CAN", "MEX")


def market_of(iso3: str, locations: pd.DataFrame | None = None) -> str:
    """Market of a country: USA, CAN, MEX themselves; otherwise its drug-market region, from
    ``locations`` (a table with ``iso3`` and ``market_region``, e.g. the one a deaths model
    was fitted with) when given, else from the location registry."""
    if iso3 in COUNTRY_MARKETS:
        return iso3
    if locations is not None and "market_region" in locations:
        found = locations.loc[locations["iso3"] == iso3, "market_region"]
        if len(found) and isinstance(found.iloc[0], str) and found.iloc[0]:
            return str(found.iloc[0])
        raise ValueError(f"{iso3!r} has no market_region in the locations table")
    from burden.registry.locations import market_region_of

    return market_region_of(iso3)


@dataclass(frozen=True)
class SyntheticChainPrior:
    """Where the illicit synthetic opioids (fentanyl and analogues) of ``markets`` come from:
    a share ``m`` made in Mexico (from precursors largely of Chinese origin) and ``1 - m``
    shipped as finished product from China; ``m ~ Beta(mexico_mean x concentration,
    (1 - mexico_mean) x concentration)``, one draw per posterior draw.

    The statements are qualitative; no publication gives the split as a number. "Mostly
    Mexico" is read as a mean of 0.8 with concentration 10 (95% 0.52-0.97), the same
    reading of "mostly" as the heroin route priors (``RoutePrior``): an assumption, varied
    in the scenarios of ``burden.attribution.SCENARIOS``."""

    markets: tuple[str, ...]
    statement: str
    citation: str
    mexico_mean: float = 0.8
    concentration: float = 10.0

    def beta(self) -> tuple[float, float]:
        return (self.mexico_mean * self.concentration,
                (1 - self.mexico_mean) * self.concentration)


SYNTHETIC_CHAIN = SyntheticChainPrior(
    markets=(US, "CAN"),
    statement="illicit fentanyl in North America is mostly manufactured in Mexico from "
              "precursor chemicals sourced largely from China; some finished fentanyl is "
              "shipped directly from China (mail, express consignment)",
    citation="US Department of State, International Narcotics Control Strategy Report "
             "(INCSR) and DEA National Drug Threat Assessment (NDTA), as summarised in the "
             "package's FentanylAssumptions (burden.attribution); statements in words only")
#: Sources of illicit synthetic opioids in the North American chain.
SYNTHETIC_SOURCES: tuple[str, ...] = ("MEX", "CHN")
