"""The make-report profiler (burden.profile): its timing shell and step names."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from burden import profile


@pytest.mark.parametrize(("command", "step"), [
    (".venv/bin/burden fit deaths", "fit deaths"),
    (".venv/bin/burden data --table population", "data --table population"),
    (".venv/bin/burden report", "report"),
    (".venv/bin/pip install --quiet -r requirements.lock", "environment"),
])
def test_step_names(command, step):
    assert profile._step_name(command) == step


def test_timing_shell_records_wall_and_cpu_and_keeps_the_exit_code(tmp_path):
    log = tmp_path / "log.jsonl"
    env = {profile.LOG_ENV: str(log), "PATH": "/usr/bin:/bin"}
    busy = f"{sys.executable} -c 'sum(i * i for i in range(3_000_000))'"
    ok = subprocess.run([sys.executable, "-m", "burden.profile", "--shell", "-c", busy],
                        env=env, check=False)
    bad = subprocess.run([sys.executable, "-m", "burden.profile", "--shell", "-c", "exit 3"],
                         env=env, check=False)
    # a recursive make is not a step (its steps are logged themselves)
    subprocess.run([sys.executable, "-m", "burden.profile", "--shell", "-c",
                    "make --version > /dev/null"], env=env, check=False)
    assert ok.returncode == 0 and bad.returncode == 3
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["exit"] for r in rows] == [0, 3]
    # start times on the shared clock: the second step started after the first ended
    assert rows[1]["started"] >= rows[0]["started"] + rows[0]["wall_s"]
    # the child's CPU time is counted (a busy loop: most of its wall time)
    assert rows[0]["cpu_s"] > 0.3 * rows[0]["wall_s"] > 0
    assert 0 <= rows[0]["sys_s"] <= rows[0]["cpu_s"]


def test_timing_shell_imports_nothing_heavy():
    """Every recipe command of a profiled make starts the timing shell: with pandas it
    cost 0.37 s a command, in make's time but in no step's (2026-12-05)."""
    from pathlib import Path

    root = Path(profile.__file__).parent.parent
    code = ("import runpy, sys; sys.argv = ['profile', '--shell', '-c', 'true']\n"
            "try:\n    runpy.run_module('burden.profile', run_name='__main__')\n"
            "except SystemExit as done:\n    assert done.code == 0, done.code\n"
            "print(sorted(m for m in ('pandas', 'numpy', 'xarray', 'pymc') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=root, env={"PATH": "/usr/bin:/bin",
                                                    "PYTHONPATH": str(root)})
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_timing_shell_records_the_peak_memory_of_the_step(tmp_path):
    log = tmp_path / "log.jsonl"
    env = {profile.LOG_ENV: str(log), "PATH": "/usr/bin:/bin"}
    for megabytes in (10, 300):  # a child touching this many MB
        grow = f"{sys.executable} -c 'b = bytearray({megabytes} * 2**20)'"
        subprocess.run([sys.executable, "-m", "burden.profile", "--shell", "-c", grow],
                       env=env, check=True)
    small, large = (json.loads(line)["peak_mb"] for line in log.read_text().splitlines())
    assert large >= 300 > small > 0


def test_fit_timings_come_from_the_fit_manifest(tmp_path):
    folder = tmp_path / "deaths"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps(
        {"provenance": {"timings": {"compile_s": 39.5, "sample_s": 160.9}}}))
    assert profile._fit_timings(tmp_path, "fit deaths") == (39.5, 160.9)
    assert all(math.isnan(t) for t in profile._fit_timings(tmp_path, "summarise deaths"))


def test_a_cold_run_refuses_a_compile_cache_that_is_not_empty(tmp_path):
    """``--cache`` keeps a cache for repeated warm runs; a cold run in it would be warm."""
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "compiled").write_text("x")
    with pytest.raises(ValueError, match="not empty"):
        profile.profile(root=tmp_path, runs=("cold", "warm"), cache=cache)


@pytest.mark.parametrize("make_cache", ["none", "missing", "empty"])
def test_a_first_warm_run_refuses_an_empty_compile_cache(tmp_path, make_cache):
    """``--runs warm`` without a filled ``--cache`` would compile everything and call it
    warm (it did, 2026-12-05)."""
    cache = None if make_cache == "none" else tmp_path / "cache"
    if make_cache == "empty":
        cache.mkdir()
    with pytest.raises(ValueError, match="needs --cache"):
        profile.profile(root=tmp_path, runs=("warm",), cache=cache)
