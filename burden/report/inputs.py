"""Everything the report is built from, gathered in one object.

``ReportInputs`` holds the tidy result tables of docs/architecture.md ("Result tables"),
the processed tables (for observed points and citations) and each model's provenance.
A missing piece is ``None``: its section says "not available" instead of disappearing.
``burden.report.collect`` fills it from the result tables of ``burden summarise``; ``burden.report.synthetic`` with
random draws for tests and layout previews.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from burden.report.provenance import ModelProvenance


@dataclass
class ModelResult:
    """One fitted model as the report sees it."""

    provenance: ModelProvenance
    diagnostics: pd.DataFrame | None = None
    ppc: pd.DataFrame | None = None
    loo_pit: pd.DataFrame | None = None
    prior_sensitivity: pd.DataFrame | None = None


@dataclass
class ReportInputs:
    deaths_summary: pd.DataFrame | None = None
    certified_summary: pd.DataFrame | None = None
    certified_correction: pd.DataFrame | None = None
    #: the drug-type shares of each country's opioid deaths (the composition fit)
    composition_summary: pd.DataFrame | None = None
    production_summary: pd.DataFrame | None = None
    production_total: pd.DataFrame | None = None
    market_summary: pd.DataFrame | None = None
    attribution_summary: pd.DataFrame | None = None
    sensitivity: pd.DataFrame | None = None
    #: the countries each attribution market sums (``market, location_id, location_name``)
    attribution_markets: pd.DataFrame | None = None
    backtest: pd.DataFrame | None = None
    #: scored back-tests listed in ``burden.report.backtests.BACKTESTS`` (read or missing)
    backtests: list = field(default_factory=list)
    #: saved simulation-based calibration runs (``burden.report.sbc.read_sbc_runs``)
    sbc: list = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    models: dict[str, ModelResult] = field(default_factory=dict)
    #: names of expected inputs that were not found, with the reason (shown in the report)
    missing: dict[str, str] = field(default_factory=dict)
    #: problems that do not stop the report (e.g. a failed posterior predictive check)
    notes: dict[str, str] = field(default_factory=dict)
    #: stated assumptions as tables (title -> rows), e.g. the markets' route priors
    assumptions: dict[str, pd.DataFrame] = field(default_factory=dict)
    #: convergence status of the attribution (the worst of the fits it multiplies)
    attribution_status: str | None = None
    raw_dir: Path | None = None
    synthetic: bool = False  # True only for the built-in demo/test inputs
