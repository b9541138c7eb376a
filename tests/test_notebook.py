"""The quickstart notebook runs from top to bottom (so it cannot go stale).

It fits a small deaths model, so the test is marked ``slow``; it builds its processed tables
in a temporary project (``BURDEN_ROOT``) from the raw files (mirror under CI).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "analysis" / "quickstart.ipynb"


@pytest.mark.slow
@pytest.mark.realdata
def test_quickstart_notebook_runs(tmp_path, raw_file, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    raw_file("owid_gbd_deaths")  # the mirror is there (or the test fails under CI)
    monkeypatch.setenv("BURDEN_ROOT", str(tmp_path))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute(env={**os.environ})
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "North Africa and Middle East" in text and "convergence" in text
    assert (tmp_path / "models" / "examples" / "deaths_quickstart.nc").exists()
