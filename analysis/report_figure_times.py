"""Time each of the report's figures on the saved models, one at a time in this process:
its data twin, the plot, the PNG and the SVG. The slowest are the ones
``burden.report.figures.DRAWN_FIRST`` hands to the workers first.

    python analysis/report_figure_times.py

Needs ``make models``. The figures are written to a temporary folder and discarded.
"""

from __future__ import annotations

import os
import tempfile
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

import matplotlib.pyplot as plt

from burden import config
from burden.report.choices import ReportOptions
from burden.report.collect import collect_inputs
from burden.report.figures import _missing_reason, figure_specs


def main() -> None:
    warnings.simplefilter("ignore")
    inp = collect_inputs(config.models_dir(), config.processed_dir(), raw_dir=config.raw_dir(),
                         backtest=config.models_dir() / "deaths_backtest.csv")
    opt = ReportOptions()
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load {os.getloadavg()[0]:.2f}, "
          f"{os.cpu_count()} cores")
    print("| figure | data (s) | plot (s) | PNG (s) | SVG (s) | total (s) |")
    print("|---|---|---|---|---|---|")
    total = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for spec in figure_specs(inp, opt):
            if _missing_reason(inp, spec.needs):
                continue
            t0 = time.perf_counter()
            data = spec.data()
            t1 = time.perf_counter()
            fig = spec.plot(data, **spec.plot_kwargs)
            t2 = time.perf_counter()
            fig.savefig(Path(tmp) / f"{spec.id}.png", dpi=opt.dpi)
            t3 = time.perf_counter()
            fig.savefig(Path(tmp) / f"{spec.id}.svg")
            t4 = time.perf_counter()
            plt.close(fig)
            total += t4 - t0
            print(f"| {spec.id} | {t1 - t0:.2f} | {t2 - t1:.2f} | {t3 - t2:.2f} | "
                  f"{t4 - t3:.2f} | {t4 - t0:.2f} |")
    print(f"| all | | | | | {total:.2f} |")


if __name__ == "__main__":
    main()
