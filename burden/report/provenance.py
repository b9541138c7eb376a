"""Where every number in the report comes from: input hashes, package versions, seeds and
sampler diagnostics of each saved model."""

from __future__ import annotations

import json
import platform
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from burden.data.fetch import sha256_of
from burden.registry.keys import FitStatus
from burden.registry.sources import SOURCES

#: Packages whose versions decide the numbers (sampler, model language, summaries).
PACKAGES = ("burden", "pymc", "pytensor", "arviz", "nutpie", "numpy", "pandas", "xarray",
            "matplotlib", "jinja2")


def package_versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed version of each package ("not installed" when absent)."""
    out = {}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def raw_file_hashes(raw_dir: Path | None, source_ids: list[str] | None = None
                    ) -> pd.DataFrame:
    """Registry sha256 of each raw source beside the hash of the file on disk, if any."""
    rows = []
    for sid in source_ids or list(SOURCES):
        src = SOURCES[sid]
        path = raw_dir / src.filename if raw_dir is not None else None
        actual = sha256_of(path) if path is not None and path.exists() else None
        status = ("not on disk" if actual is None
                  else "matches registry" if actual == src.sha256 else "DIFFERS from registry")
        rows.append({"source": sid, "filename": src.filename, "registry_sha256": src.sha256,
                     "file_sha256": actual or "", "status": status})
    return pd.DataFrame(rows)


def shown_path(path: str | Path, project: str | Path) -> str:
    """``path`` as the page shows it: relative to the project folder (the models folder's
    parent) when inside it, else its folder and name; never an absolute path of the
    machine that built it."""
    path = Path(path)
    try:
        return path.resolve().relative_to(Path(project).resolve()).as_posix()
    except ValueError:
        return Path(*path.parts[-2:]).as_posix() if len(path.parts) > 1 else path.name


def _decode(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


@dataclass
class ModelProvenance:
    """What a saved model's attrs say about how it was fitted (see BayesianEstimator)."""

    name: str
    path: str
    model_type: str = ""
    package_version: str = ""
    random_seed: str = ""
    sampler_config: dict = field(default_factory=dict)
    model_config: dict = field(default_factory=dict)
    input_hashes: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    convergence: dict | None = None
    #: CPU architecture and OpenBLAS kernel of the fit (``storage.compute_environment``);
    #: empty for fits saved before it was recorded
    compute_environment: dict = field(default_factory=dict)

    @classmethod
    def from_attrs(cls, name: str, path: str | Path, attrs: dict[str, Any]
                   ) -> ModelProvenance:
        a = {k: _decode(v) for k, v in attrs.items()}
        return cls(
            name=name, path=str(path), model_type=str(a.get("model_type", "")),
            package_version=str(a.get("package_version", "")),
            random_seed=str(a.get("random_seed", "")),
            sampler_config=a.get("sampler_config") or {},
            model_config=a.get("model_config") or {},
            input_hashes=a.get("input_hashes") or {}, timings=a.get("timings") or {},
            convergence=a.get("convergence") if isinstance(a.get("convergence"), dict)
            else None,
            compute_environment=a.get("compute_environment") or {},
        )

    @property
    def status(self) -> FitStatus:
        """Converged, not converged, or not checked (no convergence record saved)."""
        if self.convergence is None:
            return FitStatus.NOT_CHECKED
        return FitStatus.CONVERGED if self.convergence.get("converged") else (
            FitStatus.NOT_CONVERGED)


def code_commit(package_dir: Path | None = None) -> str:
    """The git commit of the source tree the package runs from (asked of git at build
    time), with "(with uncommitted changes)" when the package's files differ from it;
    "unknown" when the package is not in a git checkout of its own (an installed copy) or
    git cannot say."""
    pkg = (Path(__file__).resolve().parents[1] if package_dir is None
           else Path(package_dir).resolve())

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(pkg), *args], capture_output=True,
                              text=True, timeout=30, check=True).stdout.strip()

    try:
        if Path(git("rev-parse", "--show-toplevel")).resolve() != pkg.parent:
            return "unknown"  # a checkout of something else holds this copy
        commit = git("rev-parse", "HEAD")
        changed = git("status", "--porcelain", "--", ".")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + (" (with uncommitted changes)" if changed else "")


def build_info() -> dict[str, str]:
    """When, from which code and on what the report was built."""
    return {"built_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": code_commit(),
            "python": platform.python_version(), "platform": platform.platform()}
