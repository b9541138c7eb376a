"""The command line: one entry point for every step of the pipeline.

    burden fetch [SOURCE ...]            raw files (mirror or download), hash-checked
    burden data [--table T ...]          raw -> data/processed/*.parquet + cleaning logs
    burden fit deaths|production|markets|composition|certified   models/<fit>.nc
    burden summarise FIT|attribution     models/<fit>/*.csv + manifest.json (result tables)
    burden attribute                     models/attribution.nc
    burden report                        reports/output/index.html (reads result tables)
    burden backtest [deaths|certified|rounds]   models/<fit>_backtest.csv, deaths_rounds.csv
    burden validate sbc --model M --simulations N [--resume]   models/sbc/<M>/
                                         (simulation-based calibration on Dask: ranks,
                                         fits, pass/fail; --resume extends a run,
                                         --resume-from PACK goes on from a pack)
    burden validate sbc-pack FOLDER FILE  a run's fits in one small file (another machine)
    burden benchmark MODEL ...           timing table (benchmark, not a test)
    burden storage-benchmark --old D --new D   saved-fit sizes, load times, same tables
    burden priors MODEL                  the priors of a model, as a Markdown table
    burden profile [--jobs N]            make clean + make report, cold then warm: a
                                         timing table of every step

The Makefile calls these commands; ``analysis/`` holds example scripts to read and adapt.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from pathlib import Path

from burden import config
from burden.errors import (
    EXIT_CANNOT_START,
    EXIT_CHECKS_FAILED,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    ConfigError,
)

FIT_NAMES = ("deaths", "production", "markets", "certified", "composition")


def _cmd_fetch(args: argparse.Namespace) -> int:
    from burden.data import fetch
    from burden.registry.sources import SOURCES

    by_filename = {s.filename: s.id for s in SOURCES.values()}
    ids = []
    for name in args.sources:
        if name not in SOURCES and name not in by_filename:
            raise ConfigError(f"unknown source or file {name!r}; known: {', '.join(SOURCES)}")
        ids.append(by_filename.get(name, name))
    fetch.fetch_all(ids or None)
    return 0


def _cmd_data(args: argparse.Namespace) -> int:
    from burden.data import build

    start = time.perf_counter()
    paths = build.build_all(args.tables or None)
    print(f"built {len(paths)} table(s) in {config.processed_dir()} "
          f"({time.perf_counter() - start:.1f}s)")
    return 0


def _json(text: str | None, what: str) -> dict:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{what} is not valid JSON: {err}") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{what} must be a JSON object of settings, e.g. "
                          f"'{{\"forecast_to\": 2024}}' (--model-config) or "
                          f"'{{\"draws\": 500}}' (--sampler-config)")
    return value


def _positive_int(text: str, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"{what} must be a whole number of at least 1 or 'all', "
                          f"not {text!r}")
    return value


def _process_count(text: str) -> int:
    """A whole number of processes, at least 1 (argparse reports the error)."""
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"a whole number of at least 1, not {text!r}")
    return int(text)


def _sampler_config(args: argparse.Namespace) -> dict:
    sampler = _json(args.sampler_config, "--sampler-config")
    for key, value in (("nuts_sampler", args.sampler), ("random_seed", args.seed),
                       ("draws", args.draws), ("tune", args.tune), ("chains", args.chains)):
        if value is not None:
            sampler[key] = value
    return sampler


def _cmd_fit(args: argparse.Namespace) -> int:
    from burden import fits

    if args.out is not None and args.write_results:
        print("burden fit: --write-results writes the tables of the pipeline's fit "
              f"(models/{args.fit}.nc); a fit saved with --out has none: load it with "
              "its class (README, 'In a notebook')", file=sys.stderr)
        return EXIT_CANNOT_START
    est, path = fits.fit_and_keep(args.fit, model_config=_json(args.model_config,
                                                               "--model-config"),
                                  sampler_config=_sampler_config(args), out=args.out)
    print(f"saved {path}")
    if args.no_summary:
        conv = json.loads(est.idata.attrs["convergence"])
        print(f"{args.fit}: max R-hat {conv['r_hat_max']:.3f}, min bulk ESS "
              f"{conv['ess_bulk_min']:.0f}, {conv['divergences']} divergences -> "
              + ("converged" if conv["converged"] else "NOT CONVERGED: do not use"))
        if args.write_results and conv["converged"]:
            del est  # the tables are those of the saved file, as `burden summarise` reads it
            _write_results_after_fit(args.fit)
        elif args.write_results:
            print(f"{args.fit}: result tables not written: the fit did not converge")
        return 0 if conv["converged"] else EXIT_CHECKS_FAILED
    # the saved file, loaded as a notebook would (its Deterministics recomputed and checked)
    est = type(est).load(path) if args.out is not None else fits.load_fit(args.fit)
    if hasattr(est, "summary_text"):
        print(est.summary_text())
    converged = est.convergence_report()["converged"]
    if args.write_results and converged:
        del est
        _write_results_after_fit(args.fit)
    elif args.write_results:
        print(f"{args.fit}: result tables not written: the fit did not converge")
    return 0 if converged else EXIT_CHECKS_FAILED


def _write_results_after_fit(name: str) -> None:
    """``burden summarise NAME`` in the fit's (or attribution's) process, saving its
    imports. A failure (an import error of the summary code too) is reported and leaves no
    manifest, so the fit is kept and make's `burden summarise` step runs (and reports) it
    again. An interrupt during it costs the fit: make deletes the target it was making."""
    import gc

    gc.collect()  # the fitted estimator's draws, before the saved ones are loaded
    # an older manifest goes first (summarise.results_dir, without importing it)
    (config.models_dir() / name / "manifest.json").unlink(missing_ok=True)
    try:
        from burden import summarise

        path = summarise.summarise(name)
    except Exception as exc:  # noqa: BLE001 - reported; `burden summarise` raises it again
        print(f"burden: {name} is saved, but its result tables failed: {exc}; run "
              f"`burden summarise {name}`", file=sys.stderr)
        return
    print(f"wrote {path.parent}")


def _cmd_summarise(args: argparse.Namespace) -> int:
    if args.unless_newer_than is not None:
        current = [name for name in args.fits
                   if _newer_than_all(config.models_dir() / name / "manifest.json",
                                      args.unless_newer_than)]
        for name in current:
            print(f"{name}: result tables already written by the fit")
        args.fits = [name for name in args.fits if name not in current]
        if not args.fits:
            return 0  # nothing to do: no summary imports (about 2 s)
    from burden import summarise

    for name in args.fits:
        path = summarise.summarise(name)
        print(f"wrote {path.parent}")
    return 0


def _newer_than_all(path: Path, others: list[str]) -> bool:
    """Whether ``path`` exists and was written after every file of ``others`` (a missing
    one counts as newer: the summary is then written, never wrongly skipped)."""
    if not path.exists():
        return False
    written = path.stat().st_mtime_ns
    return all(Path(other).exists() and Path(other).stat().st_mtime_ns < written
               for other in others)


def _cmd_attribute(args: argparse.Namespace) -> int:
    from burden import attribution

    path = attribution.attribute_from_saved(seed=args.seed)
    print(f"saved {path}")
    if args.write_results:
        _write_results_after_fit("attribution")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")  # never open windows, even where a display exists
    from burden.report.build import (
        MissingInputsError,
        ReportOptions,
        build_from_saved,
        build_report,
    )

    options = ReportOptions(
        countries=[c.strip() for c in args.countries.split(",") if c.strip()] or None,
        ranking_year=args.year, market=args.market)
    # the demo page never lands where the pipeline's report lives (make would take it for
    # an up-to-date report, and its key numbers for estimates)
    out = args.out or (config.reports_dir().parent / "demo" if args.demo
                       else config.reports_dir())
    if args.figures_only:
        from burden.report.build import figures_from_saved
        from burden.report.figures import STAGING

        if args.demo:
            print("burden report: --figures-only draws the saved results' figures; it "
                  "cannot be used with --demo", file=sys.stderr)
            return EXIT_CANNOT_START
        results = figures_from_saved(out, backtest=args.backtest, options=options,
                                     workers=args.workers)
        drawn = sum(r.drawn for r in results)
        kept = sum(bool(r.png) and not r.drawn for r in results)
        skipped = [r.id for r in results if r.unavailable]
        print(f"figures in {Path(out) / STAGING} for the next `burden report`: {drawn} "
              f"drawn, {kept} unchanged"
              + (f"; left out: {len(skipped)} ({', '.join(skipped)})" if skipped else ""))
        return 0
    if args.demo:
        from burden.report.synthetic import synthetic_inputs

        path = build_report(synthetic_inputs(), out, options, workers=args.workers)
    else:
        try:
            path = build_from_saved(out, backtest=args.backtest,
                                    allow_missing=args.allow_missing, options=options,
                                    workers=args.workers)
        except MissingInputsError as err:
            print(f"{err}\n(use --allow-missing for a partial report)", file=sys.stderr)
            return EXIT_CANNOT_START
    print(f"report written to {path}")
    return 0


def _cmd_backtest(args: argparse.Namespace) -> int:
    if args.fit == "rounds":
        from burden.validate import rounds

        out = config.models_dir() / "deaths_rounds.csv"
        table = rounds.run_rounds(sampler_config=_sampler_config(args),
                                  out=out.with_name("deaths_rounds_scored.csv"))
        out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(out, index=False)
        print(table.round(3).to_string(index=False))
        if (table["divergences"] > 0).any() or (table["r_hat_max"] > 1.01).any() or (
                table["ess_bulk_min"] < 400).any():
            print("A LEAVE-ONE-ROUND-OUT FIT DID NOT CONVERGE: its scores are not to be "
                  "trusted", file=sys.stderr)
            return EXIT_CHECKS_FAILED
        return 0
    if args.fit == "certified":
        from burden.validate import certified_backtest

        cuts = tuple(args.cuts) if args.cuts else certified_backtest.CUTS
        sampler = _sampler_config(args)
        seeds = tuple(args.seeds) if args.seeds else (sampler.pop("random_seed", 1),)
        sampler.pop("random_seed", None)
        table = certified_backtest.run(cuts, sampler_config=sampler, seeds=seeds,
                                       command="burden " + " ".join(sys.argv[1:]))
        print(certified_backtest.by_horizon(table).round(3).to_string(index=False))
        unconverged = sorted(set(table.loc[~table["converged"].astype(bool), "cut"]))
        if unconverged:
            print(f"BACK-TEST FITS DID NOT CONVERGE at cuts {unconverged}: their scores are "
                  "not to be trusted", file=sys.stderr)
            return EXIT_CHECKS_FAILED
        return 0
    from burden.validate import backtest

    cuts = tuple(args.cuts) if args.cuts else backtest.CUTS
    sampler = _sampler_config(args)
    seed = sampler.pop("random_seed", None) or 1
    _, reports = backtest.run_backtest(cuts, sampler_config=sampler, seed=seed,
                                       save_model=args.save_model,
                                       command="burden " + " ".join(sys.argv[1:]))
    unconverged = sorted(cut for cut, rep in reports.items() if not rep["converged"])
    for cut, rep in reports.items():
        print(f"cut {cut}: {rep}")
    if unconverged:
        print(f"BACK-TEST FITS DID NOT CONVERGE at cuts {unconverged}: their scores are "
              "not to be trusted", file=sys.stderr)
        return EXIT_CHECKS_FAILED
    return 0


def _cmd_sbc_pack(args: argparse.Namespace) -> int:
    from burden.validate import sbc_pack, sbc_stats

    try:
        dest = sbc_pack.write_pack(args.folder, args.file)
    except (OSError, ValueError) as exc:  # no run there, not one run's tables, no file
        print(f"burden validate sbc-pack: {exc}", file=sys.stderr)
        return EXIT_CANNOT_START
    manifest = sbc_pack.read_pack(dest)["manifest"]
    tables = sum(p.stat().st_size for p in sbc_stats.paths(args.folder).values()
                 if p.exists())
    of = manifest.get("checkpoint", {}).get("of")
    print(f"{dest}: {manifest['simulations']} simulations"
          + (f" (a checkpoint of {of})" if of else "")
          + f" of the {manifest['model']} run of {manifest['run_utc']}, "
          f"{dest.stat().st_size / 1e6:.2f} MB (its tables: {tables / 1e6:.1f} MB); "
          "go on from it with `burden validate sbc <the same options> --resume-from "
          f"{dest} --out <new folder>`")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from burden.errors import (
        SBCInterrupted,
        SBCPriorDrawError,
        SBCPriorSamplerError,
        SBCResumeError,
        SBCSchedulerError,
        SBCWorldsError,
    )
    from burden.validate import sbc, sbc_specs, sbc_stats

    # a posterior run has its own folder: it does not replace the prior run's tables
    folder = args.model + ("-posterior" if args.worlds == "posterior" else "")
    out = args.out or config.models_dir() / "sbc" / folder
    sampler = _json(args.sampler_config, "--sampler-config")
    model_config = _json(args.model_config, "--model-config")
    design = {}
    if args.countries_per_region is not None:
        design["per_region"] = (None if args.countries_per_region == "all"
                                else _positive_int(args.countries_per_region,
                                                   "--countries-per-region"))
    if design and args.worlds == "posterior":
        print("burden validate: --worlds posterior: the design is the saved fit's; "
              "--countries-per-region does not apply", file=sys.stderr)
        return EXIT_CANNOT_START
    # SIGTERM (a job scheduler's stop, `kill`) stops the run as Ctrl-C does: the first
    # simulations already fitted are written, for --resume
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if main_thread else None
    try:
        spec = sbc_specs.spec_for(args.model, **design) if design else None
        ranks, _, manifest = sbc.run(
            args.model, args.simulations, seed=args.seed, scheduler=args.scheduler,
            workers=args.workers, out=out, sampler=sampler, resume=args.resume,
            model_config=model_config, spec=spec, worlds=args.worlds, fit=args.fit,
            resume_from_pack=args.resume_from, command="burden " + " ".join(sys.argv[1:]))
    except SBCResumeError as exc:
        print(f"burden validate: {exc}", file=sys.stderr)
        return EXIT_CANNOT_START
    except SBCWorldsError as exc:
        print(f"burden validate: --worlds: {exc}", file=sys.stderr)
        return EXIT_CANNOT_START
    except (SBCPriorDrawError, SBCPriorSamplerError, SBCSchedulerError) as exc:
        print(f"burden validate: {exc}", file=sys.stderr)
        return EXIT_CANNOT_START
    except SBCInterrupted as exc:
        print(f"burden validate: {exc}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:  # before the fits began (drawing the worlds, the cluster)
        print("burden validate: stopped before any fit; nothing written", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if main_thread and previous is not None:
            signal.signal(signal.SIGTERM, previous)
    unif = sbc_stats.uniformity(ranks)
    summary = sbc_stats.summarise_uniformity(unif)
    print(summary.to_string(index=False))
    worlds = manifest.get("worlds", {})
    if worlds.get("worlds") == "posterior":
        print(f"posterior worlds: true values at {manifest['simulations']} of the "
              f"{worlds['posterior_draws']:,} draws of {worlds['fit']} (sha256 "
              f"{worlds['fit_sha256']}); calibration holds near the real data, not over the "
              "whole prior")
    elif worlds.get("worlds", "all") != "all":
        print(f"worlds like ours: {manifest['simulations']} accepted of the first "
              f"{worlds['examined']} prior worlds ({worlds['rejected']} rejected by the data-only "
              f"rule {worlds['rule']!r}; calibration holds for data sets like these)")
    print(f"{manifest['simulations']} simulations in {manifest['wall_s']:.0f} s on "
          f"{manifest['workers']} worker(s); failed {manifest['failed']}, converged "
          f"{manifest['converged']}; tables in {out}")
    # a parameter whose true value is the same in every simulation has no verdict (None)
    failing = unif[unif["pass"].eq(False)]
    if not failing.empty:
        shown = failing["parameter"].tolist()
        more = f" and {len(shown) - SBC_NAMES_SHOWN} more (uniformity.csv)" if len(
            shown) > SBC_NAMES_SHOWN else ""
        print("outside the 95% simultaneous band: " + ", ".join(shown[:SBC_NAMES_SHOWN])
              + more)
    if manifest["simulations"] < SBC_MIN_SIMULATIONS:
        print(f"note: with {manifest['simulations']} simulations the bands say little; "
              f"calibration needs hundreds (issue 11 asks for at least 200)")
    return 0 if bool(summary["pass"].all()) and manifest["failed"] == 0 else EXIT_CHECKS_FAILED


def _interrupt(signum: int, frame: object) -> None:
    """A signal handler that stops the work as Ctrl-C does."""
    raise KeyboardInterrupt


#: parameters named on the terminal when an SBC run leaves its bands (all are in the files)
SBC_NAMES_SHOWN = 20
#: below this many simulations an SBC run's bands are said to be uninformative
SBC_MIN_SIMULATIONS = 50


def _cmd_benchmark(args: argparse.Namespace) -> int:
    from burden.benchmark import benchmark

    seeds = [int(x) for x in args.seeds.split(",")] if args.seeds else None
    samplers = args.samplers.split(",")
    rows = benchmark(args.models, samplers, _json(args.model_config, "--model-config"), seeds)
    runs = len(args.models) * len(samplers) * len(seeds or [None])
    if len(rows) < runs:  # each failure was reported on stderr as it happened
        print(f"burden benchmark: {runs - len(rows)} of {runs} runs failed (above); the "
              "table has the others", file=sys.stderr)
        return EXIT_CHECKS_FAILED if rows else EXIT_FAILED
    return 0


def _cmd_storage_benchmark(args: argparse.Namespace) -> int:
    from burden.storage_benchmark import run

    rows = run(args.old, args.new, args.fits, summaries=not args.no_summaries)
    return 0 if rows else EXIT_FAILED


def _cmd_profile(args: argparse.Namespace) -> int:
    from burden.profile import profile

    profile(jobs=args.jobs, runs=tuple(args.runs.split(",")),
            cache=Path(args.cache) if args.cache else None)
    return 0


def _cmd_priors(args: argparse.Namespace) -> int:
    from burden.fits import spec
    from burden.models.config import prior_block, update_prior_docs

    cfg = spec(args.fit).estimator.config_class()
    if args.update_docs:
        print(f"updated {update_prior_docs(args.fit, cfg, config.project_root())}")
    else:
        print(prior_block(args.fit, cfg))
    return 0


def _add_sampler_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sampler", choices=["nutpie", "pymc", "numpyro"],
                   help="NUTS implementation: nutpie (the default; compiled once, cached "
                        "between runs), pymc (PyMC's own) or numpyro (JAX; composition and "
                        "production only: the other models refuse it, saying why). "
                        "Measured: docs/performance.md")
    p.add_argument("--seed", type=int, help="the sampler's random seed (default: the "
                   "model's, 20171; burden backtest: 1)")
    p.add_argument("--draws", type=int, help="draws a chain after tuning (default: the "
                   "model's; `burden fit MODEL` logs them)")
    p.add_argument("--tune", type=int, help="tuning steps a chain (default: the model's)")
    p.add_argument("--chains", type=int, help="chains (default: the model's, 4)")
    p.add_argument("--sampler-config", help="JSON merged over the model's sampler defaults "
                   "(keys: draws, tune, chains, target_accept, nuts_sampler, random_seed, "
                   "cores, mass_matrix, mass_matrix_gamma, mass_matrix_eigval_cutoff; "
                   "burden/models/config.py SamplerConfig says what each does)")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="burden", description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    f = sub.add_parser("fetch", help="get the raw files (mirror or download), hash-checked")
    f.add_argument("sources", nargs="*", help="source ids or file names (default: all)")
    f.set_defaults(func=_cmd_fetch)

    d = sub.add_parser("data", help="fetch and clean every source into data/processed/")
    d.add_argument("--table", dest="tables", action="append",
                   help="build only this table (repeatable)")
    d.set_defaults(func=_cmd_data)

    fit = sub.add_parser("fit", help="fit a model on the processed tables and save it")
    fit.add_argument("fit", choices=FIT_NAMES)
    fit.add_argument("--model-config", help="JSON merged over this model's defaults; "
                     "`burden priors FIT` lists the priors, unknown keys are refused")
    fit.add_argument("--no-summary", action="store_true",
                     help="print the convergence line only: skip reloading the saved fit "
                     "and its summary (its result tables come from --write-results or "
                     "`burden summarise`)")
    fit.add_argument("--write-results", action="store_true",
                     help="then write the saved fit's result tables (`burden summarise FIT`) "
                     "in the same process, as `make` does")
    fit.add_argument("--out", type=Path, default=None, metavar="FILE",
                     help="save the fit to FILE (netCDF) instead of models/FIT.nc, the "
                     "pipeline's fit, which make and the report read: for a fit with "
                     "other settings")
    _add_sampler_options(fit)
    fit.set_defaults(func=_cmd_fit)

    s = sub.add_parser("summarise", help="write the result tables of saved fits")
    s.add_argument("fits", nargs="+", choices=[*FIT_NAMES, "attribution"])
    s.add_argument("--unless-newer-than", nargs="+", metavar="PATH",
                   help="skip a fit whose manifest was written after every PATH (make "
                   "passes the rule's prerequisites: `burden fit --write-results` has "
                   "written the tables already)")
    s.set_defaults(func=_cmd_summarise)

    a = sub.add_parser("attribute", help="deaths attributable to each source, from saved fits")
    a.add_argument("--seed", type=int, default=20171,
                   help="seed of the draw alignment between fits (default: %(default)s)")
    a.add_argument("--write-results", action="store_true",
                   help="then write its result tables (`burden summarise attribution`) in "
                   "the same process, as `make` does")
    a.set_defaults(func=_cmd_attribute)

    r = sub.add_parser("report", help="figures, tables and the HTML report")
    r.add_argument("--out", type=Path, default=None,
                   help="output folder (default: reports/output; with --demo, "
                   "reports/demo)")
    r.add_argument("--backtest", type=Path, default=None,
                   help="back-test CSV (default: models/deaths_backtest.csv if present)")
    r.add_argument("--countries", default="", help="comma-separated ISO3 codes of the "
                   "country panels (default: the six with most deaths)")
    r.add_argument("--year", type=int, default=None, help="year of the country ranking "
                   "(default: the deaths fit's last data year)")
    r.add_argument("--market", default="USA", help="destination market (default: USA)")
    r.add_argument("--allow-missing", action="store_true",
                   help="build a partial report when some results are missing")
    r.add_argument("--demo", action="store_true",
                   help="synthetic inputs (layout preview; not estimates), into "
                   "reports/demo unless --out says otherwise")
    r.add_argument("--figures-only", action="store_true",
                   help="draw the figures whose inputs exist but the attribution's, "
                   "into <out>/.figures-next, leaving the page as it is (make runs it "
                   "while the attribution runs; the next report takes them over)")
    r.add_argument("--workers", type=_process_count, default=None,
                   help="processes drawing the figures (default: one per core)")
    r.set_defaults(func=_cmd_report)

    b = sub.add_parser("backtest", help="fit a model on data through a year and score the "
                       "held-back years (certified: rolling origins against statsmodels "
                       "baselines)")
    b.add_argument("fit", nargs="?", default="deaths",
                   choices=["deaths", "certified", "rounds"],
                   help="rounds: leave-one-round-out (fit on one GBD round, score the other)")
    b.add_argument("--cuts", type=int, nargs="+", help="cut years (default deaths: 2010 "
                   "2014; certified: 2012 2015 2017 2019 2021)")
    b.add_argument("--seeds", type=int, nargs="+", help="certified: fit every cut once "
                   "per seed (default: --seed, else 1)")
    b.add_argument("--save-model", type=Path, default=None, metavar="FILE",
                   help="deaths: also save each "
                   "cut's fit, as FILE's name with _<cut> before its suffix (default: not "
                   "saved)")
    _add_sampler_options(b)
    b.set_defaults(func=_cmd_backtest)

    v = sub.add_parser("validate", help="validation of the models on simulated data")
    vsub = v.add_subparsers(dest="check", required=True)
    sbc = vsub.add_parser("sbc", help="simulation-based calibration: prior draws, simulated "
                          "data, one fit each on Dask, ranks of the true values "
                          "(models/sbc/<model>/)")
    sbc.add_argument("--model", required=True,
                     choices=["production", "certified", "deaths", "markets", "composition"],
                     help="the model to calibrate (its reduced design: docs/validation/"
                     "sbc.md, \"Reduced designs\")")
    sbc.add_argument("--simulations", "--sims", type=int, required=True,
                     help="simulated data sets, one fit each (the docs' runs: 200)")
    sbc.add_argument("--scheduler", default=None, help="address of an existing Dask "
                     "scheduler (tcp://host:port); default: an embedded LocalCluster")
    sbc.add_argument("--workers", type=int, default=None, help="LocalCluster worker "
                     "processes, one thread each (default: one per core)")
    sbc.add_argument("--seed", type=int, default=1, help="seed of the prior draws and of "
                     "every fit (default: %(default)s)")
    sbc.add_argument("--out", type=Path, default=None,
                     help="output folder (default: models/sbc/<model>, or "
                     "models/sbc/<model>-posterior with --worlds posterior)")
    sbc.add_argument("--sampler-config", help="JSON merged over the model's sampler "
                     "defaults (draws, tune, chains, target_accept)")
    sbc.add_argument("--model-config", help="JSON merged over the model's settings, e.g. "
                     "'{\"yield_centring\": \"partial\"}' (another parameterisation)")
    sbc.add_argument("--countries-per-region", default=None, metavar="N|all",
                     help="deaths only: countries kept per GBD region in the simulated "
                     "design, the most populous first (default 2; 'all': no reduction)")
    sbc.add_argument("--worlds", default="all", choices=["all", "like-ours", "posterior"],
                     help="'all' prior worlds (default); 'like-ours': only simulated data "
                     "sets whose summaries lie near the real data's (a rule on the data "
                     "alone, so ranks stay uniform; deaths and certified); 'posterior': "
                     "posterior SBC, true values drawn from the saved real fit (--fit) and "
                     "each fit given the real data and a simulated copy "
                     "(docs/validation/sbc.md)")
    sbc.add_argument("--fit", type=Path, default=None, help="--worlds posterior: the saved "
                     "real fit (default models/<model>.nc)")
    sbc.add_argument("--resume", action="store_true", help="extend the run already in the "
                     "output folder (same model, seed and settings, e.g. 100 -> 200 "
                     "simulations): its fits are reused, two of them fitted again to check "
                     "they give the same ranks")
    sbc.add_argument("--resume-from", type=Path, default=None, metavar="PACK",
                     help="as --resume, from a run packed by `burden validate sbc-pack` "
                     "(made on another machine), into a new --out folder")
    sbc.set_defaults(func=_cmd_validate)
    pack = vsub.add_parser("sbc-pack", help="write an SBC run's fits (a finished run or a "
                           "checkpoint) to one small file, for --resume-from on another "
                           "machine")
    pack.add_argument("folder", type=Path, help="the run's output folder")
    pack.add_argument("file", type=Path, help="the pack to write (.npz)")
    pack.set_defaults(func=_cmd_sbc_pack)

    bm = sub.add_parser("benchmark", help="time the real-data fits, each sampler in its own "
                        "process (prints a Markdown table)")
    bm.add_argument("models", nargs="+", choices=FIT_NAMES)
    bm.add_argument("--samplers", default="nutpie,pymc", help="comma-separated samplers "
                    "to compare, each fit in its own process (default: nutpie,pymc)")
    bm.add_argument("--model-config", help="JSON merged over the model's defaults")
    bm.add_argument("--seeds", help="comma-separated seeds, one cold process each "
                    "(default: the model's seed)")
    bm.set_defaults(func=_cmd_benchmark)

    pf = sub.add_parser("profile", help="make clean + make report, cold (empty compile "
                        "cache) then warm: wall and CPU time of every step (DELETES "
                        "data/processed, the fits and reports/output first; SBC runs and "
                        "back-tests are set aside and kept)")
    pf.add_argument("--jobs", type=int, default=1, help="make -j JOBS (default 1)")
    pf.add_argument("--runs", default="cold,warm", help="comma-separated, in order: "
                    "cold (an empty compile cache) and/or warm (default: cold,warm)")
    pf.add_argument("--cache", help="compile cache folder, kept (default: a new empty one); "
                    "repeat warm runs with --runs warm --cache DIR")
    pf.set_defaults(func=_cmd_profile)

    sb = sub.add_parser("storage-benchmark", help="re-save the fits of OLD compactly into "
                        "NEW: sizes, save and cold load times, result tables compared")
    sb.add_argument("--old", type=Path, required=True, help="folder of saved fits")
    sb.add_argument("--new", type=Path, required=True, help="folder to write them to")
    sb.add_argument("--fits", nargs="+", choices=[*FIT_NAMES, "attribution"],
                    help="default: every fit, then attribution")
    sb.add_argument("--no-summaries", action="store_true",
                    help="skip `burden summarise` and the comparison of result tables")
    sb.set_defaults(func=_cmd_storage_benchmark)

    pr = sub.add_parser("priors", help="a model's priors (Markdown table)")
    pr.add_argument("fit", choices=FIT_NAMES)
    pr.add_argument("--update-docs", action="store_true",
                    help="rewrite the generated priors block in the model's doc")
    pr.set_defaults(func=_cmd_priors)
    return p


def main(argv: list[str] | None = None) -> int:
    config.use_process_defaults()  # before any command imports numpy or Numba
    args = parser().parse_args(argv)
    # times on every line: SBC runs and fits log for hours, into files
    logging.basicConfig(level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    logging.getLogger("burden").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    try:
        return args.func(args)
    except (ConfigError, FileNotFoundError) as exc:  # could not start (errors.py, codes)
        if args.verbose:
            raise
        print(f"burden {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_CANNOT_START
    except (ValueError, RuntimeError) as exc:  # DataFormatError too: the work failed
        if args.verbose:
            raise
        print(f"burden {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
