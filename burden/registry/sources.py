"""Every public data set the project reads: where it comes from, its exact bytes, its terms.

The sha256 pins the exact file: a download or mirror copy whose hash differs is refused.
Entries mirror ``shared/data/README.md`` (publisher pages, pinned copies and licences).

A source whose raw file is a part of the published file (``extract``, e.g. the national
rows of a file of all jurisdictions) is downloaded whole from ``url``, cut by its
``RowFilter`` (``burden.data.fetch``), and the sha256 pins the cut file: a mirror holds the
cut file already and it is checked as is.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RowFilter:
    """Keep the first ``header_lines`` lines and the lines whose first field (text before the
    first ``delimiter``, surrounding double quotes removed) equals ``first_field``.

    Lines are kept byte for byte, in order, with their line endings. A declaration only:
    ``burden.data.fetch`` applies it.
    """

    first_field: str
    delimiter: str = ","
    header_lines: int = 1


@dataclass(frozen=True)
class Source:
    id: str
    filename: str
    title: str
    publisher: str
    publisher_page: str
    url: str
    sha256: str
    licence: str
    citation: str
    loader: str  # module name in burden.data.loaders
    table: str  # processed table it feeds
    extract: RowFilter | None = None  # applied to the download from ``url`` before hashing


_IHME_CITATION = (
    "Global Burden of Disease Collaborative Network. Global Burden of Disease Study 2017 "
    "(GBD 2017) Results. Seattle: Institute for Health Metrics and Evaluation (IHME), 2018; "
    "via Our World in Data"
)
_IHME_LICENCE = "CC-BY 4.0 (Our World in Data); IHME free-of-charge non-commercial terms"
_IHME2019_CITATION = (
    "Global Burden of Disease Collaborative Network. Global Burden of Disease Study 2019 "
    "(GBD 2019) Results. Seattle: IHME, 2020; via Our World in Data"
)
_NIDA_CITATION = (
    "National Institute on Drug Abuse. Overdose Death Rates (figures from CDC WONDER, "
    "National Center for Health Statistics), data through 2019"
)

SOURCES: dict[str, Source] = {
    s.id: s
    for s in [
        Source(
            id="owid_gbd_deaths",
            filename="owid_gbd2017_drug_use_disorder_deaths.csv",
            title="Deaths from drug use disorders by type, all ages, both sexes, 1990-2017",
            publisher="IHME GBD 2017 via Our World in Data",
            publisher_page="https://ourworldindata.org/grapher/deaths-drug-overdoses",
            url="https://raw.githubusercontent.com/francojra/mortes_drogas_ilicitas_portugal/"
            "67cac031fdb8229782ccb3784bf7533d5be5eb02/deaths-drug-overdoses.csv",
            sha256="d58a16d89f5595207b1d1f8de7a671a97bc9b3c191348c0f81f0cb99a7bad4d1",
            licence=_IHME_LICENCE,
            citation=_IHME_CITATION,
            loader="owid_gbd",
            table="gbd_deaths",
        ),
        Source(
            id="owid_gbd_opioid_rate",
            filename="owid_gbd2017_opioid_death_rate_agestd.csv",
            title="Opioid use disorder deaths, age-standardised rate per 100,000, 1990-2017",
            publisher="IHME GBD 2017 via Our World in Data",
            publisher_page="https://ourworldindata.org/grapher/death-rate-from-opioid-use",
            url="https://raw.githubusercontent.com/PJFinnerty/52464-Project/"
            "642a3aa522865154d170c7636e23a77ec1ac44f6/death-rate-from-opioid-use.csv",
            sha256="eab6f33ce9546012bb2fd4ffcf95c354ae319dd9b136fca6f2d54751aa598014",
            licence=_IHME_LICENCE,
            citation=_IHME_CITATION,
            loader="owid_gbd",
            table="gbd_deaths",
        ),
        Source(
            id="nida_deaths",
            filename="nida_overdose_deaths_by_drug_1999_2019.csv",
            title="US overdose deaths involving select drugs, by sex, 1999-2019",
            publisher="NIDA / NCHS (CDC WONDER)",
            publisher_page="https://nida.nih.gov/research-topics/trends-statistics/"
            "overdose-death-rates",
            url="https://raw.githubusercontent.com/corgis-edu/corgis/"
            "ff4cc903f66e683b8e464247e4437a70742a4de8/source/opioids/raw/Number_OD_Deaths.csv",
            sha256="e1c80da4771d59c656eb2bba48ce4386c949d085176f55bccc8226959c11c817",
            licence="US government work, public domain",
            citation=_NIDA_CITATION,
            loader="nida",
            table="us_deaths_by_drug",
        ),
        Source(
            id="nida_rates",
            filename="nida_overdose_rates_by_demographics_1999_2019.csv",
            title="US age-adjusted overdose death rates by drug and demographic group, 1999-2019",
            publisher="NIDA / NCHS (CDC WONDER)",
            publisher_page="https://nida.nih.gov/research-topics/trends-statistics/"
            "overdose-death-rates",
            url="https://raw.githubusercontent.com/corgis-edu/corgis/"
            "ff4cc903f66e683b8e464247e4437a70742a4de8/source/opioids/raw/"
            "Rate_OD_by_Demographics.csv",
            sha256="a9d5361073d188791bb6ce7e0426f3712733f8b0ae70ea1f7e4ea49f08eaa0ac",
            licence="US government work, public domain",
            citation=_NIDA_CITATION,
            loader="nida",
            table="us_deaths_by_drug",
        ),
        Source(
            id="vsrr_provisional",
            filename="cdc_vsrr_provisional_overdose_2015_2018.csv",
            title="VSRR provisional drug overdose death counts (12-month ending), 2015-2018",
            publisher="CDC National Center for Health Statistics",
            publisher_page="https://data.cdc.gov/NCHS/VSRR-Provisional-Drug-Overdose-Death-"
            "Counts/xkb8-kh2a",
            url="https://raw.githubusercontent.com/Surafeldemssie/2014-2018-US-Drug-Overdose/"
            "3cb75c5c53de255fb0157057557e234fc9755b76/"
            "VSRR_Provisional_Drug_Overdose_Death_Counts.csv",
            sha256="1624058fbaad35d0c60792422b0883b44ebdd88669d97d12967e04a7150e8771",
            licence="US government work, public domain",
            citation="Ahmad FB, Rossen LM, Sutton P. Provisional drug overdose death counts. "
            "National Center for Health Statistics, 2018",
            loader="vsrr",
            table="us_provisional",
        ),
        Source(
            id="wonder_county",
            filename="cdc_wonder_opioid_overdose_by_county_2006_2012.txt",
            title="CDC WONDER Multiple Cause of Death: opioid overdose deaths by county, "
            "2006-2012 pooled",
            publisher="CDC National Center for Health Statistics",
            publisher_page="https://wonder.cdc.gov/mcd.html",
            url="https://raw.githubusercontent.com/smussenden/fall19-data-journalism/"
            "ab93935cc46a4b889af259d44c0138c170fb62bc/labs/lab_08/data/2006-2012.txt",
            sha256="4e3fda8f685c7c7ee9302e4c4dcbdb2aabb32fd71ad9a48c79cde013c80a5bf4",
            licence="US government work, public domain",
            citation="Centers for Disease Control and Prevention, National Center for Health "
            "Statistics. Multiple Cause of Death 1999-2017 on CDC WONDER Online Database, "
            "released December 2018",
            loader="wonder",
            table="us_county_deaths",
        ),
        Source(
            id="worldbank_population",
            filename="worldbank_population.csv",
            title="Population, total (SP.POP.TOTL), 1960-2024",
            publisher="World Bank",
            publisher_page="https://data.worldbank.org/indicator/SP.POP.TOTL",
            url="https://raw.githubusercontent.com/datasets/population/"
            "425fc447a53a26c767a15a7de60c4cc2478a0595/data/population.csv",
            sha256="7d2dd6a17f5ed7916de1f89a9c116791e64d207f2e2f6ce47c57e1ab46f0088a",
            licence="CC-BY 4.0 (World Bank)",
            citation="World Bank. World Development Indicators: Population, total "
            "(SP.POP.TOTL)",
            loader="worldbank",
            table="population",
        ),
        # ---- GBD 2019 round (OWID exports) and the 2015-2025 VSRR national series ----
        Source(
            id="owid_gbd2019_deaths",
            filename="owid_gbd2019_substance_use_disorder_deaths.csv",
            title="Deaths from substance use disorders by type (opioid, cocaine, amphetamine, "
            "other drug, all drug, alcohol), all ages, both sexes, 1990-2019",
            publisher="IHME GBD 2019 via Our World in Data",
            publisher_page="https://ourworldindata.org/grapher/deaths-substance-disorders",
            url="https://raw.githubusercontent.com/corssinojaime/drugreport/"
            "5c6d97b530bdd882e3cd7abbcd141f1fbad7b97c/deaths-substance-disorders.csv",
            sha256="3bba1584540abc9f1baf9391e6c384f383afacf7a3abe9e7327a69cb0c8365c2",
            licence=_IHME_LICENCE,
            citation=_IHME2019_CITATION,
            loader="owid_gbd",
            table="gbd_deaths",
        ),
        Source(
            id="owid_gbd2019_opioid_rate",
            filename="owid_gbd2019_opioid_death_rate_agestd.csv",
            title="Opioid use disorder deaths, age-standardised rate per 100,000, 1990-2019 "
            "(GBD 2019)",
            publisher="IHME GBD 2019 via Our World in Data",
            publisher_page="https://ourworldindata.org/grapher/death-rate-from-opioid-use",
            url="https://raw.githubusercontent.com/yasminamog/healthcare/"
            "f501471a682aa6732bc1121d4831e96b6bf7be66/death-rate-from-opioid-use.csv",
            sha256="3902e85e041809faf1f39f585dee96e1435c741fb18105a66df9a396301de482",
            licence=_IHME_LICENCE,
            citation=_IHME2019_CITATION,
            loader="owid_gbd",
            table="gbd_deaths",
        ),
        Source(
            id="owid_gbd2019_drug_rate",
            filename="owid_gbd2019_drug_use_disorder_death_rate_agestd.csv",
            title="Drug use disorder deaths, age-standardised rate per 100,000, 1990-2019 "
            "(GBD 2019)",
            publisher="IHME GBD 2019 via Our World in Data",
            publisher_page="https://ourworldindata.org/grapher/"
            "death-rates-from-drug-use-disorders",
            url="https://raw.githubusercontent.com/corssinojaime/drugreport/"
            "5c6d97b530bdd882e3cd7abbcd141f1fbad7b97c/death-rates-from-drug-use-disorders.csv",
            sha256="80108b90cdefd95c40632c989818cfc12707f023c83f8aaa6d45c80782486df9",
            licence=_IHME_LICENCE,
            citation=_IHME2019_CITATION,
            loader="owid_gbd",
            table="gbd_deaths",
        ),
        Source(
            id="vsrr_national",
            filename="cdc_vsrr_provisional_overdose_us_2015_2025.csv",
            title="VSRR provisional drug overdose death counts (12-month ending), United "
            "States, January 2015 - April 2025 (the US rows of the full file)",
            publisher="CDC National Center for Health Statistics",
            publisher_page="https://data.cdc.gov/NCHS/VSRR-Provisional-Drug-Overdose-Death-"
            "Counts/xkb8-kh2a",
            # the full file of all jurisdictions (14,471,342 bytes; its hash is not pinned):
            # ``extract`` keeps the header and the US rows, and ``sha256`` pins that extract
            url="https://raw.githubusercontent.com/ellaprince90/overdose-data-us/"
            "0e93ff04170dd3dc98819457ea37e61d5c1344d9/"
            "VSRR_Provisional_Drug_Overdose_Death_Counts.csv",
            sha256="38473afee0ef6491f27b01191c1ccefcf82bd7663e4c2175d2d03e5aa797c366",
            licence="US government work, public domain",
            citation="Ahmad FB, Cisewski JA, Rossen LM, Sutton P. Provisional drug overdose "
            "death counts. National Center for Health Statistics, 2025",
            loader="vsrr",
            table="us_provisional_national",
            extract=RowFilter(first_field="US"),
        ),
    ]
}


def get(source_id: str) -> Source:
    try:
        return SOURCES[source_id]
    except KeyError:
        raise KeyError(f"unknown source {source_id!r}; known: {', '.join(SOURCES)}") from None


# ---- Canada (PHAC) and UNODC sources ---------------------------------------------------
# Appended as a block (not inside the list above) so that parallel additions merge cleanly.

_UNODC_LICENCE = ("UNODC terms of use (public statistics); converted to JSON by the "
                  "repository's author")

SOURCES.update({
    s.id: s
    for s in [
        Source(
            id="phac_harms",
            filename="phac_substance_related_harms_2016_2025.csv",
            title="Opioid- and stimulant-related harms in Canada: deaths, hospitalizations, "
            "ED visits and EMS, by province/territory, 2016 to September 2025",
            publisher="Public Health Agency of Canada (Health Infobase)",
            publisher_page="https://health-infobase.canada.ca/substance-related-harms/"
            "opioids-stimulants/",
            url="https://raw.githubusercontent.com/RiddhiMandal/opioid-harms-canada-eda/"
            "b501f1ff211b455eace85227afbe404a84256f6d/SubstanceHarmsData.csv",
            sha256="8656a207cef21be7252100690c3d70cdffe04c3cdb470fc36adb37b996ddb604",
            licence="Open Government Licence - Canada",
            citation="Federal, provincial, and territorial Special Advisory Committee on "
            "Toxic Drug Poisonings. Opioid- and Stimulant-related Harms in Canada. Ottawa: "
            "Public Health Agency of Canada; data to September 2025",
            loader="phac",
            table="canada_opioid_deaths",
        ),
        Source(
            id="unodc_prevalence",
            filename="unodc_drug_use_prevalence_general.json",
            title="Annual prevalence of drug use, general population (15-64), by country, "
            "drug and year, 1999-2023",
            publisher="UNODC (World Drug Report data portal)",
            publisher_page="https://dataunodc.un.org/dp-drug-use-prevalence",
            url="https://raw.githubusercontent.com/iujiban/SNU-INFOVIS-PROJECT/"
            "b06a784340fd5fd4a9589e6e427e0e16371e1b4a/src/data/"
            "Prevalence_of_drug_use_NonNPS_General.json",
            sha256="200ea19203d747c292bfb44a2bcb7841e6b619a2a53a8ce371cef13357f2b98d",
            licence=_UNODC_LICENCE,
            citation="United Nations Office on Drugs and Crime. World Drug Report: "
            "prevalence of drug use in the general population (dataUNODC)",
            loader="unodc",
            table="drug_use_prevalence",
        ),
        Source(
            id="unodc_seizures",
            filename="unodc_drug_seizures_2018_2022.json",
            title="Drug seizures by country, drug and year, 2018-2022 (kilograms)",
            publisher="UNODC (World Drug Report data portal)",
            publisher_page="https://dataunodc.un.org/dp-drug-seizures",
            url="https://raw.githubusercontent.com/iujiban/SNU-INFOVIS-PROJECT/"
            "b06a784340fd5fd4a9589e6e427e0e16371e1b4a/src/data/Drug_seizures_2018_2022.json",
            sha256="a5f3e862dd4f050c7b18ff05ca0182aa9e24e903ffa55470a23714dd783a36bb",
            licence=_UNODC_LICENCE,
            citation="United Nations Office on Drugs and Crime. Drug seizures 2018-2022 "
            "(dataUNODC, Annual Report Questionnaire and other sources)",
            loader="unodc",
            table="drug_seizures",
        ),
    ]
})
