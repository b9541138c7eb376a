"""Assemble the HTML report: figures (PNG + SVG + data CSV), key numbers, key tables,
sources and provenance, rendered through a Jinja2 template with autoescaping."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import jinja2
import pandas as pd

from burden.models.config import PRIOR_DOCS
from burden.registry.keys import FitStatus
from burden.report.backtests import backtest_context, copy_tables
from burden.report.choices import ReportOptions, last_data_year, last_us_data_year
from burden.report.figures import FigureResult, render_figures
from burden.report.inputs import ReportInputs
from burden.report.numbers import (
    KeyNumber,
    convergence_table,
    key_numbers,
    largest_prior_text,
    prior_sensitivity_table,
    scenario_table,
    write_tables,
)
from burden.report.provenance import build_info, package_versions, raw_file_hashes
from burden.report.sbc import sbc_context
from burden.report.sources import reference_rows, source_rows

__all__ = ["FigureResult", "KeyNumber", "MissingInputsError", "ReportOptions",
           "build_from_saved", "build_report", "figures_from_saved", "key_numbers",
           "render_figures"]

TEMPLATES = Path(__file__).parent / "templates"
#: the page's sections of figures: (id, title, the question the section answers)
SECTIONS = (
    ("deaths", "Opioid deaths",
     ("How many people die of opioids, by country, region and year: GBD opioid use-disorder "
      "deaths everywhere (modelled from GBD's rounds), and the deaths counted to the present "
      "in the US (death certificates) and Canada (PHAC's apparent opioid toxicity deaths).")),
    ("sources", "Where the opiates come from",
     ("How much opium each source country produces, and which source regions supply the US "
      "heroin market.")),
    ("attribution", "Deaths by source country",
     ("How many of a market's opioid deaths trace back to each source country's illicit "
      "opiates and illicit synthetic opioids, and how much that depends on the stated "
      "assumptions.")),
    ("checks", "Data coverage and model checks",
     ("How far the numbers above can be trusted: which data each model sees, whether its "
      "sampler converged, how well it predicts its data, how much its priors decide, and "
      "how its forecasts and its calibration have been tested.")),
)
#: the documentation the page links, copied beside it from the source tree of the code
#: that built it (an installed package without its docs names them instead)
DOCS = ("docs/models/deaths.md", "docs/models/certified.md", "docs/models/composition.md",
        "docs/models/shares.md", "docs/validation/checks.md", "docs/validation/sbc.md")


def copy_docs(out_dir: Path, root: Path | None = None) -> dict[str, str]:
    """Copy ``DOCS`` found under ``root`` (default: the source tree of this package) into
    ``out_dir``; returns {doc: link relative to the page} for those copied."""
    root = Path(__file__).resolve().parents[2] if root is None else Path(root)
    out = {}
    for rel in DOCS:
        src = root / rel
        if src.is_file():
            dst = Path(out_dir) / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            out[rel] = rel
    return out
#: the inputs of the attribution's figures, which ``figures_from_saved`` leaves to the report
ATTRIBUTION_NEEDS = ("attribution_summary", "sensitivity")


def _banners(inp: ReportInputs) -> list[dict]:
    out = []
    if inp.synthetic:
        out.append({"level": "danger", "text": "SYNTHETIC DEMONSTRATION DATA: these "
                    "numbers are random draws used to test the report layout. They are not "
                    "estimates of anything."})
    for name, model in inp.models.items():
        prov = model.provenance
        if prov.status == FitStatus.NOT_CONVERGED:
            c = prov.convergence
            out.append({"level": "danger", "text": (
                f"Model '{name}' did NOT converge: max R-hat {c.get('r_hat_max', float('nan')):.3f}"
                f" (worst: {c.get('worst_r_hat', '?')}), min bulk ESS "
                f"{c.get('ess_bulk_min', float('nan')):.0f} (worst: {c.get('worst_ess', '?')}), "
                f"{c.get('divergences', '?')} divergent transitions. Do not use its numbers.")})
        elif prov.status == FitStatus.NOT_CHECKED:
            out.append({"level": "warning", "text": f"Model '{name}' has no saved "
                        "convergence record: its numbers are unchecked."})
    for name, reason in inp.missing.items():
        out.append({"level": "warning", "text": f"Not available: {name} ({reason})."})
    for name, note in inp.notes.items():  # shown, with a caveat
        out.append({"level": "warning", "text": f"{name}: {note}."})
    return out


def _number(value: float) -> str:
    return f"{value:.4g}"


def _prior_text(prior) -> str:
    """A saved prior ({"dist": "Normal", "mu": 0.0, "sigma": 0.5}) as it reads in the
    model docs: Normal(mu=0, sigma=0.5)."""
    if not isinstance(prior, dict) or "dist" not in prior:
        return _setting_text(prior)
    params = ", ".join(f"{k}={_number(v) if isinstance(v, int | float) else v}"
                       for k, v in prior.items() if k != "dist")
    return f"{prior['dist']}({params})"


def _setting_text(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, list | tuple):
        return ", ".join(_setting_text(v) for v in value) or "none"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_setting_text(v)}" for k, v in value.items()) or "none"
    return str(value)


def model_settings(config: dict) -> dict[str, list[dict]]:
    """A fitted model's configuration as the page shows it: each prior as a distribution
    with its parameters, each other setting as text (not raw JSON)."""
    priors = config.get("priors") or {}
    return {"priors": [{"name": k, "prior": _prior_text(v)} for k, v in priors.items()],
            "settings": [{"name": k, "value": _setting_text(v)}
                         for k, v in sorted(config.items()) if k != "priors"]}


def readable_number(v: float) -> str:
    """Three significant digits for reading: 44,300 rather than 4.43e+04 from 1,000 on,
    0.518 below it; blank when missing."""
    if pd.isna(v):
        return ""
    rounded = float(f"{v:.3g}")
    return f"{rounded:,.0f}" if abs(rounded) >= 1000 else f"{v:.3g}"


def _records(frame: pd.DataFrame) -> list[dict]:
    """Rows for a template table; numbers rounded for reading, missing values blank."""
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_float_dtype(out[col]):
            out[col] = out[col].map(readable_number)
    return out.fillna("").astype(str).to_dict("records")


def render_html(context: dict) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                             autoescape=jinja2.select_autoescape(["html"]),
                             undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    env.filters["tojson_pretty"] = lambda v: json.dumps(v, indent=1, sort_keys=True,
                                                        default=str)
    return env.get_template("report.html").render(**context)


#: a LOO-PIT panel inside its band says little when more than this share of its
#: observations have Pareto k > 0.7: their leave-one-out estimates are unreliable (Vehtari
#: et al. 2024, JMLR 25(72); docs/validation/checks.md, "LOO-PIT")
LOO_PIT_UNRELIABLE_SHARE = 0.5


def loo_pit_summary(figures: list[FigureResult], out_dir: Path) -> dict | None:
    """How many data sources' LOO-PIT lines stay inside their simultaneous 95% band, which
    do not, and which of those inside say little (most of their observations with Pareto
    k > 0.7, ``LOO_PIT_UNRELIABLE_SHARE``), by their readable names (the panels' titles:
    ``label``, from ``registry.observations``), from the LOO-PIT figure's plotted data (one
    panel a model and source); None when the figure was not drawn."""
    fig = next((f for f in figures if f.id == "loo_pit" and not f.unavailable), None)
    if fig is None or not (out_dir / fig.csv).exists():
        return None
    data = pd.read_csv(out_dir / fig.csv)
    panels = (data.groupby(["model", "source"], sort=False)[["label", "inside", "share_k_high"]]
              .first().reset_index())
    inside = panels["inside"].astype(bool)
    unreliable = inside & (panels["share_k_high"] > LOO_PIT_UNRELIABLE_SHARE)

    def by_model(rows: pd.DataFrame) -> list[dict]:
        return [{"model": m, "sources": g["label"].tolist()}
                for m, g in rows.groupby("model", sort=False)]

    return {"panels": len(panels), "inside": int(inside.sum()),
            "outside": by_model(panels[~inside]),
            "unreliable_count": int(unreliable.sum()),
            "unreliable": by_model(panels[unreliable])}


def projected_after(inp: ReportInputs) -> str:
    """Which years the deaths fit projects, as the page says it: those after GBD's last
    data year, except in the US, which certified counts carry to its last one
    (``last_us_data_year``; docs/models/deaths.md, "After GBD's last data year"); "" without
    the deaths summary."""
    gbd = last_data_year(inp) if inp.deaths_summary is not None else None
    if gbd is None:
        return ""
    text = f"after {gbd}, the last year of GBD data"
    us = last_us_data_year(inp)
    if us is not None and us > gbd:
        text += f"; in the US after {us}, the last certified count (NCHS/VSRR) the fit reads"
    return text


def validation_status(backtests: list[dict], sbc: list[dict]) -> dict:
    """Which back-tests and SBC runs this build has (by title and model)."""
    return {"backtests": [b["title"] for b in backtests if b["available"]],
            "sbc": [s["model"] for s in sbc if s["available"]]}


class MissingInputsError(FileNotFoundError):
    """Saved models or processed tables the report needs are not there."""


def build_from_saved(out_dir: str | Path | None = None, *, models_dir: Path | None = None,
                     processed_dir: Path | None = None, raw_dir: Path | None = None,
                     backtest: Path | None = None, allow_missing: bool = False,
                     options: ReportOptions | None = None, workers: int | None = None
                     ) -> Path:
    """The report from the result tables and processed tables (project paths by default).

    Raises ``MissingInputsError`` naming every missing input unless ``allow_missing``, in
    which case the page shows what is not available.
    """
    from burden import config

    inp = _saved_inputs(models_dir, processed_dir, raw_dir, backtest)
    if inp.missing and not allow_missing:
        raise MissingInputsError("report: missing inputs: " + "; ".join(
            f"{name} ({reason})" for name, reason in inp.missing.items()))
    return build_report(inp, out_dir or config.reports_dir(), options, workers=workers)


def _saved_inputs(models_dir: Path | None, processed_dir: Path | None, raw_dir: Path | None,
                  backtest: Path | None) -> ReportInputs:
    from burden import config
    from burden.report.collect import collect_inputs

    models_dir = models_dir or config.models_dir()
    if backtest is None and (models_dir / "deaths_backtest.csv").exists():
        backtest = models_dir / "deaths_backtest.csv"
    return collect_inputs(models_dir, processed_dir or config.processed_dir(),
                          raw_dir=raw_dir or config.raw_dir(), backtest=backtest)


def figures_from_saved(out_dir: str | Path | None = None, *, models_dir: Path | None = None,
                       processed_dir: Path | None = None, raw_dir: Path | None = None,
                       backtest: Path | None = None, options: ReportOptions | None = None,
                       workers: int | None = None
                       ) -> list[FigureResult]:
    """The report's figures alone, from whatever results exist, drawn into the staging
    folder ``out_dir/.figures-next`` (``figures.STAGING``): the page and its figures stay
    as they are until ``burden report`` takes them over. A figure whose inputs are
    missing is skipped, and so are the attribution's (``ATTRIBUTION_NEEDS``: during
    ``make report`` its results are those of the run before, if any). ``make report``
    runs it (``burden report --figures-only``) while the attribution runs, on a core that
    would otherwise idle; the report then takes over every figure whose fingerprint is
    unchanged (``figures._draw``) and draws the attribution's."""
    from burden import config

    inp = _saved_inputs(models_dir, processed_dir, raw_dir, backtest)
    return render_figures(inp, options or ReportOptions(),
                          Path(out_dir or config.reports_dir()), workers, staged=True,
                          skip_needs=ATTRIBUTION_NEEDS)


def build_report(inp: ReportInputs | None = None, out_dir: str | Path | None = None,
                 options: ReportOptions | None = None, *, workers: int | None = None
                 ) -> Path:
    """Write ``out_dir/index.html`` with its figures and tables; return the HTML path.

    Without ``inp``, the inputs are read from the saved models (``build_from_saved``).
    ``workers``: processes drawing the figures (default: one per core).
    """
    if inp is None:
        return build_from_saved(out_dir, options=options, workers=workers)
    if out_dir is None:
        raise ValueError("build_report: out_dir is required with inputs")
    out_dir = Path(out_dir)
    opt = options or ReportOptions()
    figures = render_figures(inp, opt, out_dir, workers)
    # without a back-test in the old long form, the Back-tests section says what is missing
    # (the coverage figure would only repeat it)
    shown = [f for f in figures if not (f.id == "backtest_coverage" and f.unavailable)]
    numbers = key_numbers(inp, opt)
    tables = write_tables(inp, numbers, out_dir)
    conv = convergence_table(inp)
    psense = prior_sensitivity_table(inp)
    backtests = backtest_context(copy_tables(inp.backtests, out_dir))
    sbc = sbc_context(inp.sbc, out_dir)
    context = {
        "banners": _banners(inp), "key_numbers": numbers, "figures": shown,
        "sections": SECTIONS,
        "tables": tables,
        "convergence": (conv.sort_values(["ok", "r_hat_max"], ascending=[True, False])
                        .to_dict("records") if conv is not None else []),
        "prior_sensitivity": ([{**r, "largest_prior_text": largest_prior_text(r)}
                               for r in psense.to_dict("records")]
                              if psense is not None else []),
        "models": [m.provenance for m in inp.models.values()],
        "configs": {name: model_settings(m.provenance.model_config)
                    for name, m in inp.models.items()},
        "prior_docs": PRIOR_DOCS,
        "assumptions": {title: _records(frame) for title, frame in inp.assumptions.items()},
        "scenarios": scenario_table(inp, opt),
        "sources": source_rows(inp), "references": reference_rows(inp),
        "backtests": backtests, "sbc": sbc,
        "loo_pit": loo_pit_summary(figures, out_dir), "docs": copy_docs(out_dir),
        "validated": validation_status(backtests, sbc),
        "projected_after": projected_after(inp),
        "raw_hashes": raw_file_hashes(inp.raw_dir).to_dict("records"),
        "versions": package_versions(), "build": build_info(), "synthetic": inp.synthetic,
    }
    html = render_html(context)
    path = out_dir / "index.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, path)
    return path
