"""Profile of ``make report``: wall time and CPU use of every step, cold and warm.

``burden profile`` (``make profile``) runs ``make clean`` and then ``make report`` twice in
this project folder: first with an empty PyTensor/numba compile cache (cold, as on a fresh
clone), then again from clean with the cache the first run filled (warm). Every recipe
command make runs goes through a timing shell (``python -m burden.profile --shell``, passed
as ``make SHELL=...``), which records its wall time and the CPU time (user + system) of it
and its children. The shell imports no pandas (it did until 2026-12-05: 0.37 s of start
per recipe command, none of it in the recorded times but all of it in make's, about 3 s
on the warm run's critical path; 0.04 s now). For fits, the compile and sampling seconds
come from the saved fit's own timings. The table is printed and written to ``reports/profile/profile.csv`` and
``profile.md`` with the date, the machine's cores and its load average before each run.

Destructive by design: it deletes ``data/processed``, the fits with their result tables
and ``reports/output`` first (``make clean``), exactly what a fresh clone lacks. Raw files
stay, and so do the validation outputs ``make clean`` keeps (SBC runs, back-tests): the
report reads them when present, so they are moved aside while the report is timed (as on
a fresh clone, like the profiles before) and put back after. Run it in a clone you do not
mind rebuilding.
"""

from __future__ import annotations

import json
import math
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from burden import config

if TYPE_CHECKING:
    import pandas as pd

#: environment variable naming the file the timing shell appends its records to
LOG_ENV = "BURDEN_PROFILE_LOG"
COLUMNS = ["run", "step", "command", "start_s", "end_s", "wall_s", "cpu_s", "sys_s",
           "cpu_pct", "peak_mb", "compile_s", "sample_s"]


def _step_name(command: str) -> str:
    """A short name for a recipe command (``fit deaths``, ``data --table population``)."""
    words = shlex.split(command) if command.strip() else []
    for i, word in enumerate(words):
        if word.endswith("/burden") or word == "burden":
            return " ".join(words[i + 1:i + 4]) or "burden"
    if any(w.endswith("pip") for w in words) or "venv" in words:
        return "environment"
    return (words[0] if words else "") + (" ..." if len(words) > 1 else "")


def timing_shell(argv: list[str]) -> int:
    """Run ``argv`` (``-c COMMAND`` from make) in bash; append its timings to the log."""
    command = argv[-1] if argv else ""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.time()  # the clock all of make's steps share, for their schedule
    start = time.perf_counter()
    code = subprocess.call(["/bin/bash", *argv])
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # this shell runs one step: the largest resident set of any of its processes (kB)
    peak_mb = after.ru_maxrss / 1024
    log = os.environ.get(LOG_ENV)
    first = command.split()[0] if command.split() else ""
    # echo lines are not steps; a recursive make's time is the sum of its own steps
    if log and first and first not in ("echo", ":") and Path(first).name != "make":
        with open(log, "a") as f:
            f.write(json.dumps({"command": command.strip(), "step": _step_name(command),
                                "started": started, "wall_s": wall, "cpu_s": cpu,
                                "sys_s": after.ru_stime - before.ru_stime,
                                "peak_mb": peak_mb, "exit": code}) + "\n")
    return code


def _fit_timings(models_dir: Path, step: str) -> tuple[float, float]:
    """(compile_s, sample_s) of ``fit NAME`` from the saved fit's manifest, else NaN."""
    words = step.split()
    if len(words) < 2 or words[0] != "fit":
        return float("nan"), float("nan")
    manifest = models_dir / words[1] / "manifest.json"
    try:
        timings = json.loads(manifest.read_text())["provenance"]["timings"]
        if isinstance(timings, str):
            timings = json.loads(timings)
        return float(timings.get("compile_s", "nan")), float(timings.get("sample_s", "nan"))
    except (OSError, KeyError, ValueError, TypeError):
        return float("nan"), float("nan")


#: the validation outputs in models/ that `make clean` keeps (the Makefile's
#: VALIDATION_OUTPUTS, deleted by `make clean-validation`); the report shows them when present
VALIDATION_OUTPUTS = ("sbc", "*_backtest*", "deaths_rounds*")
#: where they wait, in the project folder, while the report is timed
SET_ASIDE = ".profile-validation-set-aside"


@contextmanager
def validation_set_aside(root: Path) -> Iterator[list[Path]]:
    """Move the validation outputs out of ``root/models`` for the duration; put them back
    after, whatever happens (a failed run too). Yields the paths moved."""
    models, aside = root / "models", root / SET_ASIDE
    if aside.exists() and any(aside.iterdir()):
        raise RuntimeError(f"{aside} holds validation outputs set aside by an earlier "
                           f"profile that did not finish: move them back to {models}")
    moved = sorted({p for pattern in VALIDATION_OUTPUTS for p in models.glob(pattern)})
    aside.mkdir(exist_ok=True)
    for path in moved:
        path.rename(aside / path.name)
    if moved:
        print(f"validation outputs set aside in {aside} while the report is timed: "
              + ", ".join(p.name for p in moved), flush=True)
    try:
        yield moved
    finally:
        for path in moved:
            (aside / path.name).rename(path)
        aside.rmdir()


def run_make(run: str, env: dict[str, str], root: Path, jobs: int) -> tuple[pd.DataFrame, dict]:
    """``make clean`` then ``make report`` under the timing shell; one row per command."""
    import pandas as pd

    subprocess.run(["make", "-s", "clean"], cwd=root, check=True, env=env)
    log = Path(tempfile.mkstemp(prefix=f"profile-{run}-", suffix=".jsonl")[1])
    # make runs SHELL as one program: a wrapper script around the timing shell
    shell = log.with_suffix(".sh")
    shell.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m burden.profile "
                     f"--shell \"$@\"\n")
    shell.chmod(0o755)
    load = os.getloadavg()[0]
    began = time.time()
    start = time.perf_counter()
    proc = subprocess.run(["make", f"-j{jobs}", "report", f"JOBS={jobs}", f"SHELL={shell}"],
                          cwd=root,
                          env={**env, LOG_ENV: str(log)}, check=False)
    total = time.perf_counter() - start
    if proc.returncode:
        raise RuntimeError(f"make report ({run}) failed with exit {proc.returncode}")
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    log.unlink()
    shell.unlink()
    frame = pd.DataFrame(rows, columns=["command", "step", "started", "wall_s", "cpu_s",
                                        "sys_s", "peak_mb", "exit"])
    # when each step ran, from make's start: the schedule of the two cores and its
    # critical path (a step's end is its start plus its wall time)
    frame["start_s"] = frame["started"] - began
    frame["end_s"] = frame["start_s"] + frame["wall_s"]
    frame = frame.sort_values("start_s", kind="stable").reset_index(drop=True)
    models_dir = root / "models"
    timings = [_fit_timings(models_dir, s) for s in frame["step"]]
    frame["compile_s"] = [t[0] for t in timings]
    frame["sample_s"] = [t[1] for t in timings]
    frame["run"] = run
    frame["cpu_pct"] = 100 * frame["cpu_s"] / frame["wall_s"]
    meta = {"run": run, "wall_s": total, "load_before": load, "jobs": jobs,
            "cpu_s": float(frame["cpu_s"].sum()), "sys_s": float(frame["sys_s"].sum())}
    return frame[COLUMNS], meta


def profile(root: Path | None = None, jobs: int = 1, runs: tuple[str, ...] = ("cold", "warm"),
            cache: Path | None = None) -> pd.DataFrame:
    """Cold then warm ``make report`` from clean; writes and returns the table.

    ``cache``: the compile cache folder to use and keep (created when missing), so that
    warm runs can be repeated (``runs=("warm",)``) against the cache an earlier run
    filled; by default a new empty folder, so the first run is cold. A run named "cold"
    needs an empty cache."""
    import pandas as pd

    root = root or config.project_root()
    if runs[:1] == ("warm",) and (cache is None or not Path(cache).is_dir()
                                  or not any(Path(cache).iterdir())):
        # measured 2026-12-05: `--runs warm` alone compiled everything and was labelled warm
        raise ValueError("a first run named warm needs --cache naming the compile cache an "
                         "earlier run filled (without it the cache is new and empty: a cold "
                         "run)")
    if cache is None:
        cache = Path(tempfile.mkdtemp(prefix="burden-profile-cache-"))
    else:
        cache = Path(cache).resolve()
        cache.mkdir(parents=True, exist_ok=True)
        if "cold" in runs[:1] and any(cache.iterdir()):
            raise ValueError(f"--cache {cache} is not empty: a cold run needs an empty "
                             "compile cache")
    print(f"compile cache: {cache}", flush=True)
    env = {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={cache}",
           "NUMBA_CACHE_DIR": str(cache / "numba_own")}
    frames, metas = [], []
    with validation_set_aside(root):
        for run in runs:
            frame, meta = run_make(run, env, root, jobs)
            frames.append(frame)
            metas.append(meta)
            print(f"{run}: make report {meta['wall_s']:.0f} s wall, {meta['cpu_s']:.0f} s "
                  f"CPU (load before {meta['load_before']:.1f})", flush=True)
    table = pd.concat(frames, ignore_index=True)
    out = root / "reports" / "profile"
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "profile.csv", index=False)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"# make report profile, {stamp}", "",
             (f"`burden profile --jobs {jobs} --runs {','.join(runs)}` on {os.cpu_count()} "
              "cores; compile cache empty before a cold run, kept for a warm one; `make "
              "clean` before each."),
             "", ("CPU is user + system time (system: the kernel's work for the step, such "
                  "as zeroing memory it touches first); peak is the step's largest resident "
                  "set."),
             "", ("| run | make report wall (s) | CPU (s) | of it system (s) | CPU % | "
                  "load before |"),
             "|---|---|---|---|---|---|"]
    for m in metas:
        lines.append(f"| {m['run']} | {m['wall_s']:.0f} | {m['cpu_s']:.0f} | "
                     f"{m['sys_s']:.0f} | {100 * m['cpu_s'] / m['wall_s']:.0f} | "
                     f"{m['load_before']:.2f} |")
    lines += ["", "Steps in the order they started; start and end in seconds from make's start.",
              "", ("| run | step | start | end | wall (s) | CPU (s) | system (s) | CPU % | "
                   "peak (MB) | compile (s) | sampling (s) |"),
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        lines.append(f"| {r.run} | {r.step} | {r.start_s:.0f} | {r.end_s:.0f} | "
                     f"{r.wall_s:.1f} | {r.cpu_s:.1f} | {r.sys_s:.1f} | {r.cpu_pct:.0f} | "
                     f"{r.peak_mb:.0f} | {_fmt(r.compile_s)} | {_fmt(r.sample_s)} |")
    (out / "profile.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return table


def _fmt(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.1f}"


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--shell":
        sys.exit(timing_shell(sys.argv[2:]))
    sys.exit("usage: burden profile (this module's --shell is make's timing shell)")
