"""Estimands: what a death count counts, independent of who published it.

Every row of a deaths table carries a ``definition`` id from ``DEFINITIONS``. Two sources
with different definitions measure different quantities (GBD's modelled use-disorder
deaths are not the deaths whose certificate names the drug) and must not be pooled as if
they were the same measurement.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The GBD round the deaths model is fitted to unless told otherwise (``gbd_deaths`` holds the
#: 2017 and 2019 rounds: revisions of the same quantity).
DEFAULT_GBD_ROUND = 2017


@dataclass(frozen=True)
class Definition:
    id: str
    name: str
    description: str


DEFINITIONS: dict[str, Definition] = {
    d.id: d
    for d in [
        Definition(
            "gbd_use_disorder",
            "Drug use disorder deaths (GBD)",
            "deaths due to drug use disorders as defined by GBD (IHME modelled estimates)",
        ),
        Definition(
            "certified_overdose",
            "Certified drug overdose deaths",
            "drug-overdose deaths whose death certificate names the drug (ICD-10 underlying "
            "X40-X44, X60-X64, X85, Y10-Y14 with the T-code as a multiple cause). Canada's "
            "rows (PHAC) are apparent opioid toxicity deaths from coroners' and medical "
            "examiners' investigations, the nearest published equivalent: not ICD-coded, "
            "deaths still under investigation included, revised with each release",
        ),
    ]
}


def get(definition_id: str) -> Definition:
    try:
        return DEFINITIONS[definition_id]
    except KeyError:
        raise KeyError(f"unknown definition {definition_id!r}; known: "
                       f"{', '.join(DEFINITIONS)}") from None
