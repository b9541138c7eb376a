"""Inputs of the composition model (``burden.models.composition``): measured death compositions
(US by T-code, Canada by type and origin) and the evidence used elsewhere (UNODC prevalence
of "opiates" vs "opioids" use, the composition of opioid seizures).

Death groups are **disjoint**, so that they add up to all opioid deaths without counting a
death twice (as ``burden.attribution.us_disjoint_groups`` does for the US):

- ``opiate_only``: an illicit opiate (heroin, opium, illicit morphine) and no illicit
  synthetic opioid;
- ``synthetic_only``: an illicit synthetic opioid (fentanyl, analogues, nitazenes) and no
  illicit opiate;
- ``opiate_and_synthetic``: both;
- ``not_illicit``: no illicit opioid (pharmaceutical and other opioids: methadone, tramadol,
  prescription opioids; in the US also deaths whose opioid is unspecified).

A death involving a pharmaceutical opioid *and* an illicit one is in the illicit group (the
illicit drug is what the attribution follows); ``not_illicit`` is "pharmaceutical or other
opioids only".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

GROUPS = ("opiate_only", "synthetic_only", "opiate_and_synthetic", "not_illicit")
#: classes of the hierarchical model (outside the measured blocks), disjoint: a death's
#: principal type. No data outside North America record deaths involving both an illicit
#: opiate and an illicit synthetic, so that group is 0 there (said in the docs).
CLASSES = ("illicit_opiate", "illicit_synthetic", "pharmaceutical")
CLASS_GROUP = {"illicit_opiate": "opiate_only", "illicit_synthetic": "synthetic_only",
               "pharmaceutical": "not_illicit"}


@dataclass(frozen=True)
class MeasuredBlock:
    """Measured disjoint-group counts of one country: (year x group) counts, and for the US
    the T40.4 (synthetic opioid) deaths of each year and the years of the baseline."""

    iso3: str
    years: np.ndarray
    counts: np.ndarray  # (year, group) counts of GROUPS (floats, may be fractional)
    how: list[str]
    #: (year, 2): where deaths involving both heroin and a synthetic opioid are not
    #: counted (VSRR), the bounds of their share of heroin deaths (NaN where counted).
    #: There the counts hold heroin deaths as ``opiate_only``, synthetic-opioid deaths as
    #: ``synthetic_only``, 0 as both and the rest of the opioid deaths as ``not_illicit``:
    #: ``with_overlap`` moves a share q of heroin deaths into both groups
    overlap_bounds: np.ndarray | None = None

    def with_overlap(self, q: np.ndarray) -> np.ndarray:
        """Counts (..., year, group) with a share ``q`` (..., year) of each uncounted
        year's heroin deaths also involving a synthetic opioid: h - hq heroin only,
        s - hq synthetic only, hq both, and the rest + hq (the union of heroin and
        synthetic deaths shrinks by hq). Years with counted overlap are unchanged."""
        unknown = ~np.isnan(self.overlap_bounds[:, 0]) if self.overlap_bounds is not None \
            else np.zeros(len(self.years), bool)
        hq = np.where(unknown, q, 0.0) * self.counts[:, GROUPS.index("opiate_only")]
        move = np.array([-1.0, -1.0, 1.0, 1.0])  # in the order of GROUPS
        return self.counts + hq[..., None] * move


def _nida_wide(us_deaths_by_drug: pd.DataFrame) -> pd.DataFrame:
    t = us_deaths_by_drug
    t = t[(t["measure"] == "deaths") & (t["group"] == "all") & (t["sex"] == "both")]
    wide = t.pivot_table(index="year", columns="drug", values="value", aggfunc="first")
    need = ["any_opioid", "heroin", "synthetic_opioids", "heroin_and_synthetic_opioids"]
    missing = [d for d in need if d not in wide]
    if missing:
        raise ValueError(f"us_deaths_by_drug lacks {missing} (deaths, sex 'both', group "
                         "'all')")
    return wide[need].dropna()


def us_block(us_deaths_by_drug: pd.DataFrame) -> MeasuredBlock:
    """US disjoint groups by year from NIDA/NCHS counts (T40.1 heroin, T40.4 synthetic
    opioids other than methadone, both, any opioid). T40.4 deaths are *not* all illicit:
    the pharmaceutical part is handled in ``CompositionModel`` (baseline of the pre-era
    years); here the synthetic group holds every T40.4 death."""
    w = _nida_wide(us_deaths_by_drug)
    h, s, hs, a = (w["heroin"], w["synthetic_opioids"], w["heroin_and_synthetic_opioids"],
                   w["any_opioid"])
    counts = np.column_stack([h - hs, s - hs, hs, a - (h + s - hs)])
    if (counts < 0).any():
        bad = w.index[(counts < 0).any(axis=1)].tolist()
        raise ValueError(f"us_deaths_by_drug: heroin + synthetic - both exceeds any opioid "
                         f"in years {bad}")
    return MeasuredBlock("USA", w.index.to_numpy(int), counts,
                         ["NIDA/NCHS deaths by T-code"] * len(w))


#: VSRR indicators of the US block after the NIDA table's last year (12 months ending in
#: December: a calendar year)
VSRR_INDICATORS = ("heroin", "synthetic_opioids", "any_opioid")


def us_overlap_share(us_deaths_by_drug: pd.DataFrame) -> tuple[int, float]:
    """(the NIDA table's last year, the share of its heroin deaths that also involve a
    synthetic opioid): the lower bound of that share in later years (it rose every year
    from 2011, 0.010, to 2019, 0.624: docs/models/composition.md, "Measured blocks")."""
    w = _nida_wide(us_deaths_by_drug)
    last = int(w.index.max())
    return last, float(w.loc[last, "heroin_and_synthetic_opioids"] / w.loc[last, "heroin"])


def us_provisional_block(us_provisional_national: pd.DataFrame,
                         us_deaths_by_drug: pd.DataFrame) -> MeasuredBlock:
    """US years after the NIDA table's last one from CDC VSRR's national provisional counts
    (``us_provisional_national``): heroin (T40.1), synthetic opioids other than methadone
    (T40.4) and any opioid, 12 months ending in December, VSRR's predicted value where it
    flags the month underreported (as ``CertifiedDeaths`` does), its reported value
    elsewhere. VSRR does not count deaths involving both heroin and a synthetic opioid:
    their share of heroin deaths is bounded below by the NIDA table's last year and above
    by 1 (``MeasuredBlock.overlap_bounds``). Years without a December row are left out."""
    last, q_low = us_overlap_share(us_deaths_by_drug)
    need = ("year", "month", "indicator", "value", "predicted_value", "underreported")
    missing = [c for c in need if c not in us_provisional_national]
    if missing:
        raise ValueError(f"us_provisional_national lacks columns {missing}")
    t = us_provisional_national
    t = t[(t["month"] == 12) & t["indicator"].isin(VSRR_INDICATORS) & (t["year"] > last)]
    flagged = t["underreported"].astype(bool)
    column = np.where(flagged, "predicted_value", "value")
    value = t["value"].where(~flagged, t["predicted_value"])
    empty = t[value.isna()]
    if not empty.empty:
        raise ValueError("us_provisional_national: December counts missing (the column read "
                         "is predicted_value where VSRR flags the month underreported, value "
                         "elsewhere): " + "; ".join(
                             f"{int(r.year)} {r.indicator} {c}" for r, c in
                             zip(empty.itertuples(), column[value.isna().to_numpy()])))
    wide = t.assign(v=value).pivot_table(index="year", columns="indicator", values="v",
                                         aggfunc="first")
    wide = wide.reindex(columns=list(VSRR_INDICATORS))
    gaps = wide[wide.isna().any(axis=1)]
    if not gaps.empty:
        raise ValueError(f"us_provisional_national: December of {gaps.index.tolist()} lacks "
                         f"{sorted(set(gaps.columns[gaps.isna().any()]))} (a count of "
                         f"{', '.join(VSRR_INDICATORS)} is needed each year)")
    h, s, a = (wide[k].to_numpy(float) for k in VSRR_INDICATORS)
    bad = (s < h) | (a - s < h * (1.0 - q_low)) | (np.minimum(h, s) < 0)
    if bad.any():
        found = "; ".join(f"{y}: heroin {hh:,.0f}, synthetic {ss:,.0f}, any opioid {aa:,.0f}"
                          for y, hh, ss, aa in zip(wide.index[bad], h[bad], s[bad], a[bad]))
        raise ValueError(f"us_provisional_national: December counts that cannot be split "
                         "into disjoint groups with the overlap bounds (heroin >= 0, "
                         f"synthetic >= heroin and any - synthetic >= heroin x (1 - "
                         f"{q_low:.3f}) are needed): {found}")
    years = wide.index.to_numpy(int)
    counts = np.column_stack([h, s, np.zeros_like(h), a - h - s])
    text = (f"CDC VSRR provisional counts, 12 months ending December; deaths with both "
            f"heroin and a synthetic opioid not counted: {q_low:.1%} (NIDA {last}) to 100% "
            "of heroin deaths")
    how = [text] * len(years)
    bounds = np.tile([q_low, 1.0], (len(years), 1))
    return MeasuredBlock("USA", years, counts, how, overlap_bounds=bounds)


def joined(first: MeasuredBlock, then: MeasuredBlock) -> MeasuredBlock:
    """One country's block with the years of ``then`` after those of ``first``."""
    if first.iso3 != then.iso3 or (len(first.years) and len(then.years)
                                    and then.years.min() <= first.years.max()):
        raise ValueError(f"cannot join blocks of {first.iso3} and {then.iso3}: the second "
                         "must be the same country's later years")

    def bounds(b: MeasuredBlock) -> np.ndarray:
        return (b.overlap_bounds if b.overlap_bounds is not None
                else np.full((len(b.years), 2), np.nan))
    return MeasuredBlock(first.iso3, np.concatenate([first.years, then.years]),
                         np.vstack([first.counts, then.counts]), first.how + then.how,
                         overlap_bounds=np.vstack([bounds(first), bounds(then)]))


def us_synthetic_baseline(us_deaths_by_drug: pd.DataFrame, years: tuple[int, int]
                          ) -> tuple[float, float]:
    """Mean and sd of log T40.4 deaths over ``years`` (the pre-illicit-fentanyl baseline)."""
    w = _nida_wide(us_deaths_by_drug)
    s = w.loc[(w.index >= years[0]) & (w.index <= years[1]), "synthetic_opioids"]
    if len(s) < 2:
        raise ValueError(f"us_deaths_by_drug: fewer than 2 years of synthetic-opioid deaths "
                         f"in the baseline {years}")
    logs = np.log(s.to_numpy(float))
    return float(logs.mean()), float(logs.std(ddof=1))


def canada_block(canada: pd.DataFrame) -> MeasuredBlock:
    """Canada's disjoint groups by year from PHAC's percent by origin (pharmaceutical only,
    non-pharmaceutical only, both, undetermined) and percent by type (fentanyl).

    - illicit = non-pharmaceutical only + both (a death with a non-pharmaceutical opioid
      involves an illicit one); not_illicit = pharmaceutical only; undetermined deaths are
      left out (shares are of the determined deaths);
    - within illicit deaths, the synthetic part is fentanyl-involved deaths (fentanyl is
      overwhelmingly non-pharmaceutical in these years: PHAC reports fentanyl deaths and
      non-pharmaceutical deaths at similar percentages), capped at the illicit total; the
      rest (non-fentanyl illicit opioids, mostly heroin) is ``opiate_only``. PHAC does not
      publish deaths involving both heroin and fentanyl, so ``opiate_and_synthetic`` is 0
      (heroin deaths with fentanyl are counted as synthetic).
    - counts = percentages x all-opioid deaths of the year (the multinomial size).
    Years without both tables (2016-2017: no origin) are not measured.
    """
    c = canada[(canada["location_id"] == "CAN") & (canada["quarter"].isna())
               & (canada["status"] == "published")]
    deaths = c[(c["measure"] == "deaths") & (c["category"] == "all_opioids")
               & (c["unit"] == "number")].set_index("year")["value"]
    origin = c[c["measure"] == "percent_by_origin"].pivot_table(
        index="year", columns="category", values="value", aggfunc="first")
    otype = c[c["measure"] == "percent_by_opioid_type"].pivot_table(
        index="year", columns="category", values="value", aggfunc="first")
    years, rows, how = [], [], []
    for year in sorted(set(origin.index) & set(otype.index) & set(deaths.index)):
        o = origin.loc[year]
        if any(pd.isna(o.get(k)) for k in ("pharmaceutical_only", "non_pharmaceutical_only",
                                           "both")) or pd.isna(otype.loc[year].get(
                                               "fentanyl")):
            continue
        pharm = float(o["pharmaceutical_only"])
        illicit = float(o["non_pharmaceutical_only"]) + float(o["both"])
        synth = min(float(otype.loc[year, "fentanyl"]), illicit)
        total = pharm + illicit
        n = float(deaths.loc[year])
        rows.append(np.array([illicit - synth, synth, 0.0, pharm]) / total * n)
        years.append(int(year))
        how.append("PHAC percent by origin and by type x all-opioid deaths")
    if not years:
        raise ValueError("canada_opioid_deaths: no year with percent by origin, percent "
                         "by type and all-opioid deaths for Canada")
    return MeasuredBlock("CAN", np.array(years), np.vstack(rows), how)


def prevalence_ratio(prevalence: pd.DataFrame, countries: list[str]
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(observations, usage): logit of opiates / opioids prevalence, both sexes, per
    country-year with both figures. UNODC's "Opioids" include opiates, so the ratio lies in
    (0, 1]; a ratio above 1 (the two from different surveys) or a zero is clipped into
    [0.02, 0.98] and said so in the usage table."""
    p = prevalence[(prevalence["drug_group"] == "Opioids and Opiates")
                   & (prevalence["sex"] == "both")]
    w = p.pivot_table(index=["iso3", "year"], columns="drug", values="prevalence_pct",
                      aggfunc="first")
    obs, usage = [], []
    for (iso3, year), r in w.iterrows():
        opiates, opioids = r.get("Opiates"), r.get("Opioids")
        record = f"{iso3} {year}"
        if pd.isna(opiates) or pd.isna(opioids):
            usage.append({"record": record, "used": False, "how": "",
                          "reason": "opiates or opioids prevalence missing"})
            continue
        if iso3 not in countries:
            usage.append({"record": record, "used": False, "how": "",
                          "reason": "country not in the location hierarchy"})
            continue
        if opioids <= 0:
            usage.append({"record": record, "used": False, "how": "",
                          "reason": "opioids prevalence 0: ratio undefined"})
            continue
        ratio = float(opiates) / float(opioids)
        clipped = float(np.clip(ratio, 0.02, 0.98))
        how = "logit(opiates / opioids)"
        if clipped != ratio:
            how += f" (ratio {ratio:.3g} clipped to {clipped:g})"
        obs.append({"iso3": iso3, "year": int(year), "ratio": clipped})
        usage.append({"record": record, "used": True, "how": how, "reason": ""})
    return pd.DataFrame(obs, columns=["iso3", "year", "ratio"]), pd.DataFrame(usage)


def seizure_shares(seizures: pd.DataFrame, countries: list[str], min_kg: float
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(observations, usage): per country, the composition by class of its opioid seizures
    (kilograms, all years of the file pooled), for countries seizing at least ``min_kg``
    of classified opioids."""
    s = seizures[seizures["opioid_class"].isin(CLASSES)]
    kg = s.pivot_table(index="iso3", columns="opioid_class", values="kilograms",
                       aggfunc="sum", fill_value=0.0).reindex(columns=list(CLASSES),
                                                              fill_value=0.0)
    obs, usage = [], []
    for iso3, r in kg.iterrows():
        total = float(r.sum())
        if iso3 not in countries:
            usage.append({"record": iso3, "used": False, "how": "",
                          "reason": "country not in the location hierarchy"})
        elif total < min_kg:
            usage.append({"record": iso3, "used": False, "how": "",
                          "reason": f"{total:.3g} kg of classified opioids < {min_kg:g} kg"})
        else:
            obs.append({"iso3": iso3, **{k: float(r[k]) / total for k in CLASSES},
                        "kg": total})
            usage.append({"record": iso3, "used": True, "how": "composition of seized kg",
                          "reason": ""})
    return (pd.DataFrame(obs, columns=["iso3", *CLASSES, "kg"]), pd.DataFrame(usage))
