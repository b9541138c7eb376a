"""The report's simulation-based calibration section: per model with a saved SBC run
(``models/sbc/<model>/``, written by ``burden validate sbc``), the run's date and settings,
failed and non-converged simulations, the pass/fail table per variable and the ECDF-difference
figure (template ``_sbc.html``).

No PyMC here: the section reads the saved tables only (``burden.validate.sbc_stats``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from burden.report.provenance import shown_path
from burden.validate.sbc_stats import read_sbc, summarise_uniformity

#: models whose SBC run the report shows, in this order
SBC_MODELS = ("production", "certified", "deaths", "markets", "composition")
#: folder suffix of a model's posterior SBC run (``models/sbc/<model>-posterior``)
POSTERIOR_SUFFIX = "-posterior"
#: the run to make where a model has none, when it is not the prior SBC: the deaths
#: model's fits do not converge in its prior's worlds (docs/validation/sbc.md, "deaths:
#: worlds like ours, and the prior's worlds against the real data")
RUN_TO_MAKE = {"deaths": (
    "burden validate sbc --model deaths --worlds posterior --simulations 200",
    "the prior SBC's fits of this model do not converge in its prior's worlds")}
#: where the runs recorded so far are, with their dates
RECORDED_RUNS = 'docs/validation/sbc.md, "Where it stands"'


def no_run_reason(model: str, shown: str, posterior_run: bool = False) -> str:
    """What the page says of a model without a prior SBC run in this build: the run to
    make (none where its posterior run, shown below, is the one to make and is there), and
    where the runs recorded so far are."""
    command, why = RUN_TO_MAKE.get(
        model, (f"burden validate sbc --model {model} --simulations 200", ""))
    if posterior_run and "--worlds posterior" in command:
        return (f"no prior SBC run in {shown} ({why}); its posterior SBC run is below; the "
                f"runs recorded so far: {RECORDED_RUNS}")
    return (f"no run in {shown} (run `{command}`, which writes to "
            f"models/sbc/{model}{POSTERIOR_SUFFIX if '--worlds posterior' in command else ''}"
            f"{'; ' + why if why else ''}); the runs recorded so far: {RECORDED_RUNS}")


@dataclass
class SBCResult:
    model: str
    ranks: pd.DataFrame | None = None
    sims: pd.DataFrame | None = None
    uniformity: pd.DataFrame | None = None
    manifest: dict = field(default_factory=dict)
    reason: str = ""


def read_sbc_runs(models_dir: Path) -> list[SBCResult]:
    """Every model's saved SBC run; a model without one is recorded with the command that
    makes it. A folder with tables but no manifest raises (never silently left out)."""
    out = []
    for model in SBC_MODELS:
        folder = Path(models_dir) / "sbc" / model
        posterior = Path(models_dir) / "sbc" / f"{model}{POSTERIOR_SUFFIX}" / "ranks.csv"
        if not (folder / "ranks.csv").exists():
            shown = shown_path(folder, Path(models_dir).parent)
            out.append(SBCResult(model, reason=no_run_reason(model, shown,
                                                             posterior.exists())))
        else:
            ranks, sims, unif, manifest = read_sbc(folder)
            out.append(SBCResult(model, ranks, sims, unif, manifest))
        # a posterior SBC run (``--worlds posterior``), shown beside it when there is one
        folder = Path(models_dir) / "sbc" / f"{model}{POSTERIOR_SUFFIX}"
        if (folder / "ranks.csv").exists():
            ranks, sims, unif, manifest = read_sbc(folder)
            out.append(SBCResult(f"{model}{POSTERIOR_SUFFIX}", ranks, sims, unif, manifest))
    return out


def sbc_context(results: list[SBCResult], out_dir: Path, dpi: int = 110) -> list[dict]:
    """Template rows of ``_sbc.html``; draws each run's ECDF figure into ``out_dir``."""
    from burden.plots.sbc import plot_sbc_ecdf_grid, sbc_ecdf_data

    rows = []
    for r in results:
        item = {"model": r.model, "available": r.ranks is not None, "reason": r.reason}
        if r.ranks is None:
            rows.append(item)
            continue
        m, sims = r.manifest, r.sims
        summary = summarise_uniformity(r.uniformity)
        failing = r.uniformity[r.uniformity["pass"].astype(str) == "False"]
        figures = Path(out_dir) / "figures"
        figures.mkdir(parents=True, exist_ok=True)
        data = sbc_ecdf_data(r.ranks)
        png = f"figures/sbc_{r.model}.png"
        plot_sbc_ecdf_grid(data).savefig(Path(out_dir) / png, dpi=dpi)
        tables = Path(out_dir) / "tables"
        tables.mkdir(parents=True, exist_ok=True)
        csv = f"tables/sbc_{r.model}_uniformity.csv"
        r.uniformity.to_csv(Path(out_dir) / csv, index=False)
        item.update({
            "run_utc": m["run_utc"], "command": m["command"], "simulations": m["simulations"],
            "workers": m["workers"], "scheduler": m["scheduler"], "wall_s": m["wall_s"],
            "load": m["load"], "reduction": m["reduction"], "failed": m["failed"],
            "worlds": m.get("worlds", {"worlds": "all"}),
            "checkpoint": m.get("checkpoint"),
            "converged": m["converged"],
            "failed_errors": sims.loc[sims["status"] == "failed", ["sim", "error"]]
                                 .to_dict("records"),
            "variables": summary.to_dict("records"),
            "failing": failing["parameter"].tolist(),
            "png": png, "csv": csv})
        rows.append(item)
    return rows
