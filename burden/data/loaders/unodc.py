"""UNODC data-portal JSON exports -> ``drug_use_prevalence`` and ``drug_seizures``.

Both files are one JSON array of flat records (read by ``burden.data.jsonfile``, so errors
name the file, the record number, its line and the field).

**Prevalence** (``unodc_prevalence``): fields Region, SubRegion, Country/Territory,
DrugGroup, Drug, Year, Age, All, Male, Female; every value a string. One record gives up to
three rows (sex ``both`` from All, ``male``, ``female``). An empty All/Male/Female is a value
UNODC does not publish: that row is left out and logged (``dropped``, one entry per cell).
Numbers as strings ("0.73") are parsed; a percent outside 0-100 is an error. The key
comparison downstream is drug "Opioids" (all opioids, incl. pharmaceutical) against
"Opiates" (heroin and opium) for one country-year.

**Seizures** (``unodc_seizures``): fields Region, SubRegion, Country/Territory, msCode,
Drug group, DrugSubGroup, Drug, Year (a JSON integer), Kilograms (a JSON number). Records
sharing country, drug and year are summed (``n_records`` counts them), each merge logged
(``changed``) with the records and lines summed: they are separate reports of one drug in
one year (same msCode; UNODC converts seizures reported in litres and in units to kilogram
equivalents, so one country can report a drug in several units), not copies. See
``docs/data.md`` for the evidence and the caveat on repeated identical values.
``opioid_class`` comes from ``registry.opioid_classes``; an opioid-group drug missing there
is an error.

Countries: names map to ISO3 through ``registry.locations.to_iso3`` (any current ISO3, not
only GBD 2017 countries) with ``NAME_ALIASES`` for UNODC spellings coco does not know; an
unknown name is an error. In the seizures file the ``msCode`` must be the name's ISO3. The
prevalence file's parts of the United Kingdom (``UK_PARTS``) are not the whole country: they
are left out and logged per record. Names with stray spaces are stripped and logged.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from burden.data import jsonfile
from burden.data.cleaning import CleaningLog, DataFormatError
from burden.data.schemas import year_range
from burden.registry import locations
from burden.registry.opioid_classes import OPIOID_CLASS, OPIOID_DRUG_GROUP

COUNTRY = "Country/Territory"

#: UNODC country spellings that ``country_converter`` does not recognise -> ISO3.
NAME_ALIASES: dict[str, str] = {"China, Taiwan Province of China": "TWN"}

#: Parts of a country that UNODC reports on their own (coco would map them to the whole).
UK_PARTS = ("United Kingdom (England and Wales)", "United Kingdom (Northern Ireland)",
            "United Kingdom (Scotland)")

# ---- prevalence -------------------------------------------------------------------------

PREVALENCE_FIELDS = ["Region", "SubRegion", COUNTRY, "DrugGroup", "Drug", "Year", "Age",
                     "All", "Male", "Female"]
#: (DrugGroup, Drug) pairs of the prevalence file; any other is an error.
PREVALENCE_DRUGS = {
    ("Opioids and Opiates", "Opioids"),
    ("Opioids and Opiates", "Opiates"),
    ("Cannabis and Synthetic Cannabinoids", "Cannabis"),
    ("Cocaine and Derivatives", "Cocaine"),
    ("Amphetamines and Stimulants", "Amphetamines"),
    ("MDMA and Ecstasy-like Drugs", "Ecstasy"),
}
#: Age groups: "general" is the general population aged 15-64.
AGES = ("general",)
SEX_FIELDS = {"All": "both", "Male": "male", "Female": "female"}
PREVALENCE_COLUMNS = ["iso3", "country", "year", "drug_group", "drug", "age", "sex",
                      "prevalence_pct", "source"]
PREVALENCE_YEARS = year_range("drug_use_prevalence")

# ---- seizures ---------------------------------------------------------------------------

SEIZURE_FIELDS = ["Region", "SubRegion", COUNTRY, "msCode", "Drug group", "DrugSubGroup",
                  "Drug", "Year", "Kilograms"]
SEIZURE_COLUMNS = ["iso3", "year", "drug_group", "drug_subgroup", "drug", "kilograms",
                   "n_records", "opioid_class", "source"]
SEIZURE_YEARS = year_range("drug_seizures")


def load(path: Path, log: CleaningLog, source_id: str) -> pd.DataFrame:
    """Read a UNODC JSON export (``unodc_prevalence`` or ``unodc_seizures``)."""
    readers = {"unodc_prevalence": _load_prevalence, "unodc_seizures": _load_seizures}
    if source_id not in readers:
        raise ValueError(f"unknown source {source_id!r} for the unodc loader; known: "
                         f"{list(readers)}")
    path = Path(path)
    recs = jsonfile.records(jsonfile.decode(path, expected="UTF-8 JSON, as exported"), path)
    if not recs:
        raise DataFormatError(path, "the array holds no records", line=1,
                              expected="one record per country, drug and year")
    return readers[source_id](recs, log, source_id)


def _country(rec: jsonfile.Record, log: CleaningLog) -> tuple[str, str | None]:
    """(name, ISO3) of the record's country; ISO3 None for a part of a country."""
    raw = rec.fields[COUNTRY]
    name = jsonfile.text_field(rec, COUNTRY)
    if name != raw:
        log.record("changed", "spaces around the country name removed", line=rec.line_of(
            COUNTRY), column=COUNTRY, original=raw, record=f"record {rec.number}")
    if name in UK_PARTS:
        return name, None
    if name in NAME_ALIASES:
        return name, NAME_ALIASES[name]
    try:
        return name, locations.to_iso3(name, gbd_only=False)
    except DataFormatError as exc:
        raise rec.error(exc.problem, COUNTRY, exc.expected) from None


def _load_prevalence(recs: list[jsonfile.Record], log: CleaningLog,
                     source_id: str) -> pd.DataFrame:
    rows, first = [], {}
    for rec in recs:
        jsonfile.require_fields(rec, PREVALENCE_FIELDS)
        name, iso3 = _country(rec, log)
        group = jsonfile.text_field(rec, "DrugGroup")
        drug = jsonfile.text_field(rec, "Drug")
        if (group, drug) not in PREVALENCE_DRUGS:
            field = "Drug" if group in {g for g, _ in PREVALENCE_DRUGS} else "DrugGroup"
            raise rec.error(f"unknown DrugGroup/Drug {group!r}/{drug!r}", field,
                            expected=f"one of {sorted(PREVALENCE_DRUGS)}")
        year = jsonfile.year_field(rec, "Year", PREVALENCE_YEARS)
        age = jsonfile.text_field(rec, "Age")
        if age not in AGES:
            raise rec.error(f"unknown Age {age!r}", "Age", expected=f"one of {list(AGES)}")
        values = {field: jsonfile.number_field(rec, field, allow_blank=True, maximum=100)
                  for field in SEX_FIELDS}
        words = rec.words(COUNTRY, "Drug", "Year")
        if iso3 is None:
            log.record("dropped", "a part of the United Kingdom, not the whole country "
                       "(UNODC publishes no UK-wide figure here)", line=rec.line,
                       column=COUNTRY, original=name, record=words)
            continue
        key = (iso3, year, group, drug, age)
        if key in first:
            other = first[key]
            raise rec.error(f"repeats the country, drug, year and age of record "
                            f"{other.number} (line {other.line}): {key}", COUNTRY,
                            expected="one record per country, drug, year and age")
        first[key] = rec
        for field, sex in SEX_FIELDS.items():
            if pd.isna(values[field]):
                log.record("dropped", f"{field} empty: prevalence not published for this "
                           "sex", line=rec.line_of(field), column=field, original="",
                           record=words)
                continue
            rows.append((iso3, name, year, group, drug, age, sex, values[field], source_id))
    return pd.DataFrame.from_records(rows, columns=PREVALENCE_COLUMNS)


def _load_seizures(recs: list[jsonfile.Record], log: CleaningLog,
                   source_id: str) -> pd.DataFrame:
    groups: dict[tuple, list[tuple[jsonfile.Record, float]]] = {}
    for rec in recs:
        jsonfile.require_fields(rec, SEIZURE_FIELDS)
        name, iso3 = _country(rec, log)
        code = jsonfile.text_field(rec, "msCode")
        if iso3 is None or code != iso3:
            raise rec.error(f"msCode {code!r} is not the ISO3 of {name!r} ({iso3})", "msCode",
                            expected="the ISO3 code of the Country/Territory")
        group = jsonfile.text_field(rec, "Drug group")
        subgroup = jsonfile.text_field(rec, "DrugSubGroup")
        drug = jsonfile.text_field(rec, "Drug")
        if group == OPIOID_DRUG_GROUP and drug not in OPIOID_CLASS:
            raise rec.error(f"opioid drug {drug!r} has no class in registry.opioid_classes",
                            "Drug", expected=f"one of {sorted(OPIOID_CLASS)}")
        year = jsonfile.year_field(rec, "Year", SEIZURE_YEARS)
        kilograms = jsonfile.number_field(rec, "Kilograms")
        groups.setdefault((iso3, year, group, subgroup, drug), []).append((rec, kilograms))
    rows = []
    for (iso3, year, group, subgroup, drug), members in groups.items():
        kilograms = sum(kg for _, kg in members)
        if len(members) > 1:
            _log_merge(log, members, iso3, year, drug)
        opioid_class = (OPIOID_CLASS[drug] or "") if group == OPIOID_DRUG_GROUP else ""
        rows.append((iso3, year, group, subgroup, drug, kilograms, len(members),
                     opioid_class, source_id))
    return pd.DataFrame.from_records(rows, columns=SEIZURE_COLUMNS)


def _log_merge(log: CleaningLog, members: list[tuple[jsonfile.Record, float]], iso3: str,
               year: int, drug: str) -> None:
    numbers = ", ".join(str(rec.number) for rec, _ in members)
    lines = ", ".join(str(rec.line) for rec, _ in members)
    kgs = [kg for _, kg in members]
    positive = [kg for kg in kgs if kg > 0]
    repeated = len(positive) != len(set(positive))
    reason = (f"{len(members)} records of one country, drug and year summed (records "
              f"{numbers}; lines {lines}): separate reports, e.g. in other units converted "
              "to kg")
    if repeated:
        reason += ("; the same non-zero kilograms appear more than once: possibly one "
                   "report listed twice, then the sum double counts it")
    log.record("changed", reason, line=members[0][0].line, column="Kilograms",
               original=" + ".join(f"{kg:g}" for kg in kgs),
               record=f"{iso3}, {drug}, {year}")
