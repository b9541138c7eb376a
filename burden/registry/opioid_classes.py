"""Classes of seized opioids, for evidence on the composition of a country's opioid supply.

``OPIOID_CLASS`` maps each drug of the UNODC seizures file's "Opioids and Opiates" group,
as printed in its ``Drug`` field, to one of three classes, or to ``None`` for an opioid-group
item that fits none of them. Drugs of other groups are not opioids (class ``None``, empty in
the table). The seizures loader refuses an opioid-group drug missing from this mapping, so a
new label is classified on purpose, never by default.

The classes are about where the drug comes from, not its pharmacology:

- ``illicit_opiate``: made from the opium poppy outside the licit supply (heroin, opium,
  illicit morphine): the products of Afghan, Myanmar, Mexican ... opium.
- ``illicit_synthetic``: synthesised outside the licit supply (fentanyl, its analogues,
  carfentanil, nitazenes, other novel synthetic opioids). The 2018-2022 file names no
  nitazene: they would fall under "Other illicit opioids", which is left unclassified.
- ``pharmaceutical``: medicines made by the licit industry and diverted (tramadol,
  methadone, codeine, oxycodone, buprenorphine, ...).

Several entries are assumptions, said so below: UNODC files fentanyl and carfentanil under
"Pharmaceutical opioids", yet seized fentanyl in North America is almost all illicitly made.
"""

from __future__ import annotations

from typing import Literal

OpioidClass = Literal["illicit_opiate", "illicit_synthetic", "pharmaceutical"]
OPIOID_CLASSES: tuple[OpioidClass, ...] = ("illicit_opiate", "illicit_synthetic",
                                           "pharmaceutical")

#: The UNODC seizures "Drug group" whose drugs must all be in ``OPIOID_CLASS``.
OPIOID_DRUG_GROUP = "Opioids and Opiates"

#: UNODC seizures ``Drug`` label (opioid group) -> class, or None (opioid group, no class).
OPIOID_CLASS: dict[str, OpioidClass | None] = {
    # illicit_opiate: poppy-derived and made outside the licit supply. Heroin, opium and
    # illicit morphine are the three the World Drug Report tracks from opium production.
    "Heroin": "illicit_opiate",
    "Opium": "illicit_opiate",
    "Illicit morphine": "illicit_opiate",
    # "Acetylated opium" is a crude heroin made from opium (mostly reported from Eastern
    # Europe); "Other illicit opiates" is UNODC's residual of the same kind.
    "Acetylated opium": "illicit_opiate",
    "Other illicit opiates": "illicit_opiate",
    # Poppy plant material is raw material, not a consumed opioid: its weight (whole plants,
    # straw, seed) is not comparable with heroin or opium kilograms, and poppy seed is
    # mostly a food. No class, so it does not enter composition shares.
    "Poppy plants": None,
    "Poppy straw (seed heads, pods or capsules)": None,
    "Poppy seed": None,
    # illicit_synthetic. Assumption: seized fentanyl is illicitly manufactured (UNODC files it
    # under "Pharmaceutical opioids"; North American seizures, most of the weight, are
    # illicit powder and counterfeit pills; diverted patches weigh little).
    "Fentanyl": "illicit_synthetic",
    # Carfentanil and 3-methylfentanyl are fentanyl analogues with no human medical use.
    "Carfentanil": "illicit_synthetic",
    "3-Methylfentanyl (3-MF, mefentanyl)": "illicit_synthetic",
    # U-47700: a novel synthetic opioid never marketed as a medicine.
    "U-47700": "illicit_synthetic",
    # "Other illicit opioids": no class. The name suggests novel synthetic opioids, but 57 of
    # its 59 tonnes (2018-2022) were seized in Iran (35 t), Nigeria (17 t) and Togo (5 t),
    # markets where fentanyl analogues or nitazenes are not known to weigh tonnes; what the
    # item holds there is unknown, so it stays out of composition shares.
    "Other illicit opioids": None,
    # Desomorphine ("krokodil") is made illicitly from codeine at home: illicit
    # manufacture, not a diverted medicine, hence illicit_synthetic (an assumption: it is
    # semi-synthetic).
    "Desomorphine": "illicit_synthetic",
    # pharmaceutical: licit medicines, diverted. Assumption for tramadol: its seizures are
    # mostly non-medical tramadol (unlicensed high-dose tablets trafficked to West and North
    # Africa and the Middle East), still classed as pharmaceutical because it is a medicine
    # made by (often unregulated) pharmaceutical manufacturers, not a poppy product.
    "Tramadol": "pharmaceutical",
    # methadone and buprenorphine: opioid agonist treatment medicines, diverted.
    "Methadone": "pharmaceutical",
    "Buprenorphine": "pharmaceutical",
    # codeine, oxycodone, hydrocodone: analgesics and cough medicines, diverted.
    "Codeine": "pharmaceutical",
    "Oxycodone": "pharmaceutical",
    "Hydrocodone": "pharmaceutical",
    # "Pharmaceutical opioids": UNODC's residual of diverted opioid medicines.
    "Pharmaceutical opioids": "pharmaceutical",
    # Naloxone is an opioid antagonist (overdose reversal), not an opioid of misuse.
    "Naloxone": None,
    # "Non-specified opioids": origin unknown, so no class.
    "Non-specified opioids": None,
}

assert {v for v in OPIOID_CLASS.values() if v} <= set(OPIOID_CLASSES)
