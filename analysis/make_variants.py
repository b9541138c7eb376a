"""Would an order-only prerequisite in ``make report`` help? Replays both of its makes on a
mock (the deaths fit's tables first; then the deaths fit, the other tables and the report as
goals) whose recipes sleep for the wall times of a ``burden profile`` (``profile.md``),
scaled by S (default 0.03: at 0.01 the recipes' own overhead added seconds), for the
Makefile as it is and for the certified fit held back until another target is built (its
slot then goes to the deaths summary or the markets fit first).

    python analysis/make_variants.py PROFILE_MD [--scale S]

Prints, per run (cold, warm) and variant, the simulated wall time of ``make -j2`` and the
schedule (step: start-end, seconds). The other tables are one step of 12 s here (about
what they took in the profiles of 2026-12-02). A mock is not the pipeline: step times
change with what runs beside them (``analysis/make_order.py`` replays other orders of
``RESULTS`` the same way).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_order import RULES, profile_args

#: the certified fit waits for nothing (the Makefile), or for these targets (order-only)
VARIANTS = ("", "| m/markets.nc", "| m/deaths/manifest.json", "| m/composition.nc")
TABLES_S = 12.0

MOCK = """\
S := {scale}
sleep = @echo "$@ start $$(date +%s.%N)" >> log; sleep $(shell echo "$(1) * $(S)" | bc -l); \
mkdir -p $(dir $@); touch $@; echo "$@ end $$(date +%s.%N)" >> log
t/rest: ; $(call sleep,{tables})
""" + RULES + """\
RESULTS := m/deaths/manifest.json m/production/manifest.json m/composition/manifest.json \\
    m/attribution/manifest.json m/markets/manifest.json m/certified/manifest.json
m/index.html: $(RESULTS) t/rest ; $(call sleep,{report})
"""


def simulate(times: dict[str, float], extra: str, scale: float
             ) -> tuple[float, list[tuple[int, int, str]]]:
    """Simulated wall seconds and schedule of the second make of ``make report``."""
    with tempfile.TemporaryDirectory() as tmp:
        extras = {"pre_deaths": "", "pre_markets": "", "pre_production": "t/rest",
                  "pre_composition": "t/rest", "pre_certified": f"t/rest {extra}"}
        Path(tmp, "Makefile").write_text(MOCK.format(scale=scale, tables=TABLES_S,
                                                     **extras, **times))
        start = time.time()
        subprocess.run(["make", "-s", "-j2", "m/deaths.nc", "t/rest", "m/index.html"],
                       cwd=tmp, check=True, capture_output=True)
        wall = (time.time() - start) / scale
        began, schedule = {}, []
        for line in Path(tmp, "log").read_text().splitlines():
            target, what, stamp = line.split()
            if what == "start":
                began[target] = float(stamp)
            else:
                schedule.append((round((began[target] - start) / scale),
                                 round((float(stamp) - start) / scale), target))
        return wall, sorted(schedule)


def main(argv: list[str]) -> None:
    runs, scale = profile_args(argv, 0.03, __doc__)
    for run, times in runs.items():
        print(f"\n{run} run of {argv[0]}: simulated make -j2 wall time (s)")
        print("| certified fit waits for | wall (s) | schedule |\n|---|---|---|")
        for extra in VARIANTS:
            wall, schedule = simulate(times, extra, scale)
            steps = ", ".join(f"{t.removeprefix('m/').removeprefix('t/')} {a}-{b}"
                              for a, b, t in schedule)
            print(f"| {extra.removeprefix('| ') or 'nothing (the Makefile)'} | {wall:.0f} | "
                  f"{steps} |")


if __name__ == "__main__":
    main(sys.argv[1:])
