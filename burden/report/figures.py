"""Every figure of the report: what it needs, its data twin and plot, its caption; drawn
and saved as PNG, SVG and the plotted data (CSV)."""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from burden import plots
from burden.models.deaths_data import VSRR_TABLE
from burden.plots.production import source_names
from burden.registry import estimands
from burden.registry.keys import US
from burden.registry.locations import hierarchy
from burden.report.captions import WHAT, certified_estimands, deaths_caption
from burden.report.choices import (
    ReportOptions,
    attribution_year,
    deaths_fit_last_year,
    default_countries,
    fit_tables,
    gbd_rounds,
    last_data_year,
    last_us_data_year,
    market_or_first,
    model_years,
    signature_regions,
    us_certified_years,
)
from burden.report.inputs import ReportInputs

log = logging.getLogger(__name__)

#: the deaths model's estimand, titled as the registry titles it
GBD_TITLE = estimands.get("gbd_use_disorder").name


@dataclass
class FigureResult:
    id: str
    section: str
    title: str
    caption: str
    png: str = ""
    svg: str = ""
    csv: str = ""
    unavailable: str = ""  # why the figure could not be drawn (missing input)
    drawn: bool = False  # drawn by this call, not kept from an earlier one (``_draw``)


@dataclass
class _Spec:
    id: str
    section: str
    title: str
    caption: str
    needs: tuple[str, ...]
    data: Callable[[], pd.DataFrame]
    #: called as ``plot(data, **plot_kwargs)``: a figure is its data twin, these keyword
    #: arguments and the plotting code, nothing else (what ``fingerprint`` hashes)
    plot: Callable[..., Figure]
    plot_kwargs: dict = field(default_factory=dict)
    #: for a data twin that is slow to compute: the bytes of everything it is computed
    #: from, fingerprinted instead of the twin (the computing code is in ``_plotting_code``)
    data_key: Callable[[], bytes] | None = None


def figure_specs(inp: ReportInputs, opt: ReportOptions) -> list[_Spec]:
    t = inp.tables
    rounds = gbd_rounds(inp)
    # the hierarchy the deaths fit reads (its latest round's), for the sums of a round's
    # country values where its aggregate totals are not in the files read
    observed = plots.observed_deaths(t.get("gbd_deaths"), t.get("us_deaths_by_drug"),
                                     t.get(VSRR_TABLE), gbd_rounds=rounds,
                                     hierarchy=hierarchy(max(rounds)),
                                     last_year=deaths_fit_last_year(inp))
    gbd = t.get("gbd_deaths")
    round_of = (dict(zip(gbd["source"], gbd["gbd_round"]))
                if gbd is not None and "gbd_round" in gbd else {})
    ds = inp.deaths_summary
    countries = (list(opt.countries) if opt.countries
                 else default_countries(ds, last_data_year(inp)) if ds is not None else [])
    data_year = last_data_year(inp)
    us_data = last_us_data_year(inp)
    us_end = {"USA": us_data} if us_data is not None else {}
    us_last, us_nowcast = us_certified_years(inp)
    specs = []
    specs.append(_Spec(
        "certified_deaths", "deaths",
        "Certified opioid-involved overdose deaths to the present (US by drug, Canada)",
        f"{certified_estimands()} Posterior mean (line) and 95% interval (band); "
        "points are the complete counts (NCHS final, VSRR December, PHAC); hollow "
        "circles mark nowcast years, whose counts are still being reported (VSRR 2024-2025; "
        "2025 from the 12-month window ending April, Canada January-September).",
        ("certified_summary",),
        lambda: plots.certified_deaths_data(inp.certified_summary, inp.tables),
        lambda d: plots.plot_certified_deaths(d)))
    for sid, title, kwargs in [
        ("deaths_world", "World opioid deaths", {"level": "world"}),
        ("deaths_super_regions", "Opioid deaths by GBD super-region",
         {"level": "super_region"}),
        ("deaths_regions", "Opioid deaths by GBD region", {"level": "region"}),
        ("deaths_countries", "Opioid deaths in selected countries", {"locations": countries}),
        ("rates_countries", "Opioid death rates in selected countries",
         {"locations": countries, "measure": "rate_per_100k"}),
    ]:
        def twin(kw=kwargs) -> pd.DataFrame:
            return plots.deaths_over_time_data(ds, observed=observed, last_data_year=data_year,
                                               certified_to=us_end, **kw)

        # each caption says what its figure draws: written from its data twin
        caption = (deaths_caption(twin(), what=WHAT[kwargs.get("level", "country")],
                                  rounds=rounds, round_of=round_of, last_data_year=data_year)
                   if ds is not None and (kwargs.get("locations") is None
                                          or kwargs["locations"]) else "")
        specs.append(_Spec(sid, "deaths", title, caption, ("deaths_summary",), twin,
                           plots.plot_deaths_over_time))
    specs.append(_Spec(
        "country_ranking", "deaths", "Countries ranked by opioid death rate",
        f"Up to {opt.ranking_top} countries with the highest posterior mean rates, with 95% intervals; "
        "overlapping intervals mean the order between those countries is uncertain.",
        ("deaths_summary",),
        lambda: plots.country_ranking_data(
            ds, year=opt.ranking_year or data_year, top=opt.ranking_top),
        lambda d: plots.plot_country_ranking(d)))
    specs.append(_Spec(
        "us_correction", "deaths", "US opioid deaths: reported and corrected",
        "Some US overdose certificates name no drug; the corrected series adds a share of "
        "them, bounded by their number (certified model; the share is prior-driven: mean "
        "and 95% interval). Points: NCHS final counts of deaths involving any opioid "
        "(certificate definition). Dotted: nowcast years of the certified fit, whose counts "
        "are still being reported; grey (if any): projection, no US count.",
        ("certified_correction",),
        lambda: plots.us_correction_data(inp.certified_correction, observed=observed,
                                         last_data_year=us_last, nowcast_years=us_nowcast),
        plots.plot_us_correction))
    specs.append(_Spec(
        "production", "sources", "World opium production by source country",
        "Stacked posterior means by source; the hatched band is the 95% interval of the "
        "world total (from summed draws). Points: published world totals (hollow: recalled, "
        "unverified).", ("production_summary",),
        lambda: plots.production_data(inp.production_summary, total=inp.production_total,
                                      measurements=t.get("production_measurements")),
        lambda d: plots.plot_production(d)))
    specs.append(_Spec(
        "production_shares", "sources", "Each source's share of world opium production",
        "Posterior mean and 95% interval of the share; points: published shares.",
        ("production_summary",),
        lambda: plots.production_share_data(
            inp.production_summary, measurements=t.get("production_measurements"),
            sources=_top_sources(inp.production_summary)),
        lambda d: plots.plot_production_shares(d)))
    specs.append(_Spec(
        "market_shares", "sources", "Heroin market shares by source region",
        "Posterior mean and 95% interval; dashed, in the region's colour: estimates that "
        "come mostly from the prior. Points: DEA Heroin Signature Program shares (hollow: "
        "not verified); triangles: bounds stated in words, at the bound and pointing where "
        "the share lies (up: more than, down: less than). Published figures outside the "
        "model's years and a region at 0% in every year are named in the legend, not drawn; "
        "the plotted data keep them (column drawn).", ("market_summary",),
        lambda: plots.market_shares_data(inp.market_summary,
                                         market=market_or_first(inp.market_summary, opt.market),
                                         signature=t.get("signature_shares"),
                                         signature_regions=signature_regions()),
        lambda d: plots.plot_market_shares(d)))
    attr_market = (market_or_first(inp.attribution_summary, opt.market)
                   if inp.attribution_summary is not None else opt.market)
    top = ATTRIBUTABLE_TOP
    specs.append(_Spec(
        "attributable_deaths", "attribution", "Opioid deaths attributable to each source",
        f"{GBD_TITLE} in the {attr_market} market (the deaths model's estimand), split "
        "by drug type (the composition fit) and each drug chain by "
        f"source: illicit opiates by the {attr_market} market's heroin shares, illicit "
        "synthetics by the stated fentanyl assumption; draw by draw, mean and 95% interval. "
        "A source's line adds its opiate and synthetic chains. Drawn: the sources with the "
        f"most attributable deaths (at most {top}); any other is named in the legend and "
        "kept in the plotted data. Deaths not attributed to an illicit source "
        "(pharmaceutical opioids, methadone, unspecified) are left out. Dashed, in the "
        "source's colour: mostly from a prior or an assumption; grey: years the deaths "
        "fit projects for this market, with no data behind them (for a market of one "
        "country its own: the US after the last certified count the fit reads, since "
        "certified counts carry its deaths past GBD's last data year, "
        "docs/models/deaths.md, \"After GBD's last data year\"; for others, after GBD's "
        "last data year).",
        ("attribution_summary",),
        lambda: plots.attributable_deaths_data(
            inp.attribution_summary, market=attr_market, top=top,
            names=source_names(t.get("production_measurements"))),
        lambda d: plots.plot_attributable_deaths(d)))
    sens = inp.sensitivity
    sens_market = market_or_first(sens, opt.market) if sens is not None else opt.market
    sens_year = attribution_year(inp, sens, sens_market) if sens is not None else None
    sens_why = ("the last year of the NCHS final counts by drug (the US counts that measure "
                "the drug split), not the last year with US data" if sens_market == US
                else "the last year of GBD data")
    specs.append(_Spec(
        "attribution_sensitivity", "attribution",
        "Sensitivity of the attribution to the stated assumptions",
        f"{GBD_TITLE} in the {sens_market} market attributable to each source under each scenario of the stated assumptions (fentanyl "
        "manufacture split, deaths involving both heroin and fentanyl); mean and 95% "
        f"interval in {sens_year}, {sens_why}.",
        ("sensitivity",),
        lambda: plots.attribution_sensitivity_data(
            inp.sensitivity, year=sens_year, market=sens_market,
            names=source_names(t.get("production_measurements"))),
        lambda d: plots.plot_attribution_sensitivity(d)))
    used, span = fit_tables(inp), model_years(inp)
    unused = sorted(set(t) - set(used)) if used is not None else []
    specs.append(_Spec(
        "data_coverage", "checks", "Data coverage",
        "Number of countries each data source informs in each year (blank: none), for the "
        "sources the fits read"
        + (f", over {span[0]}–{span[1]}, the years the models estimate" if span else "")
        + ". Only the rows the fits read are counted: GBD's opioid use-disorder death "
        "counts of the rounds fitted (not GBD's rates or other causes), NCHS's death counts "
        "(not its rates)."
        + (f" Not shown: {', '.join(unused)}, which no fit reads." if unused else ""),
        ("tables", "fit_tables"),
        lambda: plots.data_coverage_data(t, used=used, years=span, gbd_rounds=rounds),
        lambda d: plots.plot_data_coverage(d)))
    def loo_pit_tables() -> pd.DataFrame:
        return pd.concat([m.loo_pit for m in inp.models.values() if m.loo_pit is not None],
                         ignore_index=True)

    specs.append(_Spec(
        "loo_pit", "checks", "Predictive checks: LOO-PIT by model and data source",
        "For each data source, the leave-one-out probability integral transform of every "
        "observation (PSIS-LOO, without refitting): uniform when the model predicts data it "
        "was not fitted to as well as it claims. The line is the ECDF of the values minus "
        "the uniform CDF, the band its simultaneous 95% band (red: the line leaves it). An "
        "S-shaped line (up, then down) means intervals too narrow for that source; "
        "k>0.7 gives the share of observations whose leave-one-out estimate is unreliable "
        "(Pareto k). Sources with fewer than 10 observations are pooled per model.",
        ("loo_pit",),
        lambda: plots.loo_pit_ecdf_data(loo_pit_tables()),
        plots.plot_loo_pit,
        # its bands take 3.4 s (2026-12-05): the PIT tables decide whether it changed
        data_key=lambda: loo_pit_tables().to_csv(index=False).encode()))
    specs.append(_Spec(
        "convergence", "checks", "Sampler convergence (R-hat and ESS)",
        "Each variable's worst R-hat against its lowest bulk ESS; the worst variables beyond "
        "the dashed / dotted thresholds are named (all of them in the table below).",
        ("diagnostics",),
        lambda: plots.convergence_data({n: m.diagnostics for n, m in inp.models.items()
                                        if m.diagnostics is not None}),
        lambda d: plots.plot_convergence(d)))
    specs.append(_Spec(
        "backtest_coverage", "checks", "Back-test coverage",
        "Share of held-out observations inside their predictive interval (dashed: the "
        "interval's nominal level), with a Jeffreys 95% interval for the share.",
        ("backtest",),
        lambda: plots.backtest_coverage_data(inp.backtest),
        lambda d: plots.plot_backtest_coverage(d)))
    return specs


#: sources drawn in the attributable-deaths figure (the others named in its legend)
ATTRIBUTABLE_TOP = 8


def _top_sources(summary: pd.DataFrame, n: int = 6) -> list[str]:
    share = summary[summary["measure"] == "share"]
    return share.groupby("source")["mean"].mean().sort_values(ascending=False).index[
        :n].tolist()


#: which input supplies each figure's needs (keys of ``ReportInputs.missing``)
_SUPPLIER = {"deaths_summary": "deaths results",
             "certified_correction": "certified results",
             "production_summary": "production results",
             "market_summary": "markets results",
             "certified_summary": "certified results",
             "attribution_summary": "attribution results",
             "sensitivity": "attribution results", "backtest": "back-test"}


def _missing_reason(inp: ReportInputs, needs: tuple[str, ...]) -> str:
    for need in needs:
        if need == "tables":
            if not inp.tables:
                return inp.missing.get("tables", "no processed tables")
        elif need == "fit_tables":
            if fit_tables(inp) == []:
                return ("none of the processed tables the saved fits read is among the "
                        "processed tables")
        elif need in ("ppc", "loo_pit"):
            if not any(getattr(m, need) is not None for m in inp.models.values()):
                return "no saved model has posterior predictive draws"
        elif need == "diagnostics":
            if not any(m.diagnostics is not None for m in inp.models.values()):
                return inp.missing.get("models", "no fitted model")
        elif getattr(inp, need) is None:
            supplier = _SUPPLIER.get(need, need)
            known = {**inp.missing, **inp.notes}
            return known.get(supplier, f"no {supplier}")
    return ""


#: the figures a forked worker draws (specs, out_dir, dpi, code, staging, target): set
#: just before the fork, read by the children
_FORKED: tuple[list[_Spec], Path, float, str, Path | None, Path | None] | None = None

#: figures handed to the workers first, slowest first: the pool takes the figures in order,
#: so a slow figure left to the end runs alone while the other core idles. Drawing times
#: one at a time, of a ``make report`` run's fits (``python analysis/report_figure_times.py``,
#: 2026-12-03 18:20 UTC, 23.3 s in all): the LOO-PIT panels 9.2 s (3.9 s of it their
#: bands), the GBD regions 4.0 s, every other figure 1.6 s or less
DRAWN_FIRST = ("loo_pit", "deaths_regions")


#: libraries whose versions are part of every figure's fingerprint: the drawing, and the
#: computations of a data twin keyed on its inputs (the LOO-PIT bands: SciPy, arviz_stats)
FINGERPRINT_PACKAGES = ("matplotlib", "numpy", "pandas", "scipy", "arviz_stats")
#: where ``burden report --figures-only`` draws, inside the output folder: the page and
#: its figures are left as they are until ``burden report`` takes these over
STAGING = ".figures-next"


def _plotting_code() -> str:
    """sha256 of what a figure depends on besides its data and arguments: every file of
    the ``burden`` package (the plots, the colours and labels of ``registry``, the
    thresholds of ``fast_diagnostics``, ...: any change of the package redraws every
    figure), the versions of ``FINGERPRINT_PACKAGES`` and matplotlib's rcParams (a
    notebook's style)."""
    from importlib.metadata import PackageNotFoundError, version

    import matplotlib

    digest = hashlib.sha256()
    for name in FINGERPRINT_PACKAGES:
        try:
            digest.update(f"{name}=={version(name)}\0".encode())
        except PackageNotFoundError:
            digest.update(f"{name} absent\0".encode())
    digest.update(repr(sorted((k, repr(v)) for k, v in matplotlib.rcParams.items()))
                  .encode())
    package = Path(__file__).resolve().parent.parent
    for path in sorted(package.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            digest.update(str(path.relative_to(package)).encode() + b"\0"
                          + path.read_bytes())
    return digest.hexdigest()


def fingerprint(spec: _Spec, source: bytes, dpi: float, code: str) -> str:
    """What a drawn figure is made of: its id, ``source`` (its data twin's CSV bytes, or
    those of the inputs it is computed from: ``_Spec.data_key``), its plot's keyword
    arguments, the resolution and the code (``_plotting_code``)."""
    head = json.dumps({"id": spec.id, "plot_kwargs": spec.plot_kwargs, "dpi": dpi,
                       "code": code}, sort_keys=True, default=str)
    return hashlib.sha256(head.encode() + b"\0" + source).hexdigest()


def _files(spec: _Spec) -> tuple[str, str, str]:
    return (f"figures/{spec.id}.png", f"figures/{spec.id}.svg",
            f"tables/figure_{spec.id}.csv")


def _stamp(folder: Path, spec: _Spec) -> Path:
    return folder / f"figures/{spec.id}.sha256"


def _file_hashes(folder: Path, files: tuple[str, ...]) -> list[str] | None:
    try:
        return [hashlib.sha256((folder / f).read_bytes()).hexdigest() for f in files]
    except FileNotFoundError:
        return None


def _current(folder: Path, spec: _Spec, key: str) -> bool:
    """Whether ``folder`` holds ``spec``'s figure drawn with fingerprint ``key``: its stamp
    names the key and the sha256 of the three files, which are those files now (a file
    another program wrote since, an older ``burden report`` for one, is not current)."""
    try:
        record = json.loads(_stamp(folder, spec).read_text())
    except (FileNotFoundError, ValueError):
        return False
    return (isinstance(record, dict) and record.get("key") == key
            and record.get("files") == _file_hashes(folder, _files(spec)))


def _write_atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def _draw(spec: _Spec, out_dir: Path, dpi: float, code: str | None = None,
          staging: Path | None = None, target: Path | None = None
          ) -> tuple[str, str, str, bool]:
    """Draw one figure into ``target`` (default ``out_dir``): its PNG, SVG and data twin
    (CSV); their paths and whether it was drawn. A figure current in ``out_dir``
    (``_current``: the same fingerprint, ``fingerprint``, and files) is kept; one current
    in ``staging`` (where ``burden report --figures-only`` draws) is moved into
    ``target``; any other is drawn. Each file is written under a temporary name and
    renamed, the stamp last, so a half-written figure is never current."""
    target = target or out_dir
    files = _files(spec)
    data = table = None
    if spec.data_key is not None:
        source = b"inputs\0" + spec.data_key()
    else:
        data = spec.data()
        table = data.to_csv(index=False).encode()
        source = b"data twin\0" + table
    key = fingerprint(spec, source, dpi, code or _plotting_code())
    if _current(out_dir, spec, key):
        return *files, False
    staged = staging is not None and _current(staging, spec, key)
    if staged and staging == target:  # staged already, by an earlier --figures-only
        return *files, False
    for folder in (target / "figures", target / "tables"):
        folder.mkdir(parents=True, exist_ok=True)
    _stamp(target, spec).unlink(missing_ok=True)
    if staged:
        for f in files:  # taken over from the staging folder (the same file system)
            (staging / f).replace(target / f)
        _stamp(staging, spec).replace(_stamp(target, spec))
        return *files, False
    if data is None:
        data = spec.data()
        table = data.to_csv(index=False).encode()
    fig = spec.plot(data, **spec.plot_kwargs)
    _write_atomic(target / files[0], lambda t: fig.savefig(t, dpi=dpi, format="png"))
    _write_atomic(target / files[1], lambda t: fig.savefig(t, format="svg"))
    _write_atomic(target / files[2], lambda t: t.write_bytes(table))
    record = {"key": key, "files": _file_hashes(target, files)}
    _write_atomic(_stamp(target, spec), lambda t: t.write_text(json.dumps(record) + "\n"))
    return *files, True


def _can_fork() -> bool:
    """Fork only a process with one Python thread: a fork copies no other thread, and a
    lock one of them held (logging, I/O) would stay locked in the child (a notebook's
    kernel: there the figures are drawn one by one). The numerical libraries' idle native
    thread pools do not count; Python 3.12 warns about them (a DeprecationWarning, shown
    in the test summary; docs/performance.md, "The report's figures on both cores")."""
    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1


def _draw_forked(index: int) -> tuple[str, str, str, bool]:
    specs, out_dir, dpi, code, staging, target = _FORKED
    return _draw(specs[index], out_dir, dpi, code, staging, target)


def drawing_order(specs: list[_Spec], todo: list[int]) -> list[int]:
    """``todo`` (indices into ``specs``) with the ``DRAWN_FIRST`` figures first, in that
    order; the rest keep theirs. The page keeps ``specs``' order whatever this is."""
    rank = {sid: r for r, sid in enumerate(DRAWN_FIRST)}
    return sorted(todo, key=lambda i: rank.get(specs[i].id, len(rank)))


def render_figures(inp: ReportInputs, opt: ReportOptions, out_dir: Path,
                   workers: int | None = None, *, staged: bool = False,
                   skip_needs: tuple[str, ...] = ()) -> list[FigureResult]:
    """Draw every figure; save PNG, SVG and its data twin as CSV under ``out_dir``.

    The figures are drawn by ``workers`` forked processes (default: one per core; 1 draws
    them here, as does a process with other Python threads: ``_can_fork``). A figure
    already drawn with the same data, arguments and code is kept, or taken over from the
    staging folder ``out_dir/STAGING`` (``_draw``). ``staged``: draw into that folder
    instead, leaving the page's figures as they are (``burden report --figures-only``);
    ``skip_needs``: leave out the figures that need any of these inputs.
    """
    global _FORKED
    staging = out_dir / STAGING
    target = staging if staged else out_dir
    for folder in (target / "figures", target / "tables"):
        folder.mkdir(parents=True, exist_ok=True)
    specs = figure_specs(inp, opt)
    results = [FigureResult(spec.id, spec.section, spec.title, spec.caption,
                            unavailable=_missing_reason(inp, spec.needs)) for spec in specs]
    for spec, res in zip(specs, results):
        skipped = [n for n in spec.needs if n in skip_needs]
        if skipped and not res.unavailable:
            res.unavailable = f"left to the report (it needs {', '.join(skipped)})"
    todo = drawing_order(specs, [i for i, res in enumerate(results) if not res.unavailable])
    workers = min(len(todo), workers or os.cpu_count() or 1)
    code = _plotting_code()
    if workers > 1 and _can_fork():
        # forked children share the inputs in memory; the specs' closures cannot be pickled
        _FORKED = (specs, out_dir, opt.dpi, code, staging, target)
        try:
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                paths = pool.map(_draw_forked, todo, chunksize=1)
        finally:
            _FORKED = None
    else:
        paths = [_draw(specs[i], out_dir, opt.dpi, code, staging, target) for i in todo]
    for i, (png, svg, csv, drawn) in zip(todo, paths):
        results[i].png, results[i].svg, results[i].csv = png, svg, csv
        results[i].drawn = drawn
    drawn = sum(results[i].drawn for i in todo)
    log.info("figures: %d drawn, %d unchanged since they were last drawn, %d without their "
             "inputs", drawn, len(todo) - drawn, len(results) - len(todo))
    return results
