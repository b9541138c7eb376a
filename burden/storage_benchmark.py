"""Size, save and load time of saved fits, and whether their result tables change:
``burden storage-benchmark --old DIR --new DIR`` (a benchmark, not a test).

For every fit in ``DIR_old`` (``models/<fit>.nc``, any format this package reads), in
order: load it and save it again (the compact format, ``burden.models.storage``) into
``DIR_new``; then ``burden attribute`` on ``DIR_new``. Each save, load and summarise runs in
its own Python process (cold: imports, no cached model), so a load time is what a fresh
``burden summarise`` pays. A load is timed to the first use of the posterior (a compact
file's Deterministics are recomputed then); ``import`` is the time to import the package
and PyMC before it. Then ``burden summarise`` on both folders (unless ``--no-summaries``)
and every result table compared cell by cell: identical columns and rows, the largest
relative difference of a number, and how many numbers read differently at the 3
significant figures the report shows them with (``burden.report.build._records``).

Prints a Markdown table with the date and the load average (record it in
docs/performance.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

ORDER = ("production", "markets", "certified", "composition", "deaths")
#: the report's number format (burden/report/build.py, ``_records``)
PUBLISHED_FORMAT = "{:.3g}"


def _child(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one ``RESULT {json}`` line."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    wall = time.perf_counter() - start
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not lines:
        raise RuntimeError(f"child failed:\n{code}\n{proc.stderr[-3000:]}")
    out = json.loads(lines[-1][len("RESULT "):])
    out["process_s"] = wall
    return out


_LOAD = """
import time, json, warnings
warnings.simplefilter("ignore")
t0 = time.perf_counter()
import pymc, burden.fits
t1 = time.perf_counter()
from pathlib import Path
est = burden.fits.load_fit({name!r}, Path({folder!r}))
est.posterior
t2 = time.perf_counter()
print("RESULT " + json.dumps({{"import_s": t1 - t0, "load_s": t2 - t1}}))
"""

_SAVE = """
import time, json, warnings
warnings.simplefilter("ignore")
from pathlib import Path
import burden.fits
est = burden.fits.load_fit({name!r}, Path({old!r}))
est.posterior
t = time.perf_counter()
est.save(Path({new!r}) / {file!r})
print("RESULT " + json.dumps({{"save_s": time.perf_counter() - t}}))
"""

_READ_ATTRIBUTION = """
import time, json, warnings
warnings.simplefilter("ignore")
t0 = time.perf_counter()
import pymc, burden.attribution
t1 = time.perf_counter()
from pathlib import Path
burden.attribution.read_attribution(Path({path!r}))
print("RESULT " + json.dumps({{"import_s": t1 - t0,
                               "load_s": time.perf_counter() - t1}}))
"""

_ATTRIBUTE = """
import time, json, warnings
warnings.simplefilter("ignore")
from pathlib import Path
import burden.attribution
t = time.perf_counter()
burden.attribution.attribute_from_saved(Path({new!r}))
print("RESULT " + json.dumps({{"save_s": time.perf_counter() - t}}))
"""

_SUMMARISE = """
import time, json, warnings
warnings.simplefilter("ignore")
from pathlib import Path
import burden.summarise
t = time.perf_counter()
burden.summarise.summarise({name!r}, Path({folder!r}))
print("RESULT " + json.dumps({{"summarise_s": time.perf_counter() - t}}))
"""


def compare_tables(old: Path, new: Path) -> dict:
    """Every CSV of ``old`` against the one of the same name in ``new``: identical shape,
    columns and text cells; the largest relative difference of a number (relative to
    max(|old|, 1e-12)) and the count of numbers whose 3-significant-figure text differs."""
    worst, flips, cells, problems = 0.0, 0, 0, []
    worst_where = ""
    for path in sorted(old.glob("*.csv")):
        other = new / path.name
        if not other.exists():
            problems.append(f"{path.name} missing")
            continue
        a, b = pd.read_csv(path), pd.read_csv(other)
        if list(a.columns) != list(b.columns) or a.shape != b.shape:
            problems.append(f"{path.name}: shape {a.shape} vs {b.shape}")
            continue
        for col in a.columns:
            if pd.api.types.is_float_dtype(a[col]) or pd.api.types.is_float_dtype(b[col]):
                x = a[col].to_numpy(dtype=float)
                y = b[col].to_numpy(dtype=float)
                same_nan = np.isnan(x) == np.isnan(y)
                if not same_nan.all():
                    problems.append(f"{path.name}:{col}: missing values differ")
                    continue
                ok = ~np.isnan(x)
                rel = np.abs(x[ok] - y[ok]) / np.maximum(np.abs(x[ok]), 1e-12)
                cells += int(ok.sum())
                if rel.size and rel.max() > worst:
                    worst = float(rel.max())
                    worst_where = f"{path.name}:{col}"
                flips += int(sum(PUBLISHED_FORMAT.format(u) != PUBLISHED_FORMAT.format(v)
                                 for u, v in zip(x[ok], y[ok], strict=True)))
            elif not a[col].astype(str).equals(b[col].astype(str)):
                problems.append(f"{path.name}:{col}: text or integers differ")
    return {"max_rel_diff": worst, "worst": worst_where, "published_differences": flips,
            "numbers": cells, "problems": problems}


def run(old: Path, new: Path, names: list[str] | None = None,
        summaries: bool = True) -> list[dict]:
    """Benchmark every fit of ``names`` (default: all, then attribution); prints the
    Markdown table and returns its rows."""
    new.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    print(f"storage benchmark {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} "
          f"CPUs, load average at start {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}")
    rows = []
    for name in names or [*ORDER, "attribution"]:
        file = f"{name}.nc"
        row: dict = {"fit": name, "before_mb": (old / file).stat().st_size / 1e6}
        if name == "attribution":
            saved = _child(_ATTRIBUTE.format(new=str(new)))
            before = _child(_READ_ATTRIBUTION.format(path=str(old / file)))
            after = _child(_READ_ATTRIBUTION.format(path=str(new / file)))
        else:
            saved = _child(_SAVE.format(name=name, old=str(old), new=str(new), file=file))
            before = _child(_LOAD.format(name=name, folder=str(old)))
            after = _child(_LOAD.format(name=name, folder=str(new)))
        row.update(after_mb=(new / file).stat().st_size / 1e6, save_s=saved["save_s"],
                   load_before_s=before["load_s"], load_after_s=after["load_s"],
                   import_s=after["import_s"])
        if summaries:
            for folder in (old, new):
                _child(_SUMMARISE.format(name=name, folder=str(folder)))
            row.update(compare_tables(old / name, new / name))
        row["load_avg"] = os.getloadavg()[0]
        print(f"done {name} {datetime.now(UTC):%H:%M} UTC: {json.dumps(row, default=str)}",
              file=sys.stderr)
        rows.append(row)
    print("| fit | before MB | after MB | save s | load before s | load after s | "
          "import s | max rel. diff (where) | numbers | differ at 3 s.f. | problems | "
          "load avg |")
    print("|---" * 12 + "|")
    for r in rows:
        diff = (f"{r['max_rel_diff']:.2g} ({r['worst']})" if "max_rel_diff" in r else "-")
        print(f"| {r['fit']} | {r['before_mb']:.1f} | {r['after_mb']:.1f} | "
              f"{r['save_s']:.1f} | {r['load_before_s']:.1f} | {r['load_after_s']:.1f} | "
              f"{r['import_s']:.1f} | {diff} | {r.get('numbers', '-')} | "
              f"{r.get('published_differences', '-')} | "
              f"{'; '.join(r.get('problems', [])) or 'none'} | {r['load_avg']:.1f} |")
    return rows
