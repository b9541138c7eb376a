"""Project paths, in one place.

Every path the package reads or writes is derived here, so scripts, the Makefile and
tests agree. Environment variables override the defaults:

- ``BURDEN_ROOT``: the project folder (default: the checkout this package lives in, or
  the current directory for an installed package).
- ``BURDEN_DATA_MIRROR``: a folder holding the raw files; when set, they are copied from
  there (and hash-checked) instead of downloaded.
- ``NUMBA_OPT``: Numba's LLVM optimisation level. The command line (``burden``, so every
  make step and the SBC workers it starts) and the test suite use ``NUMBA_OPT_DEFAULT``
  when it is not set (``use_numba_opt_default``).
- ``OPENBLAS_CORETYPE``: OpenBLAS's kernel. The command line and the test suite pin
  ``OPENBLAS_KERNEL_DEFAULT`` when it is not set, where the CPU runs it and numpy's
  OpenBLAS does not crash with it (``use_openblas_kernel_default``;
  ``OPENBLAS_KERNEL_UNSAFE_ON``), so that a seed gives the same draws on other CPUs.
- ``NPY_DISABLE_CPU_FEATURES``: numpy's SIMD loops left out. On CPUs with AVX-512 the
  command line and the test suite leave out numpy's AVX-512 loops when it is not set
  (``use_numpy_simd_default``), for the same reason.
"""

from __future__ import annotations

import os
from pathlib import Path

#: LLVM optimisation level of the Numba code PyTensor and nutpie compile (the models' log
#: densities) in the processes the package starts: 1, not Numba's 3. With fastmath off
#: (``models.base.NUMBA_FASTMATH``) LLVM may not reorder floating-point arithmetic at any
#: level, and the draws of all five fits were the same at 3 and 1 (checksums;
#: ``tests/test_reproducibility.py`` for the production model). A cold compile took
#: 10-19% less time (the five fits 385 -> 329 s) and sampling was no slower:
#: ``python analysis/numba_opt.py``, 2026-12-01 19:22-19:41 UTC (docs/performance.md,
#: "Numba's optimisation level"). A notebook keeps Numba's own default, with the same
#: draws; set ``NUMBA_OPT=1`` before starting it for the shorter compile.
NUMBA_OPT_DEFAULT = "1"


def use_numba_opt_default() -> None:
    """Set ``NUMBA_OPT`` to ``NUMBA_OPT_DEFAULT`` unless the environment sets it; for the
    start of a process, before Numba is imported: Numba reads the level when imported (its
    compiler re-reads the environment later, but its LLVM target keeps the first level)."""
    os.environ.setdefault("NUMBA_OPT", NUMBA_OPT_DEFAULT)


#: OpenBLAS kernel of the processes the package starts, on x86-64 CPUs with AVX2 and FMA
#: (Intel since 2013, AMD since 2015). OpenBLAS otherwise picks a kernel by CPU, its
#: kernels round matrix products differently, and NUTS turns the last bit into other
#: draws: the deaths, production and market-share draws changed with the kernel
#: (``python analysis/blas_kernel_draws.py`` with and without
#: ``OPENBLAS_CORETYPE=Sandybridge``, 2026-12-02; docs/architecture.md, "Across
#: machines"). Haswell's kernel is the newest that every such CPU runs.
OPENBLAS_KERNEL_DEFAULT = "Haswell"
#: CPU flags (``/proc/cpuinfo``) the pinned kernel needs
OPENBLAS_KERNEL_NEEDS = frozenset({"avx2", "fma"})
#: (vendor, flags) of CPUs where the kernel is not pinned although they run it: AMD with
#: AVX-512 (Zen 4 and 5). There numpy's OpenBLAS (0.3.34, in numpy 2.5.5) applies Zen 4's
#: larger dgemm blocking to a forced Haswell or Zen table too, which overruns the Haswell
#: kernel's fixed panel buffer: a segmentation fault, without a Python traceback, in any
#: matrix product whose inner dimension passes a few hundred (OpenBLAS issue #6021, fixed
#: by pull request #6027 after 0.3.34). Measured on such a CPU (AMD EPYC, 2026-12-03):
#: ``x.T @ y`` of two 1,000 x 1,000 float64 matrices crashed with ``OPENBLAS_CORETYPE``
#: Haswell or Zen and ran with Sandybridge, SkylakeX or none; 300 x 300 ran, 400 x 400
#: crashed; scipy's own OpenBLAS (0.3.31) ran. The package's fits did not crash (their
#: products are small), but a notebook or script with the same settings did.
OPENBLAS_KERNEL_UNSAFE_ON = (("AuthenticAMD", frozenset({"avx512f"})),)


def _cpuinfo_field(cpuinfo: str | Path, name: str) -> str | None:
    """The first ``name`` field of ``cpuinfo`` (Linux); None where there is no such file
    or field."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == name:
            return value.strip()
    return None


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU's feature flags from ``cpuinfo`` (Linux); empty where there is no such file."""
    return frozenset((_cpuinfo_field(cpuinfo, "flags") or "").split())


def cpu_vendor(cpuinfo: str | Path = "/proc/cpuinfo") -> str | None:
    """The CPU's vendor from ``cpuinfo`` (``GenuineIntel``, ``AuthenticAMD``; Linux)."""
    return _cpuinfo_field(cpuinfo, "vendor_id")


def use_openblas_kernel_default(cpuinfo: str | Path = "/proc/cpuinfo") -> str | None:
    """Set ``OPENBLAS_CORETYPE`` to ``OPENBLAS_KERNEL_DEFAULT`` unless the environment sets
    it, on an x86-64 CPU whose flags include ``OPENBLAS_KERNEL_NEEDS`` and which is not
    one of ``OPENBLAS_KERNEL_UNSAFE_ON``; for the start of a process, before numpy or scipy
    load OpenBLAS (it reads the variable once, when loaded; worker processes started later
    inherit it). Returns the kernel asked for, or None where OpenBLAS keeps its own choice
    (another architecture, a CPU without those flags, or one where forcing the kernel
    crashes numpy's OpenBLAS: then draws may differ from other machines' by the rounding
    of matrix products)."""
    if os.environ.get("OPENBLAS_CORETYPE"):
        return os.environ["OPENBLAS_CORETYPE"]
    kernel = openblas_kernel_for(cpuinfo)
    if kernel is not None:
        os.environ["OPENBLAS_CORETYPE"] = kernel
    return kernel


def openblas_kernel_for(cpuinfo: str | Path = "/proc/cpuinfo") -> str | None:
    """The kernel ``use_openblas_kernel_default`` pins on this CPU (whatever the
    environment says), or None where OpenBLAS keeps its own choice."""
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    flags = cpu_flags(cpuinfo)
    if not OPENBLAS_KERNEL_NEEDS <= flags:
        return None
    vendor = cpu_vendor(cpuinfo)
    if any(vendor == v and needs <= flags for v, needs in OPENBLAS_KERNEL_UNSAFE_ON):
        return None
    return OPENBLAS_KERNEL_DEFAULT


#: numpy's AVX-512 dispatch targets (numpy 2.5's names: its ``__cpu_dispatch__`` on x86-64
#: is X86_V3 X86_V4 AVX512_ICL AVX512_SPR). Their loops for float64 ``exp``, ``log``,
#: ``log1p`` and ``expm1`` round differently from the AVX2 ones by up to 1 ulp (``python
#: analysis/numpy_simd_ufuncs.py``), which NUTS turns into other draws:
#: on an AVX-512 CPU with the OpenBLAS kernel pinned, ``python
#: analysis/blas_kernel_draws.py`` gave other posterior hashes for all five fits, and the
#: Haswell hashes of the CPU without AVX-512 with these targets left out (2026-12-03;
#: docs/architecture.md, "Across machines"). A name the installed numpy does not know is
#: ignored by numpy with an ImportWarning (tests/test_reproducibility.py checks these).
NUMPY_DISABLED_SIMD = "X86_V4 AVX512_ICL AVX512_SPR"
#: CPU flags (``/proc/cpuinfo``) under which numpy would run those loops
NUMPY_DISABLED_SIMD_WHEN = frozenset({"avx512f"})


def use_numpy_simd_default(cpuinfo: str | Path = "/proc/cpuinfo") -> str | None:
    """Set ``NPY_DISABLE_CPU_FEATURES`` to ``NUMPY_DISABLED_SIMD`` unless the environment
    sets it (an empty value keeps every loop), on an x86-64 CPU with AVX-512, so that
    numpy computes as on the AVX2 CPUs the OpenBLAS kernel is pinned for; for the start of
    a process, before numpy is imported (it reads the variable once). Returns the value
    in effect, or None where numpy keeps every loop."""
    import platform

    if "NPY_DISABLE_CPU_FEATURES" in os.environ:
        return os.environ["NPY_DISABLE_CPU_FEATURES"]
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    if not (NUMPY_DISABLED_SIMD_WHEN | OPENBLAS_KERNEL_NEEDS) <= cpu_flags(cpuinfo):
        return None
    os.environ["NPY_DISABLE_CPU_FEATURES"] = NUMPY_DISABLED_SIMD
    return NUMPY_DISABLED_SIMD


def forget_unloaded_jax() -> None:
    """Take out of ``sys.modules`` the placeholder of JAX that ArviZ leaves there while JAX
    is not loaded (``arviz_base.io_numpyro`` loads it lazily, with ``lazy_loader``).
    SciPy's array-API helpers take any ``sys.modules["jax"]`` for a loaded JAX and, to
    compare array types, import all of it: 0.4 CPU-s in each ``burden fit``, ``summarise``
    and ``attribute`` process that never uses JAX (measured 2026-12-05). Called after the
    imports that bring in ``arviz_base``; a later ``import jax`` loads JAX as usual, and
    ArviZ's NumPyro converter still loads it when used. A loaded JAX is left alone."""
    import sys

    module = sys.modules.get("jax")
    if module is not None and type(module).__name__ == "_LazyModule":
        del sys.modules["jax"]


#: the settings numpy reads once, when it is imported (``use_process_defaults``)
NUMPY_PROCESS_SETTINGS = ("OPENBLAS_CORETYPE", "NPY_DISABLE_CPU_FEATURES")


def use_process_defaults(warn: bool = True) -> list[str]:
    """The command line's process settings (``NUMBA_OPT``, ``OPENBLAS_CORETYPE``,
    ``NPY_DISABLE_CPU_FEATURES``), each unless the environment sets it; call before
    numpy, scipy or Numba are imported. Returns the numpy settings it set too late: numpy
    was already imported, so this process computes with the CPU's own OpenBLAS kernel and
    numpy loops, and a seed gives other draws than through the command line (other draws
    of the same posterior). ``warn``: say so with a RuntimeWarning. A variable already in
    the environment counts as set in time (the user's, or set by an earlier call, which
    warned then). ``NUMBA_OPT`` is not checked: Numba's level changes the compile time,
    not the draws (``NUMBA_OPT_DEFAULT``)."""
    import sys

    numpy_loaded = "numpy" in sys.modules
    preset = {name for name in NUMPY_PROCESS_SETTINGS if name in os.environ}
    use_numba_opt_default()
    use_openblas_kernel_default()
    use_numpy_simd_default()
    late = [name for name in NUMPY_PROCESS_SETTINGS
            if numpy_loaded and name in os.environ and name not in preset]
    if late and warn:
        import warnings

        warnings.warn(
            "numpy was imported before the process settings "
            + ", ".join(f"{name}={os.environ[name]!r}" for name in late)
            + " were set: this process computes with the CPU's own OpenBLAS kernel and "
            "numpy loops, so a seed gives other draws than `burden` does. Call "
            "burden.config.use_process_defaults() before importing numpy, or set the "
            "variables before Python starts.", RuntimeWarning, stacklevel=2)
    return late


def _default_root() -> Path:
    here = Path(__file__).resolve().parent.parent
    if (here / "pyproject.toml").exists():
        return here
    return Path.cwd()


def project_root() -> Path:
    return Path(os.environ.get("BURDEN_ROOT", _default_root())).resolve()


def raw_dir() -> Path:
    return project_root() / "data" / "raw"


def processed_dir() -> Path:
    return project_root() / "data" / "processed"


def models_dir() -> Path:
    """Fitted models (netCDF), derived and git-ignored."""
    return project_root() / "models"


def reports_dir() -> Path:
    """Built figures, tables and the HTML report (git-ignored)."""
    return project_root() / "reports" / "output"


def data_mirror() -> Path | None:
    value = os.environ.get("BURDEN_DATA_MIRROR")
    return Path(value).expanduser().resolve() if value else None

