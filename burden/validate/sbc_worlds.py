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
band around the real data's value (``DEATHS_BANDS``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

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
}


@dataclass
class WorldRule:
    """A data-only acceptance rule: ``summaries(data)`` -> name -> value; a world is
    accepted when every summary is finite and inside ``bands[name]``."""

    name: str
    real: dict[str, float]
    bands: dict[str, tuple[float, float]]
    summaries: Callable[[dict[str, np.ndarray]], dict[str, float]] = field(repr=False)

    def reject_reason(self, data: dict[str, np.ndarray]) -> str | None:
        """None for an accepted world, else each failed summary with its value and band."""
        values = self.summaries(data)
        failed = []
        for name, (low, high) in self.bands.items():
            v = values[name]
            if not (np.isfinite(v) and low <= v <= high):
                failed.append(f"{name} {v:.3g} not in [{low:.3g}, {high:.3g}]")
        return "; ".join(failed) or None

    def describe(self) -> dict:
        """The rule as the manifest records it."""
        return {"rule": self.name, "real": self.real,
                "bands": {k: list(v) for k, v in self.bands.items()}}


def _bands(real: dict[str, float], spec: dict[str, tuple[str, float]]
           ) -> dict[str, tuple[float, float]]:
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


def deaths_summaries(inp, by_super_region: bool = False
                     ) -> Callable[[dict[str, np.ndarray]], dict[str, float]]:
    """The summaries of a deaths data set on the design of ``inp`` (``DeathsInputs``): the
    GBD rows' death rates, their changes over years, the gaps between GBD rounds on the
    same country-years, and the US certified series against GBD's US rows.
    ``by_super_region``: also the year-to-year changes and the round gaps within each GBD
    super-region (``summary[super-region id]``), a diagnostic (the rule does not use them:
    docs/validation/sbc.md, "Worlds like ours")."""
    c, t, r = inp.gbd_country, inp.gbd_year, inp.gbd_round
    log_pop = np.log(inp.population[c, t])
    has_pop = np.isfinite(log_pop)
    n_c, n_t, n_r = len(inp.countries), len(inp.years), len(inp.rounds)
    x_decades = (np.arange(n_t) - n_t / 2) / 10.0
    us = inp.us
    us_c = inp.countries.index("USA") if us is not None else None
    any_opioid = 0  # US_DRUGS[0]
    country_super = np.asarray(inp.country_super)

    def summaries(data: dict[str, np.ndarray]) -> dict[str, float]:
        # a country or year without rows gives an empty mean (NaN, left out): not a warning
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return _summaries(data)

    def _summaries(data: dict[str, np.ndarray]) -> dict[str, float]:
        y = np.asarray(data["gbd_log_deaths"], dtype=float)
        grid = np.full((n_c, n_t, n_r), np.nan)
        grid[c, t, r] = y
        rate = (y - log_pop + np.log(1e5))[has_pop]
        out = {"gbd_log_rate_median": float(np.median(rate))}
        by_country = np.full(n_c, np.nan)
        mean_rate = np.bincount(c[has_pop], weights=rate, minlength=n_c)
        counts = np.bincount(c[has_pop], minlength=n_c)
        by_country[counts > 0] = mean_rate[counts > 0] / counts[counts > 0]
        out["gbd_log_rate_sd_across_countries"] = float(np.nanstd(by_country))
        decade = grid[:, 10:, :] - grid[:, :-10, :]
        per_country = np.nanmean(decade, axis=(1, 2)) if decade.size else np.array([])
        out["gbd_decade_change_sd"] = float(np.nanstd(per_country))
        gaps, slopes = [], []  # per pair of rounds: (country, year) gaps; country slopes
        for a in range(n_r):
            for b in range(a + 1, n_r):
                gap = grid[:, :, b] - grid[:, :, a]
                gaps.append(gap)
                slope = np.full(n_c, np.nan)
                for i in range(n_c):
                    ok = np.isfinite(gap[i])
                    if ok.sum() >= 5:
                        slope[i] = np.polyfit(x_decades[ok], gap[i, ok], 1)[0]
                slopes.append(slope)
        gaps_all = np.stack(gaps) if gaps else np.full((0, n_c, n_t), np.nan)
        slopes_all = np.stack(slopes) if slopes else np.full((0, n_c), np.nan)
        changes = np.diff(grid, axis=1)

        # the scatter and the round gaps, over every country and within each super-region:
        # the model gives them their own scales by super-region (``sigma_gbd``,
        # ``round_country_sd``, ``round_trend_sd``), and a world where one is near 0 looks
        # ordinary pooled
        def spreads(rows: np.ndarray) -> dict[str, float]:
            s = slopes_all[:, rows].ravel()
            s = s[np.isfinite(s)]
            return {"gbd_year_change_rms": _rms(changes[rows].ravel()),
                    "gbd_round_gap_rms": _rms(gaps_all[:, rows].ravel()),
                    "gbd_round_gap_slope_sd": float(np.std(s)) if len(s) else float("nan")}

        out.update(spreads(np.ones(n_c, bool)))
        for k, sr_id in enumerate(inp.super_region_ids if by_super_region else ()):
            for name, value in spreads(country_super == k).items():
                out[f"{name}[{sr_id}]"] = value
        if us is not None:
            nchs = np.asarray(data["nchs_log_deaths"], dtype=float)
            sel = us.nchs_drug == any_opioid
            years = us.nchs_year[sel] + us.offset
            gbd_us = np.nanmean(grid[us_c], axis=1)  # the rounds' mean per year
            out["nchs_minus_gbd_us"] = float(np.nanmean(nchs[sel] - gbd_us[years]))
            series = np.full((len(us.years), int(us.nchs_drug.max()) + 1), np.nan)
            series[us.nchs_year, us.nchs_drug] = nchs
            out["nchs_year_change_rms"] = _rms(np.diff(series, axis=0).ravel())
        else:
            out["nchs_minus_gbd_us"] = out["nchs_year_change_rms"] = float("nan")
        return out

    return summaries


def deaths_real_data(spec) -> tuple[object, dict[str, np.ndarray]]:
    """(the ``DeathsInputs`` of ``spec``'s design, its real observed data by observed
    variable, as a simulated data set holds them)."""
    est = spec.estimator()
    inp = est.inputs(est.prepare_data(spec.tables))
    data = {"gbd_log_deaths": inp.gbd_log_deaths}
    if inp.us is not None:
        data["nchs_log_deaths"] = inp.us.nchs_log
    return inp, data


def deaths_rule(spec) -> WorldRule:
    """The plausibility rule of the deaths model on ``spec``'s design (an ``SBCSpec``):
    ``DEATHS_BANDS`` around the summaries of the real data of that design."""
    inp, real_data = deaths_real_data(spec)
    summaries = deaths_summaries(inp)
    real = summaries(real_data)
    # a summary the real data cannot give (no US block; a super-region with one round)
    # has no band
    bands = {name: DEATHS_BANDS[name.split("[")[0]] for name, v in real.items()
             if np.isfinite(v)}
    return WorldRule("worlds like ours", real, _bands(real, bands), summaries)
