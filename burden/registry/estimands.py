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
    #: a title for the deaths counted, "What is counted (whose definition)": figure axes,
    #: captions and the page's titles read it (``axis_title``, ``title_parts``)
    name: str
    description: str
    #: how a sentence names the deaths counted ("US {counted}, 2023")
    counted: str = ""
    #: a shorter title for a figure axis where ``name`` is too long (default: ``name``)
    axis: str = ""
    #: (location id, how a sentence names them) where the published counts are the nearest
    #: equivalent of the definition rather than the definition itself
    counted_in: tuple[tuple[str, str], ...] = ()

    @property
    def axis_title(self) -> str:
        """A figure axis's title for the deaths counted (``burden.plots._common``)."""
        return self.axis or self.name

    def title_parts(self) -> tuple[str, str]:
        """``name`` as (what is counted, whose definition): "Opioid use-disorder deaths
        (GBD definition)" -> ("Opioid use-disorder deaths", "GBD definition")."""
        what, _, by = self.name.partition(" (")
        return what, by.removesuffix(")")

    def counted_at(self, location_id: str | None = None) -> str:
        """How a sentence names the deaths counted in ``location_id`` (default: the
        definition's own wording)."""
        return dict(self.counted_in).get(location_id, self.counted or self.name)


DEFINITIONS: dict[str, Definition] = {
    d.id: d
    for d in [
        # the id also marks GBD's other use-disorder causes in ``gbd_deaths`` (its
        # ``cause`` column says which); the package's estimand is the opioid cause
        Definition(
            "gbd_use_disorder",
            "Opioid use-disorder deaths (GBD definition)",
            "deaths due to opioid use disorders as defined by GBD (IHME modelled "
            "estimates; GBD's other use-disorder causes carry the same id, told apart by "
            "their cause)",
            counted="deaths due to opioid use disorders (GBD definition)",
        ),
        Definition(
            "certified_overdose",
            "Certified opioid-involved overdose deaths (Canada: PHAC apparent opioid "
            "toxicity deaths)",
            "drug-overdose deaths whose death certificate names the drug (ICD-10 underlying "
            "X40-X44, X60-X64, X85, Y10-Y14 with the T-code as a multiple cause). Canada's "
            "rows (PHAC) are apparent opioid toxicity deaths from coroners' and medical "
            "examiners' investigations, the nearest published equivalent: not ICD-coded, "
            "deaths still under investigation included, revised with each release",
            counted="opioid-involved overdose deaths (death certificates, NCHS/VSRR)",
            counted_in=(("CAN", ("apparent opioid toxicity deaths (PHAC: coroners' and "
                                 "medical examiners' investigations, not ICD-coded death "
                                 "certificates)")),),
            axis="Certified opioid overdose deaths",
        ),
    ]
}


def get(definition_id: str) -> Definition:
    try:
        return DEFINITIONS[definition_id]
    except KeyError:
        raise KeyError(f"unknown definition {definition_id!r}; known: "
                       f"{', '.join(DEFINITIONS)}") from None
