"""Worlds like ours: a data-only plausibility rule for simulation-based calibration.

SBC draws parameters from the prior and data from the model. Keeping only simulated data
sets that pass a rule which looks at the data alone leaves SBC valid: the posterior of an
accepted data set is the posterior of that data set, so the ranks stay uniform over the
accepted worlds (Modrák, "Rejection sampling in simulations", vignette of the SBC R
package, https://hyunjimoon.github.io/SBC/articles/rejection_sampling.html). A rule that
looks at a parameter, or drops single observations, breaks it. What such a run calibrates
is the model on data sets like the ones the rule accepts, not over the whole prior: the
manifest records the rule, its bands and how many worlds it rejected and why.

``deaths_rule`` summarises a deaths data set (GBD rounds, NCHS and VSRR series) by a few
numbers an epidemiologist would look at first, and accepts a world when each lies within a
band around the real data's value (``DEATHS_BANDS``). docs/validation/sbc.md, "deaths:
worlds like ours".

``certified_rule`` does the same for the certified model (``CERTIFIED_BANDS``) on one
summary: how extreme a drug's share of US opioid deaths gets. Where the simulated counts
put a share at 0 or 1, nothing bounds its logit walk on that side but the walk's prior: a
flat direction, where the fits diverge (docs/validation/sbc.md, "certified: where its fits
diverge, and worlds like ours").
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from burden.models.certified_data import CertifiedInputs
    from burden.models.deaths_data import DeathsInputs
    from burden.validate.sbc_specs import SBCSpec

#: per summary, how far from the real data's value an accepted world may be: ("ratio", k)
#: accepts real / k to real * k (a spread), ("shift", d) accepts real - d to real + d (a
#: mean on the log scale: d = log(10) is a factor of 10 either way). Chosen before any fit
#: of the accepted worlds, as what separates a world an analyst would call implausible:
#: death rates 10 times the real ones or a tenth of them, spreads 3 times as large or a
#: third as large
DEATHS_BANDS: dict[str, tuple[str, float]] = {
    "gbd_log_rate_median": ("shift", float(np.log(10.0))),
    "gbd_log_rate_sd_across_countries": ("ratio", 3.0),
    "gbd_year_change_rms": ("ratio", 3.0),
    "gbd_decade_change_sd": ("ratio", 3.0),
    "gbd_round_gap_rms": ("ratio", 3.0),
    "gbd_round_gap_slope_sd": ("ratio", 3.0),
    "nchs_minus_gbd_us": ("shift", float(np.log(10.0))),
    "nchs_year_change_rms": ("ratio", 3.0),
    # added 2026-12-05, as the certified rule's (``CERTIFIED_BANDS``): a drug's share of the
    # NCHS any-opioid count at most 10 times further in odds from even than the real
    # data's most extreme (42 of 100 prior worlds of seed 11 count a drug as often as all
    # opioids or more: its logit walk then has a flat direction)
    "nchs_share_logit_most_extreme": ("shift", float(np.log(10.0))),
}


@dataclass
class WorldRule:
    """A data-only acceptance rule: ``summaries(data)`` -> name -> value; a world is
    accepted when every summary is finite and inside ``bands[name]``."""

    name: str
    real: dict[str, float]
    bands: dict[str, tuple[float, float]]
    summaries: Callable[[dict[str, np.ndarray]], dict[str, float]] = field(repr=False)

    def outside(self, data: dict[str, np.ndarray]) -> dict[str, float]:
        """The summaries of ``data`` outside their band (or not finite): name -> value;
        empty for an accepted world."""
        values = self.summaries(data)
        return {name: values[name] for name, (low, high) in self.bands.items()
                if not (np.isfinite(values[name]) and low <= values[name] <= high)}

    def reject_reason(self, data: dict[str, np.ndarray]) -> str | None:
        """None for an accepted world, else each failed summary with its value and band."""
        return "; ".join(f"{name} {v:.3g} not in [{self.bands[name][0]:.3g}, "
                         f"{self.bands[name][1]:.3g}]"
                         for name, v in self.outside(data).items()) or None

    def describe(self) -> dict:
        """The rule as the manifest records it."""
        return {"rule": self.name, "real": self.real,
                "bands": {k: list(v) for k, v in self.bands.items()}}


#: ``rejections``' count of the prior worlds that could not be drawn (None in its list):
#: a world whose counts are too large to draw is not like ours
UNDRAWABLE = "undrawable"


def rejections(rule: WorldRule, worlds: list[dict[str, np.ndarray] | None]
               ) -> tuple[list[int], dict[str, int]]:
    """(positions of the accepted data sets in ``worlds``, per summary: how many data sets
    it rejected; a data set outside two bands counts for both). A world that could not be
    drawn (None) is rejected and counted as ``UNDRAWABLE``."""
    accepted, counts = [], {}
    for i, data in enumerate(worlds):
        failed = {UNDRAWABLE: np.nan} if data is None else rule.outside(data)
        if not failed:
            accepted.append(i)
        for name in failed:
            counts[name] = counts.get(name, 0) + 1
    return accepted, counts


def _bands(real: dict[str, float], spec: dict[str, tuple[str, float]]
           ) -> dict[str, tuple[float, float]]:
    """name -> (low, high) around each real value: ("ratio", k) is real / k to real * k,
    ("shift", d) real - d to real + d."""
    out = {}
    for name, (kind, width) in spec.items():
        v = real[name]
        if kind == "ratio":
            if not v > 0:
                raise ValueError(f"plausibility band {name}: the real data's value is {v}, "
                                 "a ratio band needs a positive one")
            out[name] = (v / width, v * width)
        elif kind == "shift":
            out[name] = (v - width, v + width)
        else:
            raise ValueError(f"plausibility band {name}: kind {kind!r} is not ratio or shift")
    return out


def _rms(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(np.sqrt(np.mean(x ** 2))) if len(x) else float("nan")


Summaries = dict[str, float]


def most_extreme_logit(share: np.ndarray) -> float:
    """max |logit(share)| over the finite shares; a share at 0, or at 1 or above, is
    infinitely extreme (``inf``); NaN when there is none."""
    share = np.asarray(share, dtype=float)
    share = share[~np.isnan(share)]
    if not len(share):
        return float("nan")
    with np.errstate(divide="ignore", invalid="ignore"):
        logit = np.log(share) - np.log1p(-share)
    return float(np.max(np.abs(np.where(np.isnan(logit), np.inf, logit))))


def _rate_summaries(grid: np.ndarray, log_rate: np.ndarray) -> Summaries:
    """The level and spread of the log death rates and of their ten-year changes: ``grid``
    (country, year, round) of log deaths, ``log_rate`` the same per 100,000 people."""
    by_country = np.nanmean(log_rate, axis=(1, 2))
    decade = grid[:, 10:, :] - grid[:, :-10, :]
    return {"gbd_log_rate_median": float(np.nanmedian(log_rate)),
            "gbd_log_rate_sd_across_countries": float(np.nanstd(by_country)),
            "gbd_decade_change_sd": float(np.nanstd(np.nanmean(decade, axis=(1, 2))))}


def _round_gaps(grid: np.ndarray, x_decades: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(gaps (pair of rounds, country, year), each country's trend of its gap per decade
    (pair, country), where it has five or more years of both rounds)."""
    n_c, n_t, n_r = grid.shape
    pairs = [(a, b) for a in range(n_r) for b in range(a + 1, n_r)]
    gaps = np.stack([grid[:, :, b] - grid[:, :, a] for a, b in pairs]) if pairs else (
        np.full((0, n_c, n_t), np.nan))
    slopes = np.full(gaps.shape[:2], np.nan)
    for k, i in np.ndindex(*slopes.shape):
        ok = np.isfinite(gaps[k, i])
        if ok.sum() >= 5:
            slopes[k, i] = np.polyfit(x_decades[ok], gaps[k, i, ok], 1)[0]
    return gaps, slopes


def _spreads(changes: np.ndarray, gaps: np.ndarray, slopes: np.ndarray,
             rows: np.ndarray) -> Summaries:
    """The year-to-year scatter and the gaps between rounds of the countries ``rows``."""
    s = slopes[:, rows].ravel()
    s = s[np.isfinite(s)]
    return {"gbd_year_change_rms": _rms(changes[rows].ravel()),
            "gbd_round_gap_rms": _rms(gaps[:, rows].ravel()),
            "gbd_round_gap_slope_sd": float(np.std(s)) if len(s) else float("nan")}


def _us_summaries(inp: DeathsInputs, grid: np.ndarray, nchs: np.ndarray) -> Summaries:
    """NCHS any-opioid counts against the mean of GBD's US rounds (log), and the NCHS
    series' year-to-year changes."""
    from burden.models.deaths_data import US_DRUGS

    us = inp.us
    if us is None or not len(us.nchs_log):
        return {"nchs_minus_gbd_us": float("nan"), "nchs_year_change_rms": float("nan"),
                "nchs_share_logit_most_extreme": float("nan")}
    any_opioid = US_DRUGS.index("any_opioid")
    sel = us.nchs_drug == any_opioid
    gbd_us = np.nanmean(grid[inp.countries.index("USA")], axis=1)  # per model year
    series = np.full((len(us.years), len(US_DRUGS)), np.nan)
    series[us.nchs_year, us.nchs_drug] = nchs
    drugs = [d for d in range(len(US_DRUGS)) if d != any_opioid]
    with np.errstate(over="ignore", invalid="ignore"):
        share = np.exp(series[:, drugs] - series[:, [any_opioid]])
    return {"nchs_minus_gbd_us": float(np.nanmean(nchs[sel]
                                                  - gbd_us[us.nchs_year[sel] + us.offset])),
            "nchs_year_change_rms": _rms(np.diff(series, axis=0).ravel()),
            "nchs_share_logit_most_extreme": most_extreme_logit(share)}


def deaths_summaries(inp: DeathsInputs, by_super_region: bool = False
                     ) -> Callable[[dict[str, np.ndarray]], Summaries]:
    """The summaries of a deaths data set on the design of ``inp``: the GBD rows' death
    rates, their changes over years, the gaps between GBD rounds on the same country-years,
    and the US certified series against GBD's US rows. ``by_super_region``: also the
    year-to-year changes and the round gaps within each GBD super-region (``summary[super-
    region id]``), a diagnostic the rule does not use (docs/validation/sbc.md, "deaths:
    worlds like ours")."""
    c, t, r = inp.gbd_country, inp.gbd_year, inp.gbd_round
    shape = (len(inp.countries), len(inp.years), len(inp.rounds))
    with np.errstate(divide="ignore", invalid="ignore"):
        log_per_100k = np.log(1e5 / inp.population[c, t])  # NaN without population
    x_decades = (np.arange(shape[1]) - shape[1] / 2) / 10.0
    country_super = np.asarray(inp.country_super)

    def summaries(data: dict[str, np.ndarray]) -> Summaries:
        # a country or year without rows gives an empty mean (NaN, left out): not a warning
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            grid = np.full(shape, np.nan)
            grid[c, t, r] = np.asarray(data["gbd_log_deaths"], dtype=float)
            log_rate = np.full(shape, np.nan)
            log_rate[c, t, r] = grid[c, t, r] + log_per_100k
            gaps, slopes = _round_gaps(grid, x_decades)
            changes = np.diff(grid, axis=1)
            out = {**_rate_summaries(grid, log_rate),
                   **_spreads(changes, gaps, slopes, np.ones(shape[0], bool))}
            for k, sr_id in enumerate(inp.super_region_ids if by_super_region else ()):
                out.update({f"{name}[{sr_id}]": v for name, v in
                            _spreads(changes, gaps, slopes, country_super == k).items()})
            nchs = data.get("nchs_log_deaths")
            out.update(_us_summaries(inp, grid, None if nchs is None
                                     else np.asarray(nchs, dtype=float)))
            return out

    return summaries


def deaths_real_data(spec: SBCSpec) -> tuple[DeathsInputs, dict[str, np.ndarray]]:
    """(the ``DeathsInputs`` of ``spec``'s design, its real observed data by observed
    variable, as a simulated data set holds them)."""
    est = spec.estimator()
    inp = est.inputs(est.prepare_data(spec.tables))
    data = {"gbd_log_deaths": inp.gbd_log_deaths}
    if inp.us is not None:
        data["nchs_log_deaths"] = inp.us.nchs_log
    return inp, data


def deaths_rule(spec: SBCSpec) -> WorldRule:
    """The plausibility rule of the deaths model on ``spec``'s design:
    ``DEATHS_BANDS`` around the summaries of the real data of that design."""
    inp, real_data = deaths_real_data(spec)
    summaries = deaths_summaries(inp)
    real = summaries(real_data)
    # a summary the real data cannot give (no US block; a super-region with one round)
    # has no band
    bands = {name: DEATHS_BANDS[name.split("[")[0]] for name, v in real.items()
             if np.isfinite(v)}
    return WorldRule("worlds like ours", real, _bands(real, bands), summaries)


#: the certified model's bands (``certified_rule``), chosen before any fit of the accepted
#: worlds: a drug's share of US opioid deaths at most 10 times further in odds from an even
#: share than the real data's most extreme share (methadone in 2022, 4.1% of VSRR's
#: December count: 0.42% to 99.58%). In seed 1's 200 prior worlds of the certified SBC, 192
#: have a share beyond that (187 a drug's count at 0, or at or above the any-opioid count):
#: those are where its fits diverge (docs/validation/sbc.md, "certified: where its fits
#: diverge, and worlds like ours"). The level and year-to-year change of the counts are summarised too, but
#: not banded: bands of a factor 10 on the level and 3 on the changes, as ``DEATHS_BANDS``,
#: would keep 2 of those 200 worlds
CERTIFIED_BANDS: dict[str, tuple[str, float]] = {
    "us_share_logit_most_extreme": ("shift", float(np.log(10.0))),
}


def certified_summaries(inp: CertifiedInputs
                        ) -> Callable[[dict[str, np.ndarray]], Summaries]:
    """The summaries of a certified data set on the design of ``inp``, from its counts and
    nowcasts (the censored lower bounds are left out): the median log count of US
    any-opioid deaths and of Canada's, the RMS of the US any-opioid counts' year-to-year
    log changes within each source (December 12-month windows), and the most extreme
    logit of a drug's share of US any-opioid deaths over every source, year and window
    where both are counted (a share of 0 or 1 or more is infinite: rejected)."""
    from burden.models.certified import row_values, split_partner
    from burden.models.certified_data import US_ANY

    obs = inp.obs.reset_index(drop=True)
    kind = obs["kind"].to_numpy()
    rows = {k: np.flatnonzero(kind == k) for k in ("count", "nowcast")}
    counted_rows = np.concatenate([rows["count"], rows["nowcast"]])
    counted = obs.iloc[counted_rows].reset_index(drop=True)
    # each drug's count or nowcast against the any-opioid one of its source, window, kind
    partner = split_partner(obs)[counted_rows]
    position = {row: i for i, row in enumerate(counted_rows)}
    pairs = np.array([(i, position[j]) for i, j in enumerate(partner) if j >= 0],
                     dtype=int).reshape(-1, 2)
    us_any = np.flatnonzero((counted["series"] == US_ANY).to_numpy())
    canada = np.flatnonzero(counted["series"].str.startswith("CAN:").to_numpy())
    # year-to-year changes: consecutive December counts of the same source
    dec = counted[(counted["series"] == US_ANY) & (counted["end_month"] == 12)
                  & (counted.index < len(rows["count"]))]
    steps = [(a, b) for _, g in dec.groupby("source")
             for a, b in zip(g.sort_values("year").index[:-1], g.sort_values("year").index[1:])
             if counted.loc[b, "year"] == counted.loc[a, "year"] + 1]
    steps = np.array(steps, dtype=int).reshape(-1, 2)

    def summaries(data: dict[str, np.ndarray]) -> Summaries:
        values = row_values(inp.obs, data)[counted_rows]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            logs = np.log(values)
            share = values[pairs[:, 0]] / values[pairs[:, 1]]
            changes = logs[steps[:, 1]] - logs[steps[:, 0]]
        return {"us_log_deaths_median": float(np.median(logs[us_any])),
                "canada_log_deaths_median": float(np.median(logs[canada]))
                if len(canada) else float("nan"),
                "us_year_change_rms": _rms(changes) if len(steps) else float("nan"),
                "us_share_logit_most_extreme": most_extreme_logit(share)}

    return summaries


def certified_real_data(spec: SBCSpec) -> tuple[CertifiedInputs, dict[str, np.ndarray]]:
    """(the ``CertifiedInputs`` of ``spec``'s design, its real counts and nowcasts by
    observed variable, as a simulated data set holds them)."""
    from burden.models.certified import LOWER_BOUND, observation_rows

    est = spec.estimator()
    inp = est.inputs(est.prepare_data(spec.tables))
    value = inp.obs["value"].to_numpy(dtype=float)
    rows = observation_rows(inp.obs, est.model_config.drug_counts)
    return inp, {name: value[r] for name, r in rows.items() if name != LOWER_BOUND}


def certified_rule(spec: SBCSpec) -> WorldRule:
    """The plausibility rule of the certified model on ``spec``'s design:
    ``CERTIFIED_BANDS`` around the summaries of the real data of that design."""
    inp, real_data = certified_real_data(spec)
    real = certified_summaries(inp)(real_data)
    bands = {name: CERTIFIED_BANDS[name] for name in CERTIFIED_BANDS
             if np.isfinite(real[name])}
    return WorldRule("worlds like ours", real, _bands(real, bands), certified_summaries(inp))
