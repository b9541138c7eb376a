"""Simulation-based calibration (SBC): ranks, uniformity tests and the saved tables (no PyMC:
the report reads these).

SBC (Talts et al. 2018, "Validating Bayesian inference algorithms with simulation-based
calibration", arXiv:1804.06788; Modrak et al. 2023, "Simulation-based calibration checking
for Bayesian computation", Bayesian Analysis): draw parameters from the prior, simulate data,
fit, and take the rank of each true value among the posterior draws. With a correct model
and sampler the rank is uniform. Conventions follow ``simuk`` 0.3.0 (ArviZ's SBC package):
the rank is the number of posterior draws strictly below the true value, so it runs from 0
to L for L draws.

Before ranking, draws are thinned to near-independent ones (Talts et al. sec. 4.2: the rank
of an autocorrelated sample is not uniform): every ``thin``-th draw of each chain, with
``thin = ceil(draws x chains / min bulk ESS)`` over the ranked quantities of that fit.

The rank is turned into a randomised PIT value ``(rank + U) / (L + 1)``, U uniform on
[0, 1): exactly uniform on (0, 1) when the rank is uniform on {0..L}, whatever L (L differs
between fits because thinning does). Uniformity is tested with the simultaneous 95% band of
the PIT ECDF of Saeilynoja, Buerkner & Vehtari (2022), "Graphical test for discrete
uniformity and its applications in goodness-of-fit evaluation and multiple sample
comparison", Statistics and Computing 32(32), by their simulation method (as
``arviz_stats.ecdf_utils`` computes it, less a NaN that drops part of its statistic; see
``_band_statistic``): a parameter fails when its ECDF leaves the band anywhere. A variable
of k parameters fails when one of them fails a band test at level 0.05 / k (Bonferroni;
``summarise_uniformity``), valid whatever the dependence between its parameters.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa

#: simultaneous band level
BAND_PROB = 0.95
#: simulations used to calibrate the simultaneous band (arviz_stats' default is 1,000)
BAND_SIMULATIONS = 2000
#: uniform samples behind each band test's p-value (``band_p_values``): resolution
#: 1 / 20,001 = 5e-5. The smallest per-parameter level the variable rule uses is
#: 0.05 / 108 = 4.6e-4 (the markets model's 108 ``us_share`` parameters,
#: ``summarise_uniformity``): about 9 null samples lie beyond it, so a p-value there
#: carries a Monte Carlo error of about a third of itself; at 0.05 / 40 (production_t),
#: 25 samples, a fifth. 100,000 would cost ~10 s per sample size in every report build.
P_VALUE_SIMULATIONS = 20000
#: the simultaneous band is evaluated at most at this many points (see ``_band``)
BAND_MAX_POINTS = 200
#: seed of the band calibration (any fixed seed: the band is a deterministic function of
#: the number of simulations and the level, up to Monte Carlo error)
BAND_SEED = 20220

STATUSES = ("ok", "failed")

#: One row per simulation x ranked parameter (failed simulations keep their rows, rank NaN)
SBC_RANKS = pa.DataFrameSchema(
    {"model": pa.Column(str), "sim": pa.Column(int, pa.Check.ge(0)),
     "variable": pa.Column(str), "index": pa.Column(str), "parameter": pa.Column(str),
     "true": pa.Column(float, nullable=True),
     "rank": pa.Column(float, pa.Check.ge(0), nullable=True),
     "n_draws": pa.Column(float, pa.Check.ge(0), nullable=True),
     "pit": pa.Column(float, pa.Check.in_range(0, 1), nullable=True),
     "status": pa.Column(str, pa.Check.isin(STATUSES))},
    strict=True, coerce=True,
    checks=[pa.Check(lambda f: not f.duplicated(["sim", "parameter"]).any(),
                     error="unique sim, parameter"),
            pa.Check(lambda f: bool((f["rank"].isna() | (f["rank"] <= f["n_draws"])).all()),
                     error="rank <= n_draws"),
            pa.Check(lambda f: bool((f["rank"].isna() == (f["status"] != "ok")).all()),
                     error="a rank exactly when the simulation succeeded")])

#: One row per simulation: how its fit went (convergence, attempts, error, timing)
SBC_SIMS = pa.DataFrameSchema(
    {"model": pa.Column(str), "sim": pa.Column(int, pa.Check.ge(0)),
     # position among every prior draw: differs from sim where a plausibility rule skipped
     # worlds (``sbc.simulate_worlds``); absent in runs before it
     "world": pa.Column(int, pa.Check.ge(0), required=False),
     "seed": pa.Column(int), "status": pa.Column(str, pa.Check.isin(STATUSES)),
     # fits tried: 1 or 2 (a retry); 0 for a prior world that could not be drawn
     # (``sbc.simulate``: failed, no fit)
     "attempts": pa.Column(int, pa.Check.in_range(0, 2)),
     "error": pa.Column(str, nullable=True),
     "r_hat_max": pa.Column(float, nullable=True),
     "ess_bulk_min": pa.Column(float, nullable=True),
     "divergences": pa.Column(float, nullable=True),
     "converged": pa.Column(bool), "thin": pa.Column(float, nullable=True),
     # the parameters with the largest R-hat and the smallest bulk ESS of the fit
     "worst_r_hat": pa.Column(str, nullable=True, required=False),
     "worst_ess": pa.Column(str, nullable=True, required=False),
     "compile_s": pa.Column(float, nullable=True),
     "sample_s": pa.Column(float, nullable=True),
     "worker": pa.Column(str, nullable=True)},
    strict=True, coerce=True,
    checks=[pa.Check(lambda f: f["sim"].is_unique, error="one row per simulation")])

#: Keys every SBC manifest holds
MANIFEST_KEYS = ("model", "run_utc", "command", "simulations", "seed", "reduction",
                 "sampler", "workers", "scheduler", "wall_s", "load", "failed",
                 "converged")


# ---- ranks -------------------------------------------------------------------------------
def thin_factor(n_total: int, ess_min: float) -> int:
    """Keep every ``thin``-th draw so that about ``ess_min`` of ``n_total`` draws remain
    (1 when the draws are already near-independent; ``n_total`` when ESS is below 1)."""
    if not np.isfinite(ess_min) or ess_min <= 1:
        return max(int(n_total), 1)
    return max(1, int(np.ceil(n_total / ess_min)))


def ranks(draws: np.ndarray, truth: np.ndarray, thin: int = 1,
          rng: np.random.Generator | None = None) -> tuple[np.ndarray, int]:
    """(rank of each true value, L): ``draws`` (chain, draw, m) thinned by ``thin`` within
    each chain; the rank counts thinned draws strictly below the truth (0..L), plus, where
    draws equal the truth, a uniform share of those ties (``rng``; Talts et al. 2018 for
    discrete quantities). Without ties to break, ``rng`` is not used. A quantity that is
    constant (a Deterministic fixed by construction, such as the US any-opioid share of
    any-opioid deaths, log 1 = 0) ties every draw: without the tie-break its rank would be 0
    in every simulation, a spurious failure."""
    draws = np.asarray(draws, dtype=float)
    if draws.ndim != 3:
        raise ValueError(f"ranks: draws must be (chain, draw, m), got shape {draws.shape}")
    kept = draws[:, ::max(int(thin), 1)].reshape(-1, draws.shape[-1])
    truth = np.asarray(truth, dtype=float).reshape(-1)
    if truth.size != kept.shape[1]:
        raise ValueError(f"ranks: {truth.size} true values for {kept.shape[1]} quantities")
    below = (kept < truth[None, :]).sum(axis=0)
    ties = (kept == truth[None, :]).sum(axis=0)
    if rng is not None and ties.any():
        below = below + rng.integers(0, ties + 1)
    return below, kept.shape[0]


def pit_from_ranks(rank: np.ndarray, n_draws: np.ndarray, rng: np.random.Generator
                   ) -> np.ndarray:
    """Randomised PIT ``(rank + U) / (L + 1)``: uniform on (0, 1) exactly when the rank is
    uniform on {0, ..., L}."""
    rank = np.asarray(rank, dtype=float)
    return (rank + rng.uniform(size=rank.shape)) / (np.asarray(n_draws, dtype=float) + 1)


# ---- uniformity --------------------------------------------------------------------------
@lru_cache(maxsize=64)
def _band(n: int, prob: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(evaluation points, lower, upper) of the simultaneous ``prob`` band of the ECDF of
    ``n`` uniform values (Saeilynoja et al. 2022, simulation method): the pointwise
    binomial band (``arviz_stats.ecdf_utils.get_pointwise_confidence_band``) at the level
    that the band statistic of ``BAND_SIMULATIONS`` uniform samples stays within in a share
    ``prob`` of them (``_band_statistic``, ``_null_statistics``)."""
    from arviz_stats.ecdf_utils import get_pointwise_confidence_band

    # the ECDF at k / n, or at BAND_MAX_POINTS evenly spaced points when n is larger
    # (Saeilynoja et al. evaluate at K points; K = n costs n binomial CDFs per simulated
    # ECDF: 20 s for the deaths model's 5,000 observations, 1 s here)
    z = _band_points(n)
    gamma = float(np.quantile(_null_statistics(n, BAND_SIMULATIONS), prob))
    lower, upper = get_pointwise_confidence_band(gamma, n, z)
    return z, lower, upper


def _band_points(n: int) -> np.ndarray:
    """Where the band is evaluated: k / n, or BAND_MAX_POINTS evenly spaced points (``_band``)."""
    return (np.arange(1, n) / n if n <= BAND_MAX_POINTS + 1
            else np.arange(1, BAND_MAX_POINTS + 1) / (BAND_MAX_POINTS + 1))


def _band_statistic(pits: np.ndarray, z: np.ndarray) -> np.ndarray:
    """The statistic the simultaneous band bounds, per row of ``pits`` (m, n): one minus
    twice the smallest binomial tail probability of the ECDF over the points ``z`` (the
    ``gamma`` of ``arviz_stats.ecdf_utils.simulate_confidence_bands``; the band at level
    ``prob`` is its ``prob`` quantile among uniform samples). Large: far from uniform."""
    from scipy.special import bdtr, bdtrc

    pits = np.asarray(pits, dtype=float)
    m, n = pits.shape
    # counts of values <= z[j]: bin each value at the first point not below it, cumulate
    first = np.searchsorted(z, pits, side="left") + (z.size + 1) * np.arange(m)[:, None]
    counts = np.bincount(first.ravel(), minlength=m * (z.size + 1)).reshape(m, -1)
    counts = counts.cumsum(axis=1)[:, :z.size]
    lower_tail = bdtr(counts, n, z).min(axis=1)
    # P(count >= 0) = 1; scipy's bdtr(-1, ...) is NaN, and arviz_stats 1.3.3's
    # simulate_confidence_bands then drops the whole upper tail of a sample whose ECDF is
    # 0 at the first point (about 37% of samples): here that point's tail is 1. (It also
    # counts values below z as int(ECDF x n), which floating point can round down by one;
    # the counts here are integers from the start.)
    upper_tail = np.where(counts > 0, bdtrc(np.maximum(counts - 1, 0), n, z), 1.0)
    upper_tail = upper_tail.min(axis=1)
    return 1 - 2 * np.minimum(lower_tail, upper_tail)


@lru_cache(maxsize=64)
def _null_statistics(n: int, simulations: int) -> np.ndarray:
    """The band statistic of ``simulations`` samples of ``n`` uniform values, sorted (seed
    ``BAND_SEED``; computed in chunks to bound memory)."""
    rng = np.random.default_rng(BAND_SEED)
    z = _band_points(n)
    chunk = max(1, 2_000_000 // max(n, 1))
    out = [_band_statistic(rng.uniform(size=(min(chunk, simulations - start), n)), z)
           for start in range(0, simulations, chunk)]
    null = np.sort(np.concatenate(out))
    null.setflags(write=False)  # cached: shared by every caller
    return null


def band_p_values(pits: np.ndarray) -> np.ndarray:
    """P-value of the simultaneous band test per row of ``pits`` (m, n): the share of
    uniform samples of size n whose band statistic is at least this row's, as
    (1 + count) / (1 + P_VALUE_SIMULATIONS), never 0. A row leaves the ``prob`` band
    about when its p-value is below 1 - ``prob`` (the band uses the first
    ``BAND_SIMULATIONS`` of these samples, so the two can disagree within Monte Carlo error
    near the edge)."""
    pits = np.atleast_2d(np.asarray(pits, dtype=float))
    n = pits.shape[1]
    if n < 2 or not np.isfinite(pits).all():
        raise ValueError(f"band_p_values needs rows of at least 2 finite PIT values, got "
                         f"shape {pits.shape}")
    null = _null_statistics(int(n), P_VALUE_SIMULATIONS)
    observed = _band_statistic(pits, _band_points(int(n)))
    at_least = null.size - np.searchsorted(null, observed, side="left")
    return (1 + at_least) / (1 + null.size)


def ecdf_band(pit: np.ndarray, prob: float = BAND_PROB) -> pd.DataFrame:
    """The PIT ECDF at the evaluation points k/n (k = 1..n-1; for n above
    ``BAND_MAX_POINTS`` + 1, that many evenly spaced points) with its simultaneous band:
    columns ``x``, ``ecdf``, ``lower``, ``upper`` (subtract ``x`` for the difference plot)."""
    pit = np.sort(np.asarray(pit, dtype=float))
    pit = pit[np.isfinite(pit)]
    if pit.size < 2:
        raise ValueError(f"ecdf_band needs at least 2 PIT values, got {pit.size}")
    z, lower, upper = _band(int(pit.size), float(prob))
    ecdf = np.searchsorted(pit, z, side="right") / pit.size
    return pd.DataFrame({"x": z, "ecdf": ecdf, "lower": lower, "upper": upper})


def uniformity(table: pd.DataFrame, prob: float = BAND_PROB) -> pd.DataFrame:
    """Pass/fail per parameter: the PIT ECDF inside its simultaneous ``prob`` band.

    Columns: parameter, variable, n (simulations with a rank), pass, p_value (of the band
    test, ``band_p_values``: below 1 - ``prob`` about when ``pass`` is false), max_excess
    (largest distance outside the band; 0 inside), where (x of the largest excess),
    mean_pit (0.5 expected; above: the posterior sits below the truth, i.e. the model
    underestimates), share_outside_90 (PIT outside [0.05, 0.95]; 0.10 expected; more: the
    posterior is too narrow). Multiplicity: with k parameters, about 5% of k fail by chance
    even for a calibrated model; ``summarise_uniformity`` judges each variable as a whole.
    A parameter whose true value is the same in every simulation (a constant by
    construction) has no verdict: there is no distribution to calibrate."""
    ok = table[table["status"] == "ok"]
    rows = []
    for (variable, parameter), group in ok.groupby(["variable", "parameter"], sort=False):
        pit = group["pit"].to_numpy(float)
        pit = pit[np.isfinite(pit)]  # as ecdf_band does
        constant = "true" in group and group["true"].nunique() == 1 and len(group) > 1
        if pit.size < 2 or constant:  # nothing to test (or a constant): no verdict
            rows.append({"variable": variable, "parameter": parameter, "n": int(pit.size),
                         "pass": None, "p_value": np.nan, "max_excess": np.nan,
                         "where": np.nan,
                         "mean_pit": float(pit.mean()) if pit.size else np.nan,
                         "share_outside_90": np.nan})
            continue
        band = ecdf_band(pit, prob)
        below = band["lower"] - band["ecdf"]
        above = band["ecdf"] - band["upper"]
        excess = np.maximum(below, above).clip(lower=0)
        worst = int(np.argmax(excess.to_numpy()))
        rows.append({"variable": variable, "parameter": parameter, "n": int(pit.size),
                     "pass": bool((excess <= 0).all()),
                     "p_value": float(band_p_values(pit[None, :])[0]),
                     "max_excess": float(excess.iloc[worst]),
                     "where": float(band["x"].iloc[worst]),
                     "mean_pit": float(pit.mean()),
                     "share_outside_90": float(((pit < 0.05) | (pit > 0.95)).mean())})
    return pd.DataFrame(rows, columns=["variable", "parameter", "n", "pass", "p_value",
                                       "max_excess", "where", "mean_pit",
                                       "share_outside_90"])


def summarise_uniformity(unif: pd.DataFrame, prob: float = BAND_PROB) -> pd.DataFrame:
    """Per variable: its k parameters with a verdict, how many leave their ``prob`` band
    (``failed``, descriptive), the smallest band-test p-value among them, and the verdict:
    ``pass`` unless that smallest p-value is at most (1 - ``prob``) / k (``level``).

    This is a Bonferroni rule: a calibrated variable fails it with probability at most
    1 - ``prob`` whatever the dependence between its parameters. Parameters of a random
    walk or of shares that sum to one depend on each other across simulations, so counting
    band exits against Binomial(k, 1 - ``prob``), the rule used before 2026-12-04, failed
    calibrated variables far more often than 5%: 11-25% of sets of prior worlds alone for
    production's ``production_t`` and ``log_area_free``, the markets model's ``us_share``
    and certified's ``deaths`` and heroin curve (``analysis/sbc_prior_draws.py
    --null-sets``; docs/validation/sbc.md).
    The price is power: one parameter must leave a band about k times narrower in
    probability, so a variable-wide small bias shows up less; ``failed`` and the per-
    parameter table still show it."""
    rows = []
    for variable, group in unif.groupby("variable", sort=False):
        judged = group[group["pass"].notna()]
        k = len(judged)  # parameters with a verdict
        failed = int((judged["pass"].astype(str) == "False").sum())
        p_min = float(judged["p_value"].min()) if k else np.nan
        level = (1 - prob) / k if k else np.nan
        rows.append({"variable": variable, "parameters": k, "failed": failed,
                     "p_min": p_min, "level": level,
                     "pass": bool(p_min > level) if k else True})
    return pd.DataFrame(rows, columns=["variable", "parameters", "failed", "p_min", "level",
                                       "pass"])


def variable_lean(table: pd.DataFrame) -> pd.DataFrame:
    """Per variable: does its posterior lean one way across all its parameters? A
    direction test beside the band test, which judges each parameter alone (and with the
    Bonferroni rule sees a variable-wide small bias last).

    Per simulation the mean PIT over the variable's parameters (expectation 0.5 under
    calibration, whatever the dependence between the parameters of one simulation), then
    over the simulations: ``mean_pit``, its standard error ``se`` from the per-simulation
    means' own spread (the simulations are independent worlds) and ``z`` = (mean_pit -
    0.5) / se. Below 0.5: the posterior sits above the truth. Descriptive, not a verdict:
    with many variables some |z| near 3 turns up by chance; a lean is a finding when it
    comes back with the same sign in another seed's worlds (docs/validation/sbc.md,
    "seed 4")."""
    ok = table[(table["status"] == "ok") & np.isfinite(table["pit"].astype(float))]
    per_sim = ok.groupby(["variable", "sim"], sort=False)["pit"].mean()
    rows = []
    for variable, means in per_sim.groupby(level="variable", sort=False):
        x = means.to_numpy(float)
        se = float(x.std(ddof=1) / np.sqrt(x.size)) if x.size > 1 else np.nan
        mean = float(x.mean())
        rows.append({"variable": variable, "simulations": int(x.size), "mean_pit": mean,
                     "se": se, "z": (mean - 0.5) / se if se and np.isfinite(se) else np.nan})
    return pd.DataFrame(rows, columns=["variable", "simulations", "mean_pit", "se", "z"])


# ---- files -------------------------------------------------------------------------------
def paths(folder: Path) -> dict[str, Path]:
    folder = Path(folder)
    return {"ranks": folder / "ranks.csv", "sims": folder / "sims.csv",
            "uniformity": folder / "uniformity.csv", "manifest": folder / "manifest.json"}


def write_sbc(folder: Path, ranks_table: pd.DataFrame, sims: pd.DataFrame,
              manifest: dict) -> dict[str, Path]:
    """Validate and write ranks, simulations and the uniformity table, manifest last. Each
    file is written whole to a temporary name and then renamed over the old one, so that
    a run stopped while writing (a checkpoint's tables) leaves each file whole."""
    missing = [k for k in MANIFEST_KEYS if k not in manifest]
    if missing:
        raise ValueError(f"SBC manifest lacks {missing}")
    ranks_table = SBC_RANKS.validate(ranks_table, lazy=True)
    sims = SBC_SIMS.validate(sims, lazy=True)
    unif = uniformity(ranks_table)
    out = paths(folder)
    out["ranks"].parent.mkdir(parents=True, exist_ok=True)
    texts = {"ranks": ranks_table.to_csv(index=False), "sims": sims.to_csv(index=False),
             "uniformity": unif.to_csv(index=False),
             "manifest": json.dumps(manifest, indent=1, default=str) + "\n"}
    for key, text in texts.items():  # the manifest last
        part = out[key].with_name(out[key].name + ".part")
        part.write_text(text, encoding="utf-8")
        part.replace(out[key])
    return out


def read_sbc(folder: Path, judge: bool = True
             ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None, dict]:
    """(ranks, sims, uniformity, manifest) of a run written by ``write_sbc``, the
    uniformity table recomputed from the ranks; a folder without its manifest raises (the
    run's date and settings would be unknown). ``judge=False`` skips the uniformity table
    (None), for callers that only need the ranks (``--resume``)."""
    out = paths(folder)
    if not out["manifest"].exists():
        raise FileNotFoundError(f"{out['manifest']} not found: no complete SBC run in "
                                f"{folder}; run `burden validate sbc`")
    manifest = json.loads(out["manifest"].read_text())
    missing = [k for k in MANIFEST_KEYS if k not in manifest]
    if missing:
        raise ValueError(f"{out['manifest']}: manifest lacks {missing}")
    # labels are text ("NA" is Namibia, "" a scalar's index); only empty numbers are missing
    raw = pd.read_csv(out["ranks"], keep_default_na=False, na_values=[""],
                      dtype={"index": str, "parameter": str, "variable": str})
    # a run of scalars only has an empty index column: text, not a float column of NaN
    # (pandas 4 refuses to fill one with "")
    raw["index"] = raw["index"].fillna("")
    ranks_table = SBC_RANKS.validate(raw, lazy=True)
    sims = SBC_SIMS.validate(pd.read_csv(out["sims"]), lazy=True)
    # judged again from the saved PITs rather than read from uniformity.csv, so a run
    # written before a change to the band test (2026-12-04: the NaN upper tail above,
    # p-values) is judged as a new run would be
    unif = uniformity(ranks_table) if judge else None
    return ranks_table, sims, unif, manifest
