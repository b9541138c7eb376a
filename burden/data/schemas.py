"""Schemas of the processed tables, checked on every write.

Each table is tidy (one measurement a row) and typed. ``TABLES`` maps a table name to its
schema and a one-line description; ``docs/data.md`` documents them for users.

Location ids: ISO3 for countries (``USA``), ``WLD`` for the world, ``GBD_R:<slug>`` and
``GBD_SR:<slug>`` for GBD regions and super-regions, ``US-XX`` for US states (postal code),
``US-YC`` for New York City, ``US-FIPS:01001`` for US counties.
Canada: ``CAN``, and ``CA-XX`` (ISO 3166-2:CA code, e.g. ``CA-ON``) for provinces and
territories.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandera.pandas as pa

from burden.registry.estimands import DEFINITIONS

LOCATION_LEVELS = ["world", "super_region", "region", "country", "state", "city", "county"]
SEXES = ["both", "female", "male"]


def _nonneg(nullable: bool = False) -> pa.Column:
    return pa.Column(float, pa.Check.ge(0), nullable=nullable)


_source = pa.Column(str, nullable=False)
# What the deaths counted are (registry.estimands id): "gbd_use_disorder" (IHME modelled
# use-disorder deaths) or "certified_overdose" (certificate names the drug). Never pool
# rows of different definitions as one measurement.
_definition = pa.Column(str, pa.Check.isin(list(DEFINITIONS)))

GBD_DEATHS = pa.DataFrameSchema(
    {
        "location_id": pa.Column(str),
        "location_name": pa.Column(str),
        "location_level": pa.Column(str, pa.Check.isin(LOCATION_LEVELS)),
        "year": pa.Column(int, pa.Check.in_range(1950, 2100)),
        "cause": pa.Column(str),  # registry.causes id, e.g. "opioid_use_disorders"
        "measure": pa.Column(str, pa.Check.isin(["deaths", "rate_age_std_per_100k"])),
        "value": _nonneg(),
        "gbd_round": pa.Column(int, pa.Check.isin([2017, 2019])),  # GBD round of the estimate
        "definition": _definition,
        "source": _source,
    },
    unique=["location_id", "year", "cause", "measure", "gbd_round"],
    strict=True,
    coerce=True,
)

US_DEATHS_BY_DRUG = pa.DataFrameSchema(
    {
        "year": pa.Column(int, pa.Check.in_range(1950, 2100)),
        "drug": pa.Column(str),  # registry.causes id or "a_and_b" / "a_without_b" combination
        "group": pa.Column(str),  # "all", or a demographic group ("White (Non-Hispanic)", ...)
        "sex": pa.Column(str, pa.Check.isin(SEXES)),
        "measure": pa.Column(str, pa.Check.isin(["deaths", "rate_age_adj_per_100k"])),
        "value": _nonneg(),
        "definition": _definition,
        "source": _source,
    },
    unique=["year", "drug", "group", "sex", "measure"],
    strict=True,
    coerce=True,
)

_VSRR_COLUMNS = {
    "location_id": pa.Column(str),  # US, US-XX, US-YC
    "location_level": pa.Column(str, pa.Check.isin(["country", "state", "city"])),
    "year": pa.Column(int, pa.Check.in_range(1950, 2100)),
    "month": pa.Column(int, pa.Check.in_range(1, 12)),  # last month of the 12-month period
    "indicator": pa.Column(str),  # cause id, "all_overdose", "percent_specified", ...
    "value": _nonneg(nullable=True),  # reported ("Data Value"); NaN where not published
    "predicted_value": _nonneg(nullable=True),
    "percent_complete": pa.Column(float, pa.Check.in_range(0, 100), nullable=True),
    "percent_pending": pa.Column(float, pa.Check.in_range(0, 100), nullable=True),
    "footnote": pa.Column(str, nullable=True),
    "underreported": pa.Column(bool),  # footnote "Underreported due to incomplete data"
    "definition": _definition,
    "source": _source,
}

US_PROVISIONAL = pa.DataFrameSchema(
    _VSRR_COLUMNS,
    unique=["location_id", "year", "month", "indicator"],
    strict=True,
    coerce=True,
)

US_COUNTY_DEATHS = pa.DataFrameSchema(
    {
        "location_id": pa.Column(str),  # US-FIPS:01001
        "county": pa.Column(str),
        "state": pa.Column(str),  # postal code
        "year_start": pa.Column(int),
        "year_end": pa.Column(int),
        "deaths": _nonneg(nullable=True),  # NaN when suppressed (< 10 deaths)
        "population": _nonneg(nullable=True),
        "crude_rate_per_100k": _nonneg(nullable=True),
        "age_adj_rate_per_100k": _nonneg(nullable=True),
        "suppressed": pa.Column(bool),
        "unreliable": pa.Column(bool),  # fewer than 20 deaths: rate flagged by CDC
        "source": _source,
    },
    unique=["location_id", "year_start", "year_end"],
    strict=True,
    coerce=True,
)

POPULATION = pa.DataFrameSchema(
    {
        "location_id": pa.Column(str),  # ISO3
        "year": pa.Column(int, pa.Check.in_range(1950, 2100)),
        "population": pa.Column(float, pa.Check.gt(0)),
        "source": _source,
    },
    unique=["location_id", "year"],
    strict=True,
    coerce=True,
)

PRODUCTION_MEASUREMENTS = pa.DataFrameSchema(
    {
        "country": pa.Column(str),
        "iso3": pa.Column(str, nullable=True),
        "year": pa.Column(int, pa.Check.in_range(1990, 2100)),
        "measure": pa.Column(str),
        "value": pa.Column(float, nullable=True),
        "lower": pa.Column(float, nullable=True),
        "upper": pa.Column(float, nullable=True),
        "publisher": pa.Column(str),
        "publication": pa.Column(str),
        "url": pa.Column(str, nullable=True),
        "verified": pa.Column(bool),  # False for rows marked "memory" (recalled, unverified)
        "note": pa.Column(str, nullable=True),
        "source": _source,
    },
    strict=True,
    coerce=True,
)

SIGNATURE_SHARES = pa.DataFrameSchema(
    {
        "destination": pa.Column(str),
        "year": pa.Column(int, pa.Check.in_range(1990, 2100)),
        "source_region": pa.Column(str),
        "share_pct": pa.Column(float, pa.Check.in_range(0, 100), nullable=True),
        "lower_pct": pa.Column(float, nullable=True),  # bounds stated in words ("less than 5")
        "upper_pct": pa.Column(float, nullable=True),
        "basis": pa.Column(str),
        "publication": pa.Column(str),
        "url": pa.Column(str, nullable=True),
        "verified": pa.Column(bool),
        "note": pa.Column(str, nullable=True),
        "source": _source,
    },
    strict=True,
    coerce=True,
)


# The national (US) series of a later VSRR release, kept apart from ``us_provisional`` (the
# 2018 release): both releases publish 2015-2018 and the later one revised the values, so
# each stays a separate measurement (told apart by ``source`` when the tables are stacked).
US_PROVISIONAL_NATIONAL = pa.DataFrameSchema(
    _VSRR_COLUMNS,
    unique=["location_id", "year", "month", "indicator"],
    strict=True,
    coerce=True,
)


@dataclass(frozen=True)
class Table:
    name: str
    schema: pa.DataFrameSchema
    description: str

    @property
    def filename(self) -> str:
        return f"{self.name}.parquet"


TABLES: dict[str, Table] = {
    t.name: t
    for t in [
        Table("gbd_deaths", GBD_DEATHS,
              "IHME GBD 2017 and 2019 deaths and rates by location and year"),
        Table("us_deaths_by_drug", US_DEATHS_BY_DRUG, "NIDA/NCHS US overdose deaths by drug"),
        Table("us_provisional", US_PROVISIONAL, "CDC VSRR provisional 12-month-ending counts"),
        Table("us_county_deaths", US_COUNTY_DEATHS, "CDC WONDER opioid deaths by county"),
        Table("population", POPULATION, "World Bank population by country and year"),
        Table("production_measurements", PRODUCTION_MEASUREMENTS,
              "Published opium cultivation, production and share figures"),
        Table("signature_shares", SIGNATURE_SHARES,
              "DEA Heroin Signature Program shares of US heroin by source region"),
        Table("us_provisional_national", US_PROVISIONAL_NATIONAL,
              "CDC VSRR provisional 12-month-ending US counts, 2015-2025 release"),
    ]
}


# ---- Canada (PHAC) and UNODC tables ----------------------------------------------------
# Appended as a block so that parallel additions to this module merge cleanly.

CANADA_OPIOID_DEATHS = pa.DataFrameSchema(
    {
        "location_id": pa.Column(str, pa.Check.str_matches(r"^(CAN|CA-[A-Z]{2})$")),
        "location_name": pa.Column(str),
        "location_level": pa.Column(str, pa.Check.isin(["country", "province", "territory"])),
        "year": pa.Column(int, pa.Check.in_range(2000, 2100)),
        "quarter": pa.Column("Int64", pa.Check.in_range(1, 4), nullable=True),  # NA: by year
        "period_end_month": pa.Column(int, pa.Check.in_range(1, 12)),
        "partial_year": pa.Column(bool),  # True for a year published part-way ("Jan to Sep")
        "measure": pa.Column(str, pa.Check.isin(["deaths", "percent_by_opioid_type",
                                                 "percent_by_origin"])),
        "category": pa.Column(str),  # all_opioids | fentanyl ... | pharmaceutical_only ...
        "unit": pa.Column(str, pa.Check.isin(["number", "percent"])),
        "value": pa.Column(float, pa.Check.in_range(0, 1e7), nullable=True),  # NaN: see status
        "status": pa.Column(str, pa.Check.isin(["published", "suppressed", "not_available"])),
        "definition": pa.Column(str, pa.Check.isin(["certified_overdose"])),
        "source": _source,
    },
    checks=[
        pa.Check(lambda df: (df["unit"] != "percent") | ~(df["value"] > 100),
                 error="percent above 100"),
        pa.Check(lambda df: (df["status"] == "published") == df["value"].notna(),
                 error="value missing exactly when status is not published"),
    ],
    unique=["location_id", "year", "quarter", "measure", "category"],
    strict=True,
    coerce=True,
)

DRUG_USE_PREVALENCE = pa.DataFrameSchema(
    {
        "iso3": pa.Column(str, pa.Check.str_matches(r"^[A-Z]{3}$")),
        "country": pa.Column(str),  # as published by UNODC
        "year": pa.Column(int, pa.Check.in_range(1990, 2100)),
        "drug_group": pa.Column(str),
        "drug": pa.Column(str),  # "Opioids" (all, incl. pharmaceutical), "Opiates", ...
        "age": pa.Column(str),  # "general": the population aged 15-64
        "sex": pa.Column(str, pa.Check.isin(SEXES)),
        "prevalence_pct": pa.Column(float, pa.Check.in_range(0, 100)),
        "source": _source,
    },
    unique=["iso3", "year", "drug_group", "drug", "age", "sex"],
    strict=True,
    coerce=True,
)

DRUG_SEIZURES = pa.DataFrameSchema(
    {
        "iso3": pa.Column(str, pa.Check.str_matches(r"^[A-Z]{3}$")),
        "year": pa.Column(int, pa.Check.in_range(1990, 2100)),
        "drug_group": pa.Column(str),
        "drug_subgroup": pa.Column(str),
        "drug": pa.Column(str),
        "kilograms": pa.Column(float, pa.Check.ge(0)),  # sum of the records of the key
        "n_records": pa.Column(int, pa.Check.ge(1)),  # records summed (see docs/data.md)
        # registry.opioid_classes: illicit_opiate | illicit_synthetic | pharmaceutical | ""
        "opioid_class": pa.Column(str, pa.Check.isin(["", "illicit_opiate",
                                                      "illicit_synthetic", "pharmaceutical"])),
        "source": _source,
    },
    unique=["iso3", "year", "drug_group", "drug_subgroup", "drug"],
    strict=True,
    coerce=True,
)

TABLES.update({
    t.name: t
    for t in [
        Table("canada_opioid_deaths", CANADA_OPIOID_DEATHS,
              "PHAC apparent opioid toxicity deaths in Canada, counts and percent breakdowns"),
        Table("drug_use_prevalence", DRUG_USE_PREVALENCE,
              "UNODC annual prevalence of drug use (15-64) by country, drug, year and sex"),
        Table("drug_seizures", DRUG_SEIZURES,
              "UNODC drug seizures (kg) by country, drug and year, with opioid class"),
    ]
})


def year_range(table: str) -> tuple[int, int]:
    """(first, last) year the table's schema allows (its ``year`` column's ``in_range``).

    Loaders check each year against it as they read it, so an out-of-range year is an
    error naming the file, line and column, and the bounds have one source: the schema.
    """
    if table not in TABLES or "year" not in TABLES[table].schema.columns:
        raise ValueError(f"year_range: {table!r} is not a processed table with a year "
                         f"column; tables: {sorted(TABLES)}")
    for check in TABLES[table].schema.columns["year"].checks:
        if check.name == "in_range":
            stats = check.statistics
            if not (stats["include_min"] and stats["include_max"]):
                raise ValueError(f"schema {table!r}: year range must include its bounds")
            return int(stats["min_value"]), int(stats["max_value"])
    raise ValueError(f"schema {table!r} has no in_range check on its year column")
