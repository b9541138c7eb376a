"""Time drawing the report's figures in this process against forked workers
(``burden.report.figures.render_figures(..., workers=N)``), on the saved models, and check
that both write the same data twins.

    python analysis/report_figure_workers.py [WORKERS ...]

Default: 1 then 2 workers, each into its own temporary folder, in turn, twice (the first
pass also warms the imports and file cache). Needs ``make models``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from burden import config
from burden.report.choices import ReportOptions
from burden.report.collect import collect_inputs
from burden.report.figures import render_figures


def main(counts: list[int]) -> None:
    inp = collect_inputs(config.models_dir(), config.processed_dir(), raw_dir=config.raw_dir(),
                         backtest=config.models_dir() / "deaths_backtest.csv")
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load {os.getloadavg()[0]:.2f}, "
          f"{os.cpu_count()} cores")
    print("| pass | workers | figures | seconds |")
    print("|---|---|---|---|")
    twins: dict[int, dict[str, str]] = {}
    for rep in (1, 2):
        for n in counts:
            with tempfile.TemporaryDirectory() as tmp:
                start = time.perf_counter()
                results = render_figures(inp, ReportOptions(), Path(tmp), workers=n)
                seconds = time.perf_counter() - start
                drawn = [r for r in results if r.csv]
                twins[n] = {r.id: (Path(tmp) / r.csv).read_text() for r in drawn}
            print(f"| {rep} | {n} | {len(drawn)} | {seconds:.1f} |", flush=True)
    first = twins[counts[0]]
    for n in counts[1:]:
        differ = [k for k in first if twins[n].get(k) != first[k]]
        print(f"data twins with {n} workers equal to {counts[0]}'s: "
              + ("yes" if not differ else f"NO ({', '.join(differ)})"))


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [1, 2])
