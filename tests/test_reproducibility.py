"""The same seed gives the same draws whether PyTensor's compile cache is empty or warm, and
at Numba's default optimisation level (3) or the package's (``config.NUMBA_OPT_DEFAULT``).

Each fit runs in its own process (PyTensor reads its compile folder once, at import): the
first with an empty compile folder (the fresh-clone case: everything is compiled), the second
with the folder the first one filled (everything is loaded from the cache). With Numba's
fastmath on, these two gave other draws from the first draw on (docs/architecture.md,
"Reproducibility").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from burden import cli, config

ROOT = Path(__file__).resolve().parents[1]

#: The production model on the packaged published figures, a small sampler: a cold compile
#: takes a few minutes on a 2-core machine.
FIT_SCRIPT = """
import sys, warnings
import numpy as np
from burden.data.cleaning import CleaningLog
from burden.data.loaders import reference
from burden.models.production import OpiumProduction
from burden.registry import published

src = published.REFERENCE_SOURCES["reference_opium_production"]
table = reference.load(src.path, CleaningLog(src.id, src.filename), src.id)
est = OpiumProduction(sampler_config={"draws": 30, "tune": 30, "chains": 2,
                                      "random_seed": 5})
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # a 30-draw fit does not converge; not the point here
    est.fit({"production_measurements": table}, progressbar=False)
post = est.posterior
np.savez(sys.argv[1], **{name: post[name].values for name in post.data_vars})
"""


def _fit_in_subprocess(out: Path, compiledir: Path, numba_opt: str | None = None
                       ) -> dict[str, np.ndarray]:
    """Draws of the fit in a new process; ``numba_opt=None``: the command line's level."""
    env = {**os.environ, "PYTHONPATH": str(ROOT),
           "PYTENSOR_FLAGS": f"base_compiledir={compiledir}",
           "NUMBA_CACHE_DIR": str(compiledir / "numba_own"),
           "NUMBA_OPT": numba_opt or config.NUMBA_OPT_DEFAULT}
    done = subprocess.run([sys.executable, "-c", FIT_SCRIPT, str(out)], check=False, env=env,
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    with np.load(out) as saved:
        return {name: saved[name] for name in saved.files}


@pytest.mark.slow
@pytest.mark.validation
def test_draws_identical_with_cold_and_warm_compile_cache(tmp_path):
    compiledir = tmp_path / "pytensor"
    cold = _fit_in_subprocess(tmp_path / "cold.npz", compiledir)
    assert any((compiledir / "numba").iterdir()), "the cold run cached nothing"
    warm = _fit_in_subprocess(tmp_path / "warm.npz", compiledir)
    assert cold.keys() == warm.keys()
    differing = [name for name in cold if not np.array_equal(cold[name], warm[name])]
    assert not differing, f"cold and warm draws differ in {differing}"


@pytest.mark.slow
@pytest.mark.validation
def test_draws_identical_at_numba_default_optimisation_level(tmp_path):
    """The package compiles at NUMBA_OPT=1 for a shorter cold compile; with fastmath off the
    level must not change a draw. Each level compiles from its own empty cache."""
    ours = _fit_in_subprocess(tmp_path / "ours.npz", tmp_path / "cache_ours")
    numba_default = _fit_in_subprocess(tmp_path / "opt3.npz", tmp_path / "cache_opt3", "3")
    differing = [name for name in ours if not np.array_equal(ours[name], numba_default[name])]
    assert not differing, f"draws at NUMBA_OPT=3 and the package's level differ in {differing}"


def test_the_command_line_sets_numba_opt_unless_the_environment_does(monkeypatch, capsys):
    monkeypatch.delenv("NUMBA_OPT", raising=False)
    assert cli.main(["priors", "certified"]) == 0
    assert os.environ["NUMBA_OPT"] == config.NUMBA_OPT_DEFAULT == "1"
    monkeypatch.setenv("NUMBA_OPT", "2")
    assert cli.main(["priors", "certified"]) == 0
    assert os.environ["NUMBA_OPT"] == "2"
    assert "|" in capsys.readouterr().out  # the priors table was printed


@pytest.mark.parametrize(("machine", "flags", "preset", "expected", "vendor"), [
    ("x86_64", "fpu sse2 avx avx2 fma bmi2", None, config.OPENBLAS_KERNEL_DEFAULT, None),
    ("AMD64", "fpu sse2 avx avx2 fma", None, config.OPENBLAS_KERNEL_DEFAULT, None),
    ("x86_64", "fpu sse2 avx avx2", None, None, None),  # no FMA: Haswell's kernel would not run
    ("x86_64", None, None, None, None),  # no /proc/cpuinfo (macOS, Windows): OpenBLAS chooses
    ("arm64", "fp asimd", None, None, None),  # other kernel names on ARM
    ("x86_64", "fpu sse2 avx avx2 fma", "Sandybridge", "Sandybridge", None),  # the user's choice
    # AMD with AVX-512 (Zen 4, 5): forcing Haswell crashes numpy's OpenBLAS 0.3.34 on large
    # products (config.OPENBLAS_KERNEL_UNSAFE_ON); Intel with AVX-512 and AMD without run it
    ("x86_64", "fpu avx2 fma avx512f", None, None, "AuthenticAMD"),
    ("x86_64", "fpu avx2 fma avx512f", None, config.OPENBLAS_KERNEL_DEFAULT, "GenuineIntel"),
    ("x86_64", "fpu avx2 fma", None, config.OPENBLAS_KERNEL_DEFAULT, "AuthenticAMD"),
    ("x86_64", "fpu avx2 fma avx512f", "Haswell", "Haswell", "AuthenticAMD"),  # the user's
])
def test_openblas_kernel_is_pinned_only_where_the_cpu_runs_it(tmp_path, monkeypatch, machine,
                                                              flags, preset, expected,
                                                              vendor):
    cpuinfo = _a_machine(tmp_path, monkeypatch, machine, flags, "OPENBLAS_CORETYPE", preset,
                         vendor)
    assert config.use_openblas_kernel_default(cpuinfo) == expected
    assert os.environ.get("OPENBLAS_CORETYPE") == expected


def _a_machine(tmp_path, monkeypatch, machine, flags, variable, preset, vendor=None):
    """A CPU of architecture ``machine`` with ``flags`` (None: no /proc/cpuinfo) from
    ``vendor`` (None: no vendor line), and ``variable`` set to ``preset`` (None: unset);
    returns the cpuinfo path to pass."""
    import platform

    cpuinfo = tmp_path / "cpuinfo"
    if flags is not None:
        vendor_line = f"vendor_id\t: {vendor}\n" if vendor else ""
        cpuinfo.write_text(f"processor\t: 0\n{vendor_line}model name\t: a CPU\n"
                           f"flags\t\t: {flags}\n")
    monkeypatch.setattr(platform, "machine", lambda: machine)
    if preset is None:
        monkeypatch.delenv(variable, raising=False)
    else:
        monkeypatch.setenv(variable, preset)
    return cpuinfo


@pytest.mark.parametrize(("machine", "flags", "preset", "expected"), [
    ("x86_64", "fpu avx2 fma avx512f avx512bw", None, config.NUMPY_DISABLED_SIMD),
    ("AMD64", "fpu avx2 fma avx512f", None, config.NUMPY_DISABLED_SIMD),
    ("x86_64", "fpu sse2 avx avx2 fma", None, None),  # no AVX-512: numpy has no such loops
    ("x86_64", None, None, None),  # no /proc/cpuinfo
    ("arm64", "fp asimd", None, None),
    ("x86_64", "fpu avx2 fma avx512f", "", ""),  # the user's choice: every loop
    ("x86_64", "fpu avx2 fma avx512f", "AVX512_SPR", "AVX512_SPR"),
])
def test_numpy_avx512_loops_are_left_out_only_where_the_cpu_has_them(
        tmp_path, monkeypatch, machine, flags, preset, expected):
    cpuinfo = _a_machine(tmp_path, monkeypatch, machine, flags, "NPY_DISABLE_CPU_FEATURES",
                         preset)
    assert config.use_numpy_simd_default(cpuinfo) == expected
    assert os.environ.get("NPY_DISABLE_CPU_FEATURES") == expected


def test_installed_numpy_knows_the_simd_targets_left_out():
    """numpy only warns (an ImportWarning, hidden by default) about a name it does not
    dispatch, and then keeps those loops: a numpy that renamed its targets would quietly
    undo the setting. Any x86-64 CPU can check the names (the dispatch list is numpy's
    build, not the CPU's); elsewhere the setting is never made."""
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("numpy's x86-64 targets")
    env = dict(os.environ, NPY_DISABLE_CPU_FEATURES=config.NUMPY_DISABLED_SIMD,
               PYTHONPATH=str(ROOT))
    script = ("import warnings; warnings.simplefilter('error', ImportWarning); import numpy; "
              "warnings.resetwarnings(); from burden.models.storage import numpy_simd_targets; "
              "print('SIMD', numpy_simd_targets())")
    done = subprocess.run([sys.executable, "-c", script],
                          env=env, check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    used = next(x for x in done.stdout.splitlines() if x.startswith("SIMD")).split()[1]
    assert not set(used.split(",")) & set(config.NUMPY_DISABLED_SIMD.split()), used


SIMD_SCRIPT = """
from burden import cli
assert cli.main(["priors", "certified"]) == 0
from burden.models.storage import compute_environment
print("SIMD", compute_environment()["numpy_simd"])
"""


@pytest.mark.skipif(not (config.NUMPY_DISABLED_SIMD_WHEN | config.OPENBLAS_KERNEL_NEEDS)
                    <= config.cpu_flags(), reason="the CPU has no AVX-512")
@pytest.mark.parametrize("preset", [None, ""])
def test_the_command_line_leaves_out_numpy_avx512_loops(preset):
    """A ``burden`` process runs numpy without its AVX-512 loops, and with them when the
    user sets the variable empty: the second case shows the variable reaches numpy."""
    env = {k: v for k, v in os.environ.items() if k != "NPY_DISABLE_CPU_FEATURES"}
    env["PYTHONPATH"] = str(ROOT)
    if preset is not None:
        env["NPY_DISABLE_CPU_FEATURES"] = preset
    done = subprocess.run([sys.executable, "-c", SIMD_SCRIPT], env=env, check=False,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    used = set(next(x for x in done.stdout.splitlines() if x.startswith("SIMD"))
               .split()[1].split(","))
    left_out = set(config.NUMPY_DISABLED_SIMD.split())
    assert bool(used & left_out) == (preset == ""), used


KERNEL_SCRIPT = """
import os
from burden import cli
assert cli.main(["priors", "certified"]) == 0
from burden.models.storage import compute_environment
print("KERNEL", os.environ.get("OPENBLAS_CORETYPE"), compute_environment()["openblas_kernels"])
"""


@pytest.mark.skipif(not (config.OPENBLAS_KERNEL_NEEDS <= config.cpu_flags()),
                    reason="the CPU cannot run the pinned OpenBLAS kernel")
@pytest.mark.parametrize("preset", [None, "Sandybridge"])
def test_the_command_line_runs_on_the_pinned_openblas_kernel(preset):
    """A ``burden`` process (here: ``cli.main`` before numpy is imported) loads OpenBLAS
    with the pinned kernel, or with the user's; the second case shows the variable reaches
    OpenBLAS, so the first does not pass only because this CPU's own choice is Haswell."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    env["PYTHONPATH"] = str(ROOT)
    if preset:
        env["OPENBLAS_CORETYPE"] = preset
    done = subprocess.run([sys.executable, "-c", KERNEL_SCRIPT], env=env, check=False,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("KERNEL"))
    wanted = preset or config.openblas_kernel_for()
    if wanted is None:  # a CPU where the kernel is not pinned: OpenBLAS's own choice
        assert line.split()[1] == "None", line
    else:
        assert line.split() == ["KERNEL", wanted, wanted], line


def test_this_test_process_computes_as_the_command_line():
    """The process running the tests has the OpenBLAS kernel and numpy loops that
    tests/conftest.py set (the command line's, or the user's when the environment sets
    them): numpy read them when it was imported."""
    from burden.models.storage import compute_environment

    env = compute_environment()
    kernel = os.environ.get("OPENBLAS_CORETYPE")
    if kernel:  # OpenBLAS reads the name in any case
        assert {k.lower() for k in env["openblas_kernels"].split(",")} == {kernel.lower()}, env
    left_out = set(os.environ.get("NPY_DISABLE_CPU_FEATURES", "").replace(",", " ").split())
    assert not set(env["numpy_simd"].split(",")) & left_out, env


#: the variables tests/conftest.py sets when the environment does not
PROCESS_SETTINGS = ("NUMBA_OPT", "OPENBLAS_CORETYPE", "NPY_DISABLE_CPU_FEATURES")


def _pytest_in_one_process(before: str = "") -> subprocess.CompletedProcess:
    """``test_this_test_process_computes_as_the_command_line`` in a new pytest process
    without pytest-xdist and without the process settings in its environment; ``before``:
    Python run before pytest starts."""
    env = {k: v for k, v in os.environ.items()
           if k not in PROCESS_SETTINGS and not k.startswith("PYTEST_")}
    test = f"{Path(__file__).name}::test_this_test_process_computes_as_the_command_line"
    code = (f"{before}\nimport sys, pytest\nsys.exit(pytest.main(['-q', '-p', 'no:xdist', "
            f"'-p', 'no:cacheprovider', {str(Path(__file__).parent / test)!r}]))")
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=False,
                          capture_output=True, text=True, timeout=300)


def test_a_one_process_test_run_computes_as_the_command_line():
    """``pytest`` without workers (``TEST_WORKERS=0``, one test file) has the command
    line's settings as ``make test``'s workers have them. zarr's pytest plugin imported
    numpy before tests/conftest.py set them, so such a run computed with this CPU's own
    kernel and loops: the market-share fit on the packaged figures then missed R-hat 1.01
    (1.0116; `pytest -p no:xdist tests/test_markets.py::test_real_signature_fit_mexico_main_us_source_by_2015`,
    2026-12-05 21:21 UTC), where `make test` passed."""
    done = _pytest_in_one_process()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_a_test_run_whose_numpy_came_first_stops_with_a_clear_error():
    """A process that imported numpy before tests/conftest.py (a plugin, or the caller)
    cannot get the settings any more: the run stops, naming the variables and the way out."""
    if not _process_settings()["set"]:
        pytest.skip("this CPU gets neither setting (no pinned kernel, no AVX-512)")
    done = _pytest_in_one_process(before="import numpy")
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout[-3000:]
    text = done.stdout + done.stderr
    assert "numpy was imported before tests/conftest.py" in text, text[-3000:]
    assert "-p no:NAME" in text


SETTINGS_SCRIPT = """
import json, os, warnings
{first}
from burden import config
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    late = config.use_process_defaults()
print("SETTINGS", json.dumps({{
    "late": late, "set": [n for n in config.NUMPY_PROCESS_SETTINGS if n in os.environ],
    "warned": [str(w.message) for w in caught if w.category is RuntimeWarning]}}))
"""


def _process_settings(first: str = "") -> dict:
    """``SETTINGS_SCRIPT`` in a new process without the process settings in its
    environment, ``first`` run before the package is imported: which settings
    ``use_process_defaults`` set (``set``), which too late (``late``), its warnings."""
    env = {k: v for k, v in os.environ.items() if k not in PROCESS_SETTINGS}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run([sys.executable, "-c", SETTINGS_SCRIPT.format(first=first)],
                          env=env, check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(next(x for x in done.stdout.splitlines()
                           if x.startswith("SETTINGS")).split(" ", 1)[1])


@pytest.mark.parametrize("numpy_first", [False, True])
def test_process_settings_made_after_numpy_loaded_are_named_and_warned_of(numpy_first):
    """``config.use_process_defaults`` after numpy was imported (a notebook, a script that
    imports numpy first) cannot change how numpy computes: it returns the settings it set
    too late and warns, where before numpy it sets them silently."""
    out = _process_settings("import numpy" if numpy_first else "")
    if not out["set"]:
        pytest.skip("this CPU gets neither setting (no pinned kernel, no AVX-512)")
    if numpy_first:
        assert out["late"] == out["set"], out
        assert len(out["warned"]) == 1 and "numpy was imported before" in out["warned"][0]
    else:
        assert out["late"] == [] and out["warned"] == [], out


LARGE_PRODUCT_SCRIPT = """
from burden import cli
assert cli.main(["priors", "certified"]) == 0
import numpy as np
x = np.random.default_rng(1).normal(size=(1000, 1000))
print("PRODUCT", float((x.T @ x)[0, 0] > 0))
"""


def test_a_process_with_the_command_lines_settings_survives_a_large_matrix_product():
    """On an AMD CPU with AVX-512 the pinned Haswell kernel made numpy's OpenBLAS (0.3.34)
    crash with a segmentation fault in any product of 1,000 x 1,000 matrices (OpenBLAS
    issue #6021; config.OPENBLAS_KERNEL_UNSAFE_ON). A ``burden`` process's settings must
    leave a large product running, on this CPU whatever it is."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_CORETYPE", "NPY_DISABLE_CPU_FEATURES")}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run([sys.executable, "-c", LARGE_PRODUCT_SCRIPT], env=env, check=False,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (done.returncode, done.stderr[-3000:])
    assert "PRODUCT 1.0" in done.stdout
