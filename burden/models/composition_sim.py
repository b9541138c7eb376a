"""Simulate data from the composition model (for parameter recovery and tests).

Every number is synthetic: the hyperparameters and country compositions are one draw from
the model's priors (``CompositionPriors``), the observations one draw from its likelihood,
written as rows of the processed tables (``drug_use_prevalence``, ``drug_seizures``); the US
and Canada blocks are multinomial draws from a made-up composition (they are measured, not
modelled, so they carry no parameter to recover). The truth returned is the drawn
``theta`` (country x class) and hyperparameters.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special, stats

from burden.models.composition import KINDS, OpioidComposition
from burden.models.composition_data import CLASSES

#: a seized drug of each class, as the seizures file labels it (registry.opioid_classes)
CLASS_DRUG = {"illicit_opiate": "Heroin", "illicit_synthetic": "Fentanyl",
              "pharmaceutical": "Tramadol"}


def _draw(prior, rng, size=None):
    p = prior.params
    if prior.dist == "Normal":
        return rng.normal(p["mu"], p["sigma"], size)
    if prior.dist == "HalfNormal":
        return np.abs(rng.normal(0.0, p["sigma"], size))
    if prior.dist == "LogNormal":
        return np.exp(rng.normal(p["mu"], p["sigma"], size))
    raise ValueError(f"composition_sim: no sampler for prior {prior}")


def simulate(locations: pd.DataFrame, seed: int, *, prevalence_fraction: float = 0.6,
             seizure_fraction: float = 0.7, model: OpioidComposition | None = None
             ) -> tuple[dict[str, pd.DataFrame], dict]:
    """(tables, truth) for the countries of ``locations`` (iso3, region_id): a random
    ``prevalence_fraction`` of countries gets one or two prevalence surveys, a random
    ``seizure_fraction`` seizures of the three classes."""
    model = model or OpioidComposition()
    pri = model.model_config.priors
    rng = np.random.default_rng(seed)
    countries = locations["iso3"].astype(str).tolist()
    regions = sorted(set(locations["region_id"].astype(str)))
    reg = locations["region_id"].astype(str).map({r: i for i, r in enumerate(regions)})
    k = len(KINDS)
    mu = _draw(pri.mu, rng, k)
    s_reg, s_cty = _draw(pri.sigma_region, rng, k), _draw(pri.sigma_country, rng, k)
    s_prev, s_seiz = float(_draw(pri.sigma_prev, rng)), float(_draw(pri.sigma_seizure, rng))
    eta = (mu + s_reg * rng.standard_normal((len(regions), k))[reg.to_numpy()]
           + s_cty * rng.standard_normal((len(countries), k)))
    theta = special.softmax(np.column_stack([eta, np.zeros(len(countries))]), axis=1)
    prev_rows, seiz_rows = [], []
    for i, iso3 in enumerate(countries):
        if rng.random() < prevalence_fraction:
            for year in rng.choice(np.arange(2005, 2020), size=rng.integers(1, 3),
                                   replace=False):
                logit = special.logit(theta[i, 0]) + s_prev * stats.t.rvs(4, random_state=rng)
                ratio = float(special.expit(logit))
                opioids = float(rng.uniform(0.2, 2.0))
                for drug, value in (("Opioids", opioids), ("Opiates", opioids * ratio)):
                    prev_rows.append({"iso3": iso3, "country": f"Country {iso3}",
                                      "year": int(year), "drug_group": "Opioids and Opiates",
                                      "drug": drug, "age": "general", "sex": "both",
                                      "prevalence_pct": value, "source": "sim"})
        if rng.random() < seizure_fraction:
            alr = eta[i] + s_seiz * stats.t.rvs(4, size=k, random_state=rng)
            shares = special.softmax(np.append(alr, 0.0))
            total = float(rng.uniform(10.0, 1000.0))
            for cls, share in zip(CLASSES, shares):
                seiz_rows.append({"iso3": iso3, "year": 2020,
                                  "drug_group": "Opioids and Opiates",
                                  "drug_subgroup": CLASS_DRUG[cls], "drug": CLASS_DRUG[cls],
                                  "kilograms": total * float(share), "n_records": 1,
                                  "opioid_class": cls, "source": "sim"})
    tables = {"drug_use_prevalence": pd.DataFrame(prev_rows),
              "drug_seizures": pd.DataFrame(seiz_rows),
              "us_deaths_by_drug": _us_table(rng),
              "us_provisional_national": _us_provisional_table(rng),
              "canada_opioid_deaths": _canada_table(rng),
              "locations": locations}
    truth = {"theta": theta, "mu": mu, "sigma_region": s_reg, "sigma_country": s_cty,
             "sigma_prev": s_prev, "sigma_seizure": s_seiz, "countries": countries}
    return tables, truth


def _us_table(rng) -> pd.DataFrame:
    """NIDA-like counts 1999-2019 from a made-up composition drifting towards synthetics."""
    rows = []
    for j, year in enumerate(range(1999, 2020)):
        total = int(rng.integers(5_000, 50_000))
        synth = 0.05 + 0.5 * j / 20  # made-up
        p = np.array([0.2, synth, 0.05, 0.75 - synth])
        h_only, s_only, both, _rest = rng.multinomial(total, p / p.sum())
        for drug, value in (("any_opioid", total), ("heroin", h_only + both),
                            ("synthetic_opioids", s_only + both),
                            ("heroin_and_synthetic_opioids", both)):
            rows.append({"year": year, "drug": drug, "group": "all", "sex": "both",
                         "measure": "deaths", "value": float(value),
                         "definition": "certified_overdose", "source": "sim"})
    return pd.DataFrame(rows)


def _us_provisional_table(rng) -> pd.DataFrame:
    """VSRR-like national rows 2020-2022, 12 months ending in December (heroin, synthetic
    opioids, any opioid) and a June row that the composition does not read (made-up)."""
    rows = []
    for year in range(2020, 2023):
        total = float(rng.integers(30_000, 80_000))
        parts = {"any_opioid": total, "heroin": round(float(rng.uniform(0.03, 0.15)) * total),
                 "synthetic_opioids": round(float(rng.uniform(0.6, 0.8)) * total)}
        for month in (6, 12):
            for indicator, value in parts.items():
                rows.append({"location_id": "US", "location_level": "country", "year": year,
                             "month": month, "indicator": indicator, "value": value,
                             "predicted_value": value, "underreported": False,
                             "definition": "certified_overdose", "source": "sim"})
    return pd.DataFrame(rows)


def _canada_table(rng) -> pd.DataFrame:
    """PHAC-like rows 2018-2024: deaths, percent by origin and by type (made-up)."""
    rows = []
    base = {"location_id": "CAN", "location_name": "Canada", "location_level": "country",
            "quarter": pd.NA, "period_end_month": 12, "partial_year": False,
            "status": "published", "definition": "certified_overdose", "source": "sim"}
    for year in range(2018, 2025):
        pharm = float(rng.uniform(5, 30))
        both = float(rng.uniform(2, 8))
        undetermined = float(rng.uniform(2, 6))
        nonpharm = 100.0 - pharm - both - undetermined
        fent = float(rng.uniform(0.6, 0.95)) * (nonpharm + both)
        rows.append({**base, "year": year, "measure": "deaths", "category": "all_opioids",
                     "unit": "number", "value": float(rng.integers(3000, 8000))})
        for cat, v in (("pharmaceutical_only", pharm), ("both", both),
                       ("non_pharmaceutical_only", nonpharm), ("undetermined", undetermined)):
            rows.append({**base, "year": year, "measure": "percent_by_origin",
                         "category": cat, "unit": "percent", "value": v})
        rows.append({**base, "year": year, "measure": "percent_by_opioid_type",
                     "category": "fentanyl", "unit": "percent", "value": fent})
    out = pd.DataFrame(rows)
    out["quarter"] = out["quarter"].astype("Int64")
    return out
