"""Command line: ``burden data | fetch | fit deaths | fit shares | attribute | report``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time

from burden import config


def _cmd_fetch(args: argparse.Namespace) -> int:
    from burden.data import fetch
    from burden.registry.sources import SOURCES

    by_filename = {s.filename: s.id for s in SOURCES.values()}
    ids = []
    for name in args.sources:
        if name not in SOURCES and name not in by_filename:
            raise ValueError(f"unknown source or file {name!r}; known: {', '.join(SOURCES)}")
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


def _configs(args: argparse.Namespace) -> dict:
    out = {}
    if args.model_config:
        out["model_config"] = json.loads(args.model_config)
    sampler = json.loads(args.sampler_config) if args.sampler_config else {}
    if args.sampler:
        sampler["nuts_sampler"] = args.sampler
    if args.seed is not None:
        sampler["random_seed"] = args.seed
    if sampler:
        out["sampler_config"] = sampler
    return out


def _cmd_fit(args: argparse.Namespace) -> int:
    processed = config.processed_dir()
    models = config.models_dir()
    kwargs = _configs(args)
    if args.what == "deaths":
        from burden.models import deaths

        path = deaths.fit_from_processed(processed, models / "deaths.nc", **kwargs)
        print(f"saved {path}")
    else:
        from burden.models import markets, production

        prod = production.fit_from_processed(processed, models / "production.nc", **kwargs)
        print(f"saved {prod}")
        mk = markets.fit_from_processed(processed, models / "markets.nc",
                                        production_path=prod, **kwargs)
        print(f"saved {mk}")
    return 0


def _cmd_attribute(args: argparse.Namespace) -> int:
    from burden import attribution

    models = config.models_dir()
    path = attribution.attribute_from_saved(
        models / "deaths.nc", models / "production.nc", models / "markets.nc",
        models / "attribution.nc",
    )
    print(f"saved {path}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from burden.report import build as report_build

    try:
        path = report_build.build_report(out_dir=config.reports_dir())
    except report_build.MissingInputsError as err:
        print(err, file=sys.stderr)
        return 2
    print(f"report written to {path}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="burden", description=__doc__)
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
    fit.add_argument("what", choices=["deaths", "shares"])
    fit.add_argument("--sampler", choices=["nutpie", "pymc", "numpyro"])
    fit.add_argument("--seed", type=int)
    fit.add_argument("--model-config", help="JSON merged over the model's defaults")
    fit.add_argument("--sampler-config", help="JSON merged over the sampler defaults")
    fit.set_defaults(func=_cmd_fit)

    a = sub.add_parser("attribute", help="deaths attributable to each source, from saved fits")
    a.set_defaults(func=_cmd_attribute)

    r = sub.add_parser("report", help="figures, tables and the HTML report")
    r.set_defaults(func=_cmd_report)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("burden").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        if args.verbose:
            raise
        print(f"burden {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
