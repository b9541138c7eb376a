"""Which order of the Makefile's result targets lets ``make -j2 report`` finish first?

    python analysis/make_order.py PROFILE_MD [--all] [--scale S]

GNU make has no priorities: with two job slots it starts whatever it reaches first when
it walks the prerequisites of ``reports/output/index.html``, and the order of ``RESULTS``
decides that walk. This script replays ``make`` itself on a mock of the model part of the
Makefile (fits, summaries, attribute, report; the same dependencies, hard-coded below)
whose recipes sleep for the wall times a ``burden profile`` measured (its
``profile.md``: the cold and the warm run), scaled by S (default 0.004), and prints the
simulated wall time of the Makefile's current order and of the best others (``--all``:
every one of the 720 orders; otherwise a few). The mock is the second of the two makes
of ``make report`` without the processed tables, as if they were built (since d36cbe6 the
first make builds the deaths fit's tables and the second the others beside the deaths fit;
with every table built beside the fits make started the deaths fit late,
docs/performance.md, "Profile of d848555"). A mock is not the pipeline: step times change with what runs
beside them. ``CURRENT`` must be kept equal to the Makefile's ``RESULTS`` order by hand.
"""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STEPS = ("deaths", "production", "markets", "certified", "composition", "attribution")
CURRENT = ("deaths", "production", "composition", "attribution", "markets", "certified")
BEFORE = ("deaths", "production", "markets", "certified", "composition", "attribution")

#: the model part of the Makefile, each recipe sleeping for its step's time (a ``sleep``
#: macro the mock defines); ``{pre_<fit>}``: a fit's other prerequisites
#: (``analysis/make_variants.py`` adds the processed tables and order-only ones)
RULES = """\
m/deaths.nc: {pre_deaths} ; $(call sleep,{fit_deaths})
m/production.nc: {pre_production} ; $(call sleep,{fit_production})
m/markets.nc: m/production.nc {pre_markets} ; $(call sleep,{fit_markets})
m/certified.nc: {pre_certified} ; $(call sleep,{fit_certified})
m/composition.nc: {pre_composition} ; $(call sleep,{fit_composition})
m/deaths/manifest.json: m/deaths.nc ; $(call sleep,{summarise_deaths})
m/production/manifest.json: m/production.nc ; $(call sleep,{summarise_production})
m/markets/manifest.json: m/markets.nc ; $(call sleep,{summarise_markets})
m/certified/manifest.json: m/certified.nc ; $(call sleep,{summarise_certified})
m/composition/manifest.json: m/composition.nc ; $(call sleep,{summarise_composition})
m/attribution.nc: m/deaths.nc m/markets.nc m/composition.nc ; $(call sleep,{attribute})
m/attribution/manifest.json: m/attribution.nc m/deaths/manifest.json \\
    m/production/manifest.json m/markets/manifest.json m/composition/manifest.json
\t$(call sleep,{summarise_attribution})
"""
#: no other prerequisites (the processed tables are built)
NO_EXTRA = {f"pre_{fit}": "" for fit in STEPS if fit != "attribution"}

MOCK = """\
S := {scale}
sleep = @sleep $(shell echo "$(1) * $(S)" | bc -l); mkdir -p $(dir $@); touch $@
""" + RULES + """\
m/index.html: {results} ; $(call sleep,{report})
"""


def step_times(profile: Path) -> dict[str, dict[str, float]]:
    """{run: {step key: wall seconds}} from the steps table of a ``profile.md``."""
    out: dict[str, dict[str, float]] = {}
    for line in profile.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 6 or cells[0] not in ("cold", "warm"):
            continue
        step, wall = cells[1], cells[4]
        match = re.fullmatch(r"(fit|summarise) (\w+)( --no-summary)?|(attribute|report)", step)
        if match and re.fullmatch(r"[\d.]+", wall):
            key = match.group(4) or f"{match.group(1)}_{match.group(2)}"
            out.setdefault(cells[0], {})[key] = float(wall)
    return out


def simulate(times: dict[str, float], order: tuple[str, ...], scale: float) -> float:
    """Simulated wall seconds of ``make -j2`` with ``RESULTS`` in ``order``."""
    results = " ".join(f"m/{name}/manifest.json" for name in order)
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "Makefile").write_text(MOCK.format(scale=scale, results=results,
                                                     **NO_EXTRA, **times))
        start = time.perf_counter()
        subprocess.run(["make", "-s", "-j2", "m/index.html"], cwd=tmp, check=True,
                       capture_output=True)
        return (time.perf_counter() - start) / scale


def profile_args(argv: list[str], default_scale: float, usage: str
                 ) -> tuple[dict[str, dict[str, float]], float]:
    """The step times of the profile named first in ``argv`` and ``--scale``."""
    if not argv or argv[0].startswith("-"):
        raise SystemExit(usage)
    scale = float(argv[argv.index("--scale") + 1]) if "--scale" in argv else default_scale
    runs = step_times(Path(argv[0]))
    if not runs:
        raise SystemExit(f"{argv[0]}: no cold or warm step rows found")
    return runs, scale


def main(argv: list[str]) -> None:
    runs, scale = profile_args(argv, 0.004, __doc__)
    orders = (list(itertools.permutations(STEPS)) if "--all" in argv
              else [BEFORE, CURRENT, tuple(reversed(STEPS))])
    for run, times in runs.items():
        simulated = sorted((simulate(times, o, scale), o) for o in orders)
        print(f"\n{run} run of {argv[0]}: simulated make -j2 wall time (s) by RESULTS order")
        print("| order | wall (s) |\n|---|---|")
        shown = simulated[:5] + [s for s in simulated[5:] if s[1] in (BEFORE, CURRENT)]
        for wall, order in shown:
            mark = (" (the Makefile's)" if order == CURRENT
                    else " (before 2026-12-01 evening)" if order == BEFORE else "")
            print(f"| {' '.join(order)}{mark} | {wall:.0f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
