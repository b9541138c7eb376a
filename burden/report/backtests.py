"""The report's back-test section: coverage and CRPS skill by forecast horizon of every
back-test listed in ``BACKTESTS``, with the date it ran (template ``_backtests.html``).

A back-test is listed here once it writes its scored rows with
``burden.validate.scoring.write_backtest`` (schema ``BACKTEST_SCORES`` plus a manifest
``<table>.json`` with the run date and seeds). To add one (e.g. the deaths back-test by GBD
cut year), append a ``BacktestSpec``: nothing else changes. A listed back-test whose table
is not there is shown as "no back-test results" with the command that makes them.

No PyMC here: the report reads result tables only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from burden.registry import estimands
from burden.report.provenance import shown_path
from burden.validate.scoring import MODEL, by_horizon, read_backtest


@dataclass(frozen=True)
class BacktestSpec:
    """One back-test the report shows: its table in the models folder and what it is."""

    key: str
    title: str
    filename: str
    command: str
    description: str
    #: names of the baselines as the report prints them
    labels: dict[str, str] = field(default_factory=dict)


BACKTESTS: tuple[BacktestSpec, ...] = (
    BacktestSpec(
        "certified", "Certified opioid-involved overdose deaths: rolling-origin back-test",
        "certified_backtest.csv", "burden backtest certified",
        "CertifiedDeaths refitted with every source cut at each cut year and scored on the "
        "later final or complete counts (US series by drug, Canada), against three "
        "statsmodels baselines fitted to the same histories; docs/models/certified.md",
        {"ets_damped": "ETS damped", "arima": "ARIMA(1,1,0)", "nb_glm": "NB GLM"}),
    BacktestSpec(
        "deaths", f"{estimands.get('gbd_use_disorder').name}: rolling-origin back-test by "
        "GBD country",
        "deaths_backtest_scores.csv", "burden backtest deaths",
        "OpioidDeaths refitted with every source cut at 2010 and 2014 and scored on the "
        "held-back GBD 2019 country values (the model's predictive of that round's "
        "measurement), against the same statsmodels baselines fitted to each country's "
        "GBD 2019 history; CRPS on the log scale (relative error); docs/models/deaths.md",
        {"ets_damped": "ETS damped", "arima": "ARIMA(1,1,0)", "nb_glm": "NB GLM"}),
)


@dataclass
class BacktestResult:
    """A listed back-test as read from the models folder (``table`` None: not run)."""

    spec: BacktestSpec
    table: pd.DataFrame | None = None
    manifest: dict = field(default_factory=dict)
    reason: str = ""


def read_backtests(models_dir: Path, specs: tuple[BacktestSpec, ...] = BACKTESTS
                   ) -> list[BacktestResult]:
    """Every listed back-test; a missing table is recorded with its reason. A table that
    exists but fails its schema or lacks its manifest raises (never silently left out)."""
    out = []
    for spec in specs:
        path = Path(models_dir) / spec.filename
        if not path.exists():
            shown = shown_path(path, Path(models_dir).parent)
            out.append(BacktestResult(spec, reason=f"{shown} not found (run "
                                                   f"`{spec.command}`)"))
            continue
        table, manifest = read_backtest(path)
        out.append(BacktestResult(spec, table, manifest))
    return out


def _fmt(v: float, digits: str) -> str:
    return "" if pd.isna(v) else format(v, digits)


def backtest_context(results: list[BacktestResult]) -> list[dict]:
    """Template rows of ``_backtests.html``: per back-test, its run date, seeds and cuts,
    unconverged cut fits, and by horizon the number of series-years, the coverage of each
    model's central interval and the CRPS skill of the model over each baseline. Without
    results (inputs not read from a models folder), every listed back-test shows as not
    run."""
    results = results or [BacktestResult(s, reason="these inputs hold no back-test table")
                          for s in BACKTESTS]
    out = []
    for r in results:
        spec = r.spec
        item = {"key": spec.key, "title": spec.title, "command": spec.command,
                "description": spec.description, "csv": spec.filename,
                "available": r.table is not None, "reason": r.reason}
        if r.table is None:
            out.append(item)
            continue
        table = r.table
        wide = by_horizon(table)
        baselines = [m for m in sorted(table["model"].unique()) if m != MODEL]
        m = r.manifest
        bad = table.loc[(table["model"] == MODEL) & ~table["converged"], ["cut", "seed"]]
        item.update({
            "run_utc": m["run_utc"], "run_command": m["command"], "seeds": ", ".join(map(str, m["seeds"])),
            "cuts": ", ".join(map(str, m["cuts"])), "load": m.get("load"),
            "nominal": f"{float(table['nominal'].iloc[0]):.0%}",
            "unconverged": sorted({f"{c} (seed {s})" for c, s in bad.itertuples(index=False)}),
            "baselines": [spec.labels.get(b, b) for b in baselines],
            "rows": [{"horizon": int(w["horizon"]), "n": int(w["n"]),
                      "coverage": _fmt(w[f"coverage_{MODEL}"], ".2f"),
                      "baseline_coverage": [_fmt(w[f"coverage_{b}"], ".2f")
                                            for b in baselines],
                      "crps": _fmt(w[f"crps_{MODEL}"], ",.0f"),
                      "skill": [_fmt(w[f"skill_vs_{b}"], "+.2f") for b in baselines]}
                     for _, w in wide.iterrows()],
        })
        out.append(item)
    return out


def copy_tables(results: list[BacktestResult], out_dir: Path) -> list[BacktestResult]:
    """Write each back-test's scored rows beside the report (the page links them)."""
    for r in results:
        if r.table is not None:
            Path(out_dir).mkdir(parents=True, exist_ok=True)
            r.table.to_csv(Path(out_dir) / r.spec.filename, index=False)
    return results
