"""Scoring of back-test forecasts, and the back-test result table (no PyMC: the report
reads these).

A back-test writes one row per scored series-year, model and cut (``BACKTEST_SCORES``) and
a sidecar manifest ``<table>.json`` saying when it ran, with which seeds and cuts, and
whether each cut fit converged. ``by_horizon`` turns the rows into coverage and CRPS skill
by forecast horizon, which both the command line and the report print.

CRPS (continuous ranked probability score, lower is better): Gneiting & Raftery (2007),
"Strictly proper scoring rules, prediction, and estimation", JASA 102(477), eq. 21.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa

#: Central interval scored (90%, as issue 9 item 6 asks)
NOMINAL = 0.90
#: The model being back-tested is called this in the ``model`` column
MODEL = "bayesian"

KEY = ("series", "year", "model", "cut", "seed")

BACKTEST_SCORES = pa.DataFrameSchema(
    {"series": pa.Column(str), "year": pa.Column(int, pa.Check.in_range(1900, 2100)),
     "value": pa.Column(float, pa.Check.ge(0)), "source": pa.Column(str),
     "model": pa.Column(str), "cut": pa.Column(int, pa.Check.in_range(1900, 2100)),
     "horizon": pa.Column(int, pa.Check.ge(1)), "seed": pa.Column(int),
     "lower": pa.Column(float), "upper": pa.Column(float), "covered": pa.Column(bool),
     "crps": pa.Column(float, pa.Check.ge(0)), "converged": pa.Column(bool),
     "nominal": pa.Column(float, pa.Check.in_range(0, 1, include_min=False,
                                                   include_max=False))},
    strict=True, coerce=True,
    # one row per series, year, model, cut and seed (a check, not ``unique=``: pandera's
    # report of duplicate rows fails under pandas 3)
    checks=[pa.Check(lambda f: not f.duplicated(list(KEY)).any(),
                     error="unique series, year, model, cut, seed"),
            pa.Check(lambda f: bool((f["lower"] <= f["upper"]).all()),
                     error="lower <= upper"),
            pa.Check(lambda f: bool((f["horizon"] == f["year"] - f["cut"]).all()),
                     error="horizon == year - cut"),
            pa.Check(lambda f: bool((f["covered"] == ((f["value"] >= f["lower"])
                                                      & (f["value"] <= f["upper"]))).all()),
                     error="covered == lower <= value <= upper")])

#: Keys every back-test manifest holds
MANIFEST_KEYS = ("backtest", "run_utc", "command", "seeds", "cuts", "converged", "draws",
                 "load")


def crps_from_draws(draws: np.ndarray, observed: float) -> float:
    """CRPS of a sample: E|X - y| - E|X - X'| / 2 (the sorted-sample form)."""
    x = np.sort(np.asarray(draws, dtype=float))
    n = x.size
    first = np.mean(np.abs(x - observed))
    weights = 2 * np.arange(1, n + 1) - n - 1
    return float(first - np.sum(weights * x) / n**2)


def score(draws: np.ndarray, observed: np.ndarray, nominal: float = NOMINAL
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(lower, upper, covered, crps) per row of ``draws`` (rows, draws) against
    ``observed`` (rows): the central ``nominal`` interval of the draws and the CRPS."""
    draws = np.asarray(draws, dtype=float)
    observed = np.asarray(observed, dtype=float)
    if draws.ndim != 2 or draws.shape[0] != observed.shape[0]:
        raise ValueError(f"score: draws {draws.shape} do not match {observed.shape[0]} "
                         "observed values (expected rows x draws)")
    lo_q, hi_q = (1 - nominal) / 2, 1 - (1 - nominal) / 2
    lower, upper = np.quantile(draws, [lo_q, hi_q], axis=1)
    covered = (observed >= lower) & (observed <= upper)
    crps = np.array([crps_from_draws(d, o) for d, o in zip(draws, observed)])
    return lower, upper, covered, crps


def by_horizon(table: pd.DataFrame, model: str = MODEL) -> pd.DataFrame:
    """Coverage and mean CRPS by model and horizon, and ``model``'s CRPS skill over each
    other model (1 - CRPS_model / CRPS_other, means over the same series-years and seeds),
    with the number ``n`` of series-years ``model`` was scored on at each horizon (a
    series-year scored under several seeds counts once)."""
    agg = table.groupby(["model", "horizon"]).agg(n=("crps", "size"),
                                                  coverage=("covered", "mean"),
                                                  crps=("crps", "mean")).reset_index()
    wide = agg.pivot(index="horizon", columns="model", values="crps")
    others = [m for m in wide.columns if m != model]
    skill = pd.DataFrame({f"skill_vs_{m}": 1 - wide[model] / wide[m] for m in others})
    cov = agg.pivot(index="horizon", columns="model", values="coverage").add_prefix(
        "coverage_")
    # series-years scored (each counted once however many seeds scored it)
    own = table[table["model"] == model]
    n = own.drop_duplicates(["series", "year", "cut"]).groupby("horizon").size().rename("n")
    return pd.concat([n, cov, wide.add_prefix("crps_"), skill], axis=1).reset_index()


def manifest_path(table_path: Path) -> Path:
    return Path(table_path).with_suffix(".json")


def write_backtest(table: pd.DataFrame, path: Path, manifest: dict) -> Path:
    """Validate and write the scored rows to ``path`` and the manifest beside it."""
    missing = [k for k in MANIFEST_KEYS if k not in manifest]
    if missing:
        raise ValueError(f"back-test manifest lacks {missing}")
    table = BACKTEST_SCORES.validate(table, lazy=True)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False)
    manifest_path(path).write_text(json.dumps(manifest, indent=1, default=str) + "\n")
    return path


def read_backtest(path: Path) -> tuple[pd.DataFrame, dict]:
    """(validated rows, manifest) of a back-test written by ``write_backtest``. A table
    without its manifest raises: its run date and seeds would be unknown."""
    path = Path(path)
    mpath = manifest_path(path)
    if not mpath.exists():
        raise FileNotFoundError(f"{mpath} not found: the back-test table {path} has no "
                                "manifest (run date, seeds); rerun the back-test")
    manifest = json.loads(mpath.read_text())
    missing = [k for k in MANIFEST_KEYS if k not in manifest]
    if missing:
        raise ValueError(f"{mpath}: manifest lacks {missing}")
    return BACKTEST_SCORES.validate(pd.read_csv(path), lazy=True), manifest
