"""Cause and drug definitions with their ICD-10 code sets.

NCHS overdose deaths are deaths whose *underlying* cause is a drug poisoning (X40-X44
unintentional, X60-X64 suicide, X85 homicide, Y10-Y14 undetermined intent); the drug is one
of the *multiple* causes (T-codes) on the certificate, so one death can involve several
drugs. Code sets as printed in the NIDA table's footnotes and the CDC WONDER query footer.

GBD causes are IHME's modelled "drug use disorder" causes (GBD 2017 and 2019 cause lists); the
deaths they count are not the same set as NCHS multiple-cause counts.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Underlying causes that make a death a drug overdose death (NIDA footnote *, WONDER query).
OVERDOSE_UNDERLYING_CAUSES = ("X40-X44", "X60-X64", "X85", "Y10-Y14")


@dataclass(frozen=True)
class Cause:
    id: str
    name: str
    icd10: tuple[str, ...]
    basis: str  # "underlying" | "multiple" | "gbd"
    opioid: bool = False
    parent: str | None = None
    note: str = ""


CAUSES: dict[str, Cause] = {
    c.id: c
    for c in [
        Cause("all_overdose", "Drug overdose deaths (all drugs)", OVERDOSE_UNDERLYING_CAUSES,
              "underlying"),
        Cause("any_opioid", "Any opioid", ("T40.0", "T40.1", "T40.2", "T40.3", "T40.4",
                                           "T40.6"),
              "multiple", opioid=True, parent="all_overdose"),
        Cause("heroin", "Heroin", ("T40.1",), "multiple", opioid=True, parent="any_opioid"),
        Cause("natural_semisynthetic_opioids", "Natural and semi-synthetic opioids",
              ("T40.2",), "multiple", opioid=True, parent="any_opioid"),
        Cause("methadone", "Methadone", ("T40.3",), "multiple", opioid=True,
              parent="any_opioid"),
        Cause("synthetic_opioids", "Synthetic opioids other than methadone (mostly fentanyl)",
              ("T40.4",), "multiple", opioid=True, parent="any_opioid"),
        Cause("rx_opioids", "Prescription opioids", ("T40.2", "T40.3"), "multiple",
              opioid=True, parent="any_opioid"),
        Cause("natural_semisynthetic_synthetic_opioids", "Natural, semi-synthetic and "
              "synthetic opioids incl. methadone", ("T40.2", "T40.3", "T40.4"), "multiple",
              opioid=True, parent="any_opioid",
              note="VSRR indicator T40.2-T40.4 (all opioids except heroin, opium and "
              "other/unspecified narcotics)"),
        Cause("cocaine", "Cocaine", ("T40.5",), "multiple", parent="all_overdose"),
        Cause("psychostimulants", "Psychostimulants with abuse potential (mostly "
              "methamphetamine)", ("T43.6",), "multiple", parent="all_overdose"),
        Cause("benzodiazepines", "Benzodiazepines", ("T42.4",), "multiple",
              parent="all_overdose"),
        Cause("antidepressants", "Antidepressants", ("T43.0", "T43.1", "T43.2"), "multiple",
              parent="all_overdose"),
        Cause("opioid_use_disorders", "Opioid use disorders (GBD)", ("F11",), "gbd",
              opioid=True,
              note="GBD 2017 cause; IHME maps F11 and opioid poisonings to it"),
        Cause("cocaine_use_disorders", "Cocaine use disorders (GBD)", ("F14",), "gbd"),
        Cause("amphetamine_use_disorders", "Amphetamine use disorders (GBD)", ("F15",), "gbd"),
        Cause("other_drug_use_disorders", "Other drug use disorders (GBD)", (), "gbd"),
        Cause("drug_use_disorders", "All drug use disorders (GBD)", (), "gbd",
              note="GBD 2019 aggregate of opioid, cocaine, amphetamine, cannabis and other "
              "drug use disorders (OWID header label 'Drug use disorders')"),
        Cause("alcohol_use_disorders", "Alcohol use disorders (GBD)", ("F10",), "gbd"),
    ]
}

#: Non-cause indicators that appear beside causes in provisional counts.
INDICATORS = {
    "all_deaths": "Number of deaths, all causes",
    "percent_specified": "Percent of overdose deaths with at least one drug specified",
}


def get(cause_id: str) -> Cause:
    try:
        return CAUSES[cause_id]
    except KeyError:
        raise KeyError(f"unknown cause {cause_id!r}; known: {', '.join(CAUSES)}") from None
