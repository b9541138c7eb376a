"""`burden summarise`: what computing the result tables imports."""


def test_summarise_does_not_import_matplotlib():
    """Result tables are computed without plotting imports (every `burden summarise`
    process paid about a second for matplotlib and the figure modules); checked in a
    fresh interpreter, as this test process may have matplotlib loaded already."""
    import subprocess
    import sys

    code = ("import sys, burden.summarise, burden.validate.ppc, burden.draws\n"
            "print(sorted(k for k in sys.modules if k.split('.')[0] == 'matplotlib'\n"
            "             or k.startswith('burden.plots')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_plots_reexport_the_tables_they_draw():
    """``burden.plots`` still offers the data functions that moved out of it."""
    from burden import draws, plots
    from burden.validate import ppc

    assert plots.ppc_from_idata is ppc.ppc_from_idata
    assert plots.total_from_draws is draws.total_from_draws
