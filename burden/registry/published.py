"""Curated published figures shipped with the package (``burden/registry/reference/``).

No publisher offers these figures as a machine-readable file, so the project keeps its own
compilation, one citation per row (see ``reference/README.md``). This registry names each
table; ``burden.data.loaders.reference`` reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"


@dataclass(frozen=True)
class ReferenceSource:
    """A curated table shipped with the package (no download, no pinned hash)."""

    id: str
    filename: str
    title: str
    publisher: str
    citation: str
    licence: str
    loader: str
    table: str

    @property
    def path(self) -> Path:
        return REFERENCE_DIR / self.filename

    @property
    def url(self) -> str:  # rows cite their own publications; the input is the package file
        return f"package://burden/registry/reference/{self.filename}"


_COMPILED = ("Compiled for this project from the publications cited on each row; "
             "see burden/registry/reference/README.md")
REFERENCE_SOURCES: dict[str, ReferenceSource] = {
    s.id: s
    for s in [
        ReferenceSource(
            id="reference_opium_production",
            filename="opium_production_published.csv",
            title="Published opium cultivation, production, yield, share and heroin "
                  "figures by country and year, 1998-2024",
            publisher="UNODC, national opium surveys, US government (compiled)",
            citation=_COMPILED,
            licence="facts with citations (per row)",
            loader="reference",
            table="production_measurements",
        ),
        ReferenceSource(
            id="reference_heroin_signature",
            filename="heroin_signature_program_published.csv",
            title="DEA Heroin Signature Program: shares of US heroin by source region",
            publisher="US DEA (compiled from DEA reports and pages quoting them)",
            citation=_COMPILED,
            licence="facts with citations (per row)",
            loader="reference",
            table="signature_shares",
        ),
    ]
}
