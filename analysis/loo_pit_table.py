"""The tables of docs/validation/checks.md ("Results on the real data"), from the saved
fits' ``loo_pit``, ``ppc`` and ``prior_sensitivity`` tables (what `make report` leaves in
``models/<model>/``).

    python analysis/loo_pit_table.py [MODELS_DIR]

First the LOO-PIT table, as the report's LOO-PIT figure groups it. 
One row per model and panel (a data source; sources with fewer than 10 observations
pooled per model, ``burden.plots.loo_pit.panel_sources``): the number of observations,
whether the LOO-PIT ECDF stays inside its simultaneous 95% band (the figure's
``inside``), the mean PIT, the share of PITs below 0.05 or above 0.95 ("tails": 0.10
expected) and the share with Pareto k > 0.7. Then the in-sample check: per model and
observed variable, the share of observations inside their 95% posterior predictive
interval. Then the prior sensitivity of the headline outputs, with each one's largest
single prior ("not computed" in tables written before it). Markdown, for the docs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from burden import config
from burden.plots.loo_pit import PARETO_K_MAX, loo_pit_ecdf_data, panel_sources
from burden.report.numbers import largest_prior_text

MODELS = ("deaths", "production", "markets", "certified", "composition")


def table(models_dir: Path) -> pd.DataFrame:
    """The rows of the docs' table, from ``models_dir/<model>/loo_pit.csv``."""
    frames = [pd.read_csv(models_dir / m / "loo_pit.csv") for m in MODELS
              if (models_dir / m / "loo_pit.csv").exists()]
    if not frames:
        raise SystemExit(f"no <model>/loo_pit.csv under {models_dir}: run `make report`")
    pits = pd.concat(frames, ignore_index=True)
    pits = pits.assign(panel=panel_sources(pits))
    inside = (loo_pit_ecdf_data(pits).groupby(["model", "source"], sort=False)
              [["label", "inside"]].first())
    rows = []
    for (model, panel), g in pits.groupby(["model", "panel"], sort=False):
        pit = g["pit"]
        label, ok = inside.loc[(model, panel)] if (model, panel) in inside.index else (
            panel, None)
        rows.append({"model": model, "source": label, "n": len(g),
                     "in band": {True: "yes", False: "no", None: "–"}[ok],
                     "mean PIT": f"{pit.mean():.3f}",
                     "tails": f"{((pit < 0.05) | (pit > 0.95)).mean():.3f}",
                     "k > 0.7": f"{(g['pareto_k'] > PARETO_K_MAX).mean():.2f}"})
    return pd.DataFrame(rows)


def main() -> None:
    models_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else config.models_dir()
    out = table(models_dir)
    print("| " + " | ".join(out.columns) + " |")
    print("|" + "---|" * len(out.columns))
    for row in out.itertuples(index=False):
        print("| " + " | ".join(f"{v:,}" if isinstance(v, int) else str(v) for v in row)
              + " |")
    print(f"\n{(out['in band'] == 'yes').sum()} of {len(out)} panels inside their band\n")
    print("| model | observed variable | n | inside the 95% interval |\n|---|---|---|---|")
    for m in MODELS:
        path = models_dir / m / "ppc.csv"
        if path.exists():
            for var, g in pd.read_csv(path).groupby("variable", sort=False):
                print(f"| {m} | {var} | {len(g):,} | {g['inside'].mean():.1%} |")
    print("\n| model | output | mean | prior | likelihood | diagnosis | largest single prior |"
          "\n|---|---|---|---|---|---|---|")
    for m in MODELS:
        path = models_dir / m / "prior_sensitivity.csv"
        if path.exists():
            for r in pd.read_csv(path).to_dict("records"):
                mean = f"{r['mean']:,.0f}" if abs(r["mean"]) >= 100 else f"{r['mean']:.3f}"
                print(f"| {m} | {r['quantity']} | {mean} | {r['prior_sensitivity']:.3f} | "
                      f"{r['likelihood_sensitivity']:.3f} | {r['diagnosis']} | "
                      f"{largest_prior_text(r)} |")


if __name__ == "__main__":
    main()
