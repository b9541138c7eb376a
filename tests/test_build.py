"""raw -> processed: schema validation, atomic writes, cleaning logs, Makefile in step."""

from __future__ import annotations

import ast
import functools
import json
import re
import shutil
import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from burden.data import build
from burden.data.cleaning import DataFormatError
from burden.data.schemas import TABLES
from burden.registry.sources import SOURCES

ROOT = Path(__file__).resolve().parents[1]


def _population_rows(values):
    return pd.DataFrame({"location_id": ["AAA"] * len(values),
                         "year": list(range(2000, 2000 + len(values))),
                         "population": values, "source": "fake"})


@pytest.fixture
def fake_loader(monkeypatch, tmp_path):
    """Register a fake loader module and a single input feeding the population table."""
    module = types.ModuleType("burden.data.loaders.fake")
    monkeypatch.setitem(sys.modules, "burden.data.loaders.fake", module)
    raw = tmp_path / "fake.csv"
    raw.write_text("x\n")
    monkeypatch.setattr(build, "inputs", lambda raw_dir=None: [
        build.Input("fake", "population", "fake", lambda: raw)])
    return module


def test_build_writes_table_and_cleaning_log(fake_loader, tmp_path):
    def load(path, log, source_id):
        log.record("dropped", "aggregate removed", line=3, record="World")
        return _population_rows([1.0, 2.0])

    fake_loader.load = load
    out = build.build_table("population", out_dir=tmp_path, progress=None)
    assert len(pd.read_parquet(out)) == 2
    log = pd.read_csv(tmp_path / "population.cleaning_log.csv")
    assert log.loc[0, "reason"] == "aggregate removed" and log.loc[0, "line"] == 3


def test_schema_failure_names_column_and_leaves_no_output(fake_loader, tmp_path):
    fake_loader.load = lambda path, log, sid: _population_rows([1.0, -5.0])
    # the table is also called "population": match the column, its check and the bad row
    with pytest.raises(build.SchemaError,
                       match=r"column 'population': greater_than\(0\) failed for -5\.0 "
                             r"\(row 1\)"):
        build.build_table("population", out_dir=tmp_path, progress=None)
    # neither the table, its log nor the hidden temporary file is left: only the raw input
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fake.csv"]


def test_loader_error_keeps_previous_table_intact(fake_loader, tmp_path):
    fake_loader.load = lambda path, log, sid: _population_rows([1.0])
    out = build.build_table("population", out_dir=tmp_path, progress=None)
    before = out.read_bytes()

    def broken(path, log, sid):
        raise DataFormatError(path, "truncated", line=2, column="Value", expected="a number")

    fake_loader.load = broken
    with pytest.raises(DataFormatError, match="line 2, column 'Value'"):
        build.build_table("population", out_dir=tmp_path, progress=None)
    assert out.read_bytes() == before
    assert not list(tmp_path.glob(".*tmp"))


def test_a_failed_table_write_keeps_the_old_table_and_its_log_together(fake_loader, tmp_path,
                                                                       monkeypatch):
    """The table and its cleaning log are moved into place together, after both are
    written: a failed parquet write leaves the previous build's pair, not a new log beside
    an old table."""
    def load(path, log, sid):
        log.record("dropped", "first build", line=2)
        return _population_rows([1.0])

    fake_loader.load = load
    out = build.build_table("population", out_dir=tmp_path, progress=None)
    log_path = tmp_path / "population.cleaning_log.csv"
    before = out.read_bytes(), log_path.read_bytes()

    def second(path, log, sid):
        log.record("dropped", "second build", line=3)
        return _population_rows([2.0])

    fake_loader.load = second

    def full_disk(self, *args, **kwargs):
        raise OSError("no space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", full_disk)
    with pytest.raises(OSError, match="no space"):
        build.build_table("population", out_dir=tmp_path, progress=None)
    assert (out.read_bytes(), log_path.read_bytes()) == before
    assert not list(tmp_path.glob(".*tmp"))


def test_load_processed_says_how_to_build(tmp_path):
    with pytest.raises(FileNotFoundError, match="burden data"):
        build.load_processed("population", processed_dir=tmp_path)


def test_makefile_has_a_target_for_every_table_and_raw_file():
    makefile = (ROOT / "Makefile").read_text()
    for table in TABLES:
        assert re.search(rf"^\$\(PROC\)/{table}\.parquet:", makefile, re.MULTILINE), table
    for source in SOURCES.values():
        assert source.filename in makefile, source.filename
        assert f"burden/data/loaders/{source.loader}.py" in makefile, source.loader


def test_every_table_waits_for_the_environment(tmp_path):
    """On a fresh clone (no .venv) make sets up the environment before it builds any table:
    `make report` built the two reference tables, which have no raw file to fetch, beside
    the set-up and failed (2026-12-01)."""
    import shutil
    import subprocess

    if shutil.which("make") is None:
        pytest.skip("no make")
    venv = tmp_path / "venv"  # does not exist: what a fresh clone sees
    for table in TABLES:
        out = subprocess.run(
            ["make", "-n", "--always-make", "-C", str(ROOT), f"VENV={venv}",
             f"data/processed/{table}.parquet"],
            capture_output=True, text=True, check=True).stdout
        set_up, build_table = out.find("-m venv"), out.find(f"data --table {table}")
        assert 0 <= set_up < build_table, (table, out)


def test_every_table_has_a_registered_input():
    tables = {i.table for i in build.inputs()}
    assert tables == set(TABLES)


_FAKE_BURDEN = """#!/bin/sh
# a stand-in for the burden command: fits write their file (and, with --write-results,
# their manifest); summarise goes through the real command line with a fake summary
cd "$BURDEN_ROOT"
echo "$*" >> calls.log
case "$1" in
  fit)
    mkdir -p models && touch "models/$2.nc"
    # the manifest after the fit file, beyond the clock's tick (a few ms)
    case "$*" in *--write-results*) mkdir -p "models/$2"; sleep 0.05
                                    touch "models/$2/manifest.json";;
    esac;;
  summarise)
    exec "$PYTHON" -c '
import pathlib, sys, types
def fake(name, models_dir=None):
    path = pathlib.Path("models", name, "manifest.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    with open("calls.log", "a") as log:
        log.write("summarised " + name + "\\n")
    return path
sys.modules["burden.summarise"] = types.SimpleNamespace(summarise=fake)
from burden import cli
sys.exit(cli.main(sys.argv[1:]))' "$@";;
esac
"""


def _fake_project(tmp_path: Path, burden_script: str) -> Path:
    """A copy of the package, the Makefile and the lock in ``tmp_path/project``, with
    ``burden_script`` standing in for ``.venv/bin/burden`` (no fit is run)."""
    root = tmp_path / "project"
    shutil.copytree(ROOT / "burden", root / "burden",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("Makefile", "requirements.lock", "pyproject.toml"):
        shutil.copy2(ROOT / name, root / name)
    burden = root / ".venv" / "bin" / "burden"
    burden.parent.mkdir(parents=True)
    burden.write_text(burden_script)
    burden.chmod(0o755)
    return root


def test_make_keeps_the_tables_a_fit_wrote_and_redoes_them_when_the_summary_changes(
        tmp_path):
    """make remakes a fit's manifest rule after the fit (its prerequisite was remade),
    but ``--unless-newer-than`` skips the tables ``fit --write-results`` just wrote; a
    change of the summary code alone summarises again without refitting."""
    import os
    import shutil
    import subprocess

    if shutil.which("make") is None:
        pytest.skip("no make")
    root = _fake_project(tmp_path, _FAKE_BURDEN)
    (root / ".venv" / ".installed").touch()  # the environment is current
    (root / "data" / "processed").mkdir(parents=True)
    (root / "data" / "processed" / "production_measurements.parquet").touch()
    env = {**os.environ, "BURDEN_ROOT": str(root), "PYTHON": sys.executable,
           "PYTHONPATH": str(ROOT)}
    target = "models/production/manifest.json"
    log = root / "calls.log"

    def make():
        log.write_text("")
        subprocess.run(["make", "-s", "-C", str(root), target], env=env, check=True,
                       capture_output=True, text=True)
        return log.read_text().splitlines()

    calls = make()
    assert calls[0] == "fit production --no-summary --write-results"
    assert calls[1].startswith("summarise production --unless-newer-than models/production.nc")
    assert "summarised production" not in calls  # written by the fit
    assert make() == []  # up to date
    later = (root / target).stat().st_mtime_ns + 10**9
    os.utime(root / "burden" / "summarise.py", ns=(later, later))
    calls = make()
    assert [c.split()[0] for c in calls] == ["summarise", "summarised"]  # no refit
    (root / target).unlink()  # as a failed summary in the fit leaves it
    assert make()[-1] == "summarised production"


def test_the_fits_figures_are_drawn_before_the_report_and_after_every_fit(tmp_path):
    """make draws the fits' figures (`report --figures-only`, while the attribution runs)
    once every fit's result tables are there, and only then the report, which keeps
    them. A dry run of the whole report, every target out of date."""
    import shutil
    import subprocess

    if shutil.which("make") is None:
        pytest.skip("no make")
    out = subprocess.run(
        ["make", "-n", "--always-make", "-C", str(ROOT), f"VENV={tmp_path / 'venv'}",
         "reports/output/index.html"], capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    figures = [i for i, line in enumerate(lines) if "report --figures-only" in line]
    report = [i for i, line in enumerate(lines) if line.endswith("burden report")]
    assert len(figures) == 1 and len(report) == 1, out
    for fit in ("deaths", "production", "composition", "markets", "certified"):
        summary = [i for i, line in enumerate(lines)
                   if f"summarise {fit} --unless-newer-than" in line]
        assert summary and summary[-1] < figures[0], (fit, out)
    assert figures[0] < report[0]
    # niced: the attribution beside it is on the critical path
    assert lines[figures[0]].startswith("nice -n 10 ")


@pytest.mark.parametrize("state, extra, flag", [
    ("none", [], None),
    ("none", ["SBC_PACK=docs/validation/runs/deaths-posterior-seed1.npz"],
     "--resume-from docs/validation/runs/deaths-posterior-seed1.npz"),
    ("checkpoint", [], "--resume"),
    ("finished", [], None),
])
def test_make_sbc_goes_on_from_a_checkpoint_or_else_from_the_packed_run(tmp_path, state,
                                                                        extra, flag):
    """`make sbc SBC_MODELS=deaths-posterior`: a checkpoint in its folder goes on with
    --resume; no run there starts from simulation 0, or goes on from a pack given as
    SBC_PACK (the packs kept in the repository are of an earlier fit); a finished run
    there is run again from simulation 0."""
    import shutil
    import subprocess

    if shutil.which("make") is None:
        pytest.skip("no make")
    assert (ROOT / "docs/validation/runs/deaths-posterior-seed1.npz").exists()
    folder = tmp_path / "models" / "sbc" / "deaths-posterior"
    if state != "none":
        folder.mkdir(parents=True)
        manifest = {"checkpoint": {"of": 200}} if state == "checkpoint" else {}
        (folder / "manifest.json").write_text(json.dumps(manifest))
    out = subprocess.run(
        ["make", "-n", "--always-make", "-C", str(ROOT), f"VENV={tmp_path / 'venv'}",
         f"MODELS={tmp_path / 'models'}", "SBC_MODELS=deaths-posterior", *extra, "sbc"],
        capture_output=True, text=True, check=True).stdout.replace("\\\n", " ")
    command = next(line for line in out.splitlines()
                   if "validate sbc --model deaths --worlds posterior" in line)
    found = [w for w in ("--resume-from", "--resume") if f" {w} " in f"{command} "]
    if flag is None:
        assert found == [], command
    else:
        assert flag in command and found == [flag.split()[0]], command


# ---- every rule lists the code its command runs ------------------------------------------
#: modules a command imports that cannot change what it writes, by target (fnmatch) and file
_SBC_WORLDS_DEATHS = ("validate.sbc_worlds imports it inside the deaths model's like-ours "
                      "rule (_us_summaries), which only a deaths run calls")
_NOT_PREREQUISITES = [
    ("*", "burden/errors.py",
     ("exception and warning classes: a raised error leaves no target (.DELETE_ON_ERROR, "
      "atomic writes), and every handler re-raises or exits")),
    ("*", "burden/models/nutpie_cache.py",
     "a compile cache: the draws are the same cached or not (tests/test_nutpie_cache.py)"),
    ("models/sbc/production/*", "burden/models/deaths_data.py", _SBC_WORLDS_DEATHS),
    ("models/sbc/production/*", "burden/models/trends.py",
     "imported by deaths_data only (the entry above)"),
    ("models/sbc/certified/*", "burden/models/deaths_data.py", _SBC_WORLDS_DEATHS),
]


def _module_file(module: str) -> Path | None:
    base = ROOT / module.replace(".", "/")
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.exists():
            return path
    return None


def _imports(nodes: list[ast.AST], package: str) -> set[str]:
    """The package modules imported anywhere in ``nodes`` (inside functions too, but not
    under ``if TYPE_CHECKING:``); ``from a import b`` counts ``a`` and, if a module, ``a.b``."""
    found, todo = set(), list(nodes)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative: from the package, up level - 1
                parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                module = ".".join(parts + ([module] if module else []))
            found |= {module} | {f"{module}.{alias.name}" for alias in node.names}
        todo.extend(ast.iter_child_nodes(node))
    return {m for m in found if m.split(".")[0] == "burden" and _module_file(m)}


@functools.cache
def _tree(module: str) -> ast.Module:
    return ast.parse(_module_file(module).read_text())


@functools.cache
def _imports_by_function(module: str) -> tuple[tuple[str | None, frozenset[str]], ...]:
    """The imports of each top-level statement of ``module``, with the function's name
    when the statement is a function (None otherwise)."""
    package = module if _module_file(module).name == "__init__.py" else \
        module.rpartition(".")[0]
    return tuple((n.name if isinstance(n, ast.FunctionDef) else None,
                  frozenset(_imports([n], package))) for n in _tree(module).body)


def _module_imports(module: str, skip: tuple[str, ...]) -> set[str]:
    """The imports of ``module``, leaving out its top-level functions named ``skip*``."""
    return {m for name, found in _imports_by_function(module)
            if not (name and skip and name.startswith(skip)) for m in found}


def _import_closure(modules: set[str], skip: tuple[str, ...] = ()) -> set[str]:
    """``modules``, their parent packages and everything they import, transitively."""
    seen, todo = set(), list(modules)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        parts = module.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]
        todo += _module_imports(module, skip)
    return seen


def _command_modules(words: list[str]) -> set[str]:
    """The package modules ``burden <words>`` runs: cli's own imports, those of its
    ``_cmd_<command>`` function (of an ``if args.x == "value":`` branch only when the value
    is among the words, and nothing after a branch taken that returns), and those imported
    by name (importlib): the named fit's model and its upstream's, a table's loader. The
    rest of cli.py (other commands) is not followed."""
    from burden.fits import FITS

    cli = _tree("burden.cli")
    modules = _imports([n for n in cli.body if isinstance(n, ast.Import | ast.ImportFrom)],
                       "burden")
    command = next(n for n in cli.body if isinstance(n, ast.FunctionDef)
                   and n.name == "_cmd_" + words[0].replace("-", "_"))
    for stmt in command.body:
        test = stmt.test if isinstance(stmt, ast.If) else None
        if (isinstance(test, ast.Compare) and ast.unparse(test.left).startswith("args.")
                and isinstance(test.comparators[0], ast.Constant)):
            if test.comparators[0].value not in words:
                continue
            modules |= _imports([stmt], "burden")
            if isinstance(stmt.body[-1], ast.Return):
                break
            continue
        modules |= _imports([stmt], "burden")
    for word in words:
        if word in FITS:
            modules.add(FITS[word].module)
            if FITS[word].upstream:
                modules.add(FITS[FITS[word].upstream].module)
    if words[0] == "data":
        table = words[words.index("--table") + 1]
        modules |= {f"burden.data.loaders.{i.loader}" for i in build.inputs()
                    if i.table == table}
    # an SBC run of one model calls none of the functions named after another model
    # (validate.sbc_specs' `certified_spec`, validate.sbc_worlds' `deaths_rule`, ...)
    skip = tuple(f"{fit}_" for fit in FITS if fit not in words) if words[0] == "validate" \
        else ()
    return _import_closure(modules, skip) | {"burden.cli"}


def _docstring_only(module: str) -> bool:
    """A module that runs nothing (an empty package ``__init__``, a docstring)."""
    return all(isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)
               or isinstance(n, ast.ImportFrom) and n.module == "__future__"
               for n in _tree(module).body)


def _make_rules(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    """Every rule make knows for the report and validation (`make -p`, a dry run): target ->
    (its normal prerequisites, expanded; its recipe, with ``$*`` put in)."""
    out = subprocess.run(
        ["make", "-pn", "-B", "-C", str(ROOT), f"VENV={tmp_path / 'venv'}", "validate",
         "reports/output/index.html"], capture_output=True, text=True, check=True).stdout
    rules = {}
    for entry in out[out.index("\n# Files\n"):].split("\n\n"):
        lines = [line for line in entry.splitlines() if not line.startswith("#")]
        if not lines or lines[0].startswith("\t") or ":" not in lines[0]:
            continue
        target, _, prerequisites = lines[0].partition(":")
        if prerequisites.startswith("="):  # a variable
            continue
        stem = re.search(r"^# \* := (.*)$", entry, re.MULTILINE)
        recipe = "\n".join(line[1:] for line in lines[1:] if line.startswith("\t"))
        rules[target] = (prerequisites.partition("|")[0].split(),  # not the order-only
                         recipe.replace("$*", stem.group(1) if stem else ""))
    return rules


def test_every_rule_lists_the_code_its_command_imports(tmp_path):
    """Touching a module rebuilds every file whose command imports it: for each target
    whose recipe runs `burden ...` (not a phony one; not `fetch`, whose files are pinned
    by their sha256 in registry.sources), the static import closure of that command, within
    burden/, is among the target's prerequisites, directly or through a prerequisite's
    (e.g. a fit's code through models/<fit>.nc). Found missing in review: the production
    walk and censored tail, storage, the CSV reader and more (no refit when they changed)."""
    import fnmatch

    if shutil.which("make") is None:
        pytest.skip("no make")
    rules = _make_rules(tmp_path)
    phony = set(rules[".PHONY"][0])

    def upstream(target):
        seen, todo = set(), [target]
        while todo:
            for prerequisite in rules.get(todo.pop(), ([], ""))[0]:
                if prerequisite not in seen:
                    seen.add(prerequisite)
                    todo.append(prerequisite)
        return seen

    missing, checked = {}, []
    for target, (_, recipe) in sorted(rules.items()):
        command = re.search(r"^[@\s]*(?:nice -n \d+ )?\$\(BURDEN\) ([^|\n\\]*)", recipe,
                            re.MULTILINE)
        if target in phony or command is None or command.group(1).startswith("fetch "):
            continue
        checked.append(target)
        words = command.group(1).split()
        files = {str(_module_file(m).relative_to(ROOT)) for m in _command_modules(words)
                 if not _docstring_only(m)}
        files = {f for f in files if not any(
            fnmatch.fnmatch(target, t) and f == path for t, path, _ in _NOT_PREREQUISITES)}
        if files - upstream(target):
            missing[target] = sorted(files - upstream(target))
    assert {"models/deaths.nc", "models/production/manifest.json", "models/attribution.nc",
            "reports/output/index.html", "data/processed/gbd_deaths.parquet",
            "models/sbc/production/manifest.json"} <= set(checked), checked
    assert missing == {}


def test_the_markets_tables_wait_for_the_seizures_table(tmp_path):
    """summarise._markets reads data/processed/drug_seizures.parquet beside the fit (the
    route priors' UNODC evidence): a new table re-summarises the markets."""
    if shutil.which("make") is None:
        pytest.skip("no make")
    rules = _make_rules(tmp_path)
    assert "data/processed/drug_seizures.parquet" in rules[
        "models/markets/manifest.json"][0]


_FAKE_FIT = """#!/bin/sh
# a stand-in for `burden fit` / `burden backtest`: writes its file, then exits $FAKE_EXIT
cd "$BURDEN_ROOT"
mkdir -p models
case "$1" in
  fit) echo fitted > "models/$2.nc";;
  backtest) echo scored > "models/$2_backtest.csv";;
esac
exit $FAKE_EXIT
"""


@pytest.mark.parametrize("target", ["models/production.nc", "models/certified_backtest.csv"])
@pytest.mark.parametrize("exit_code", [3, 1])
def test_a_fit_that_did_not_converge_is_kept_and_a_crashed_one_deleted(tmp_path, target,
                                                                       exit_code):
    """Exit 3 (the fit, or a back-test's fit, finished and was saved but did not converge):
    make keeps the file, for diagnosis and the report's red flag, says so loudly and
    succeeds; .DELETE_ON_ERROR deleted it, so it never reached the report and the next
    `make report` ran it again. Any other failure still deletes it. The real Makefile with a
    stand-in `burden` (no fit is run)."""
    import os
    import time

    if shutil.which("make") is None:
        pytest.skip("no make")
    root = _fake_project(tmp_path, _FAKE_FIT)
    # the code older than everything made from it (copy2 keeps the work tree's times, and
    # a file edited in the last 100 s would otherwise be newer than the tables below)
    old = time.time() - 1000
    for path in [*root.rglob("*"), root]:
        os.utime(path, (old, old), follow_symlinks=False)
    # the raw files, then the tables, then the back-test's fit, each current: only the
    # target's own command runs
    current = [root / ".venv" / ".installed",
               *(root / "data" / "raw" / s.filename for s in SOURCES.values()),
               *(root / "data" / "processed" / f"{table}.parquet" for table in TABLES),
               root / "models" / "certified.nc"]
    now = time.time()
    for i, path in enumerate(current):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        os.utime(path, (now - 100 + i, now - 100 + i))
    env = {**os.environ, "BURDEN_ROOT": str(root), "FAKE_EXIT": str(exit_code)}
    done = subprocess.run(["make", "-C", str(root), target], env=env, capture_output=True,
                          text=True, check=False)
    if exit_code == 3:
        assert done.returncode == 0, done.stderr
        assert (root / target).exists()
        assert f"{target}: a fit DID NOT CONVERGE" in done.stderr
    else:
        assert done.returncode != 0
        assert not (root / target).exists()
        assert "DID NOT CONVERGE" not in done.stderr


def _deleted_by(goal: str, tmp_path: Path) -> Callable[[str], bool]:
    """Whether `make <goal>` (its `rm -rf` arguments, from a dry run) deletes a path."""
    import fnmatch

    out = subprocess.run(["make", "-n", "-C", str(ROOT), f"VENV={tmp_path / 'venv'}", goal],
                         capture_output=True, text=True, check=True).stdout
    args = [w for line in out.splitlines() if line.startswith("rm -rf ")
            for w in line.split()[2:]]
    return lambda path: any(fnmatch.fnmatch(path, a) or path.startswith(a + "/")
                            for a in args)


_REBUILT_BY_REPORT = ["data/processed/gbd_deaths.parquet",
                      "data/processed/gbd_deaths.cleaning_log.csv", "models/deaths.nc",
                      "models/attribution.nc", "models/deaths/manifest.json",
                      "models/attribution/summary.csv", "reports/output/index.html"]
_VALIDATION = ["models/sbc/production/manifest.json", "models/sbc/deaths-posterior/fits.npz",
               "models/deaths_backtest.csv", "models/deaths_backtest_scores.csv",
               "models/deaths_backtest.json", "models/certified_backtest.csv",
               "models/certified_backtest.json", "models/deaths_rounds.csv",
               "models/deaths_rounds_scored.csv"]


def test_make_clean_keeps_the_validation_runs(tmp_path):
    """`make clean` (and `burden profile`, which runs it) deletes what `make report`
    rebuilds, not the SBC runs (hours; their checkpoints .PRECIOUS) and back-tests it
    deleted with all of models/ (found in review); `make clean-validation` deletes those."""
    if shutil.which("make") is None:
        pytest.skip("no make")
    clean = _deleted_by("clean", tmp_path)
    validation = _deleted_by("clean-validation", tmp_path)
    assert [p for p in _REBUILT_BY_REPORT if not clean(p)] == []
    assert [p for p in _VALIDATION if clean(p)] == []
    # nor a saved fit it does not make (a back-test's with --save-model, a user's own)
    assert not clean("models/backtest_2010.nc") and not clean("models/my_deaths.nc")
    assert [p for p in _VALIDATION if not validation(p)] == []
    assert [p for p in _REBUILT_BY_REPORT + ["data/raw/x.csv"] if validation(p)] == []
    everything = _deleted_by("clean-all", tmp_path)
    assert all(everything(p) for p in _REBUILT_BY_REPORT + _VALIDATION)


def test_the_profile_times_the_report_without_the_validation_runs_and_keeps_them(tmp_path):
    """`burden profile` sets aside what `make clean` keeps (the Makefile's
    VALIDATION_OUTPUTS), so the report is timed as on a fresh clone, and puts it back
    after, a failed run too."""
    from burden import profile

    if shutil.which("make") is None:
        pytest.skip("no make")
    validation = _deleted_by("clean-validation", tmp_path)
    assert all(validation(f"models/{name}") for name in profile.VALIDATION_OUTPUTS)
    models = tmp_path / "models"
    for path in _VALIDATION + ["models/deaths.nc"]:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(path)
    with pytest.raises(RuntimeError, match="make report failed"), \
            profile.validation_set_aside(tmp_path):
        assert sorted(p.relative_to(models).as_posix() for p in models.rglob("*")) == [
            "deaths.nc"]
        raise RuntimeError("make report failed")
    assert all((tmp_path / p).read_text() == p for p in _VALIDATION)
    assert not (tmp_path / profile.SET_ASIDE).exists()


def test_the_documented_make_sbc_commands_do_not_resume_from_a_larger_pack(tmp_path):
    """Each `make sbc ...` line of docs/validation/sbc.md, on a fresh clone (no run in
    models/sbc): a run going on from the packed deaths-posterior run asks for at least its
    200 simulations (docs/validation/runs/README.md); `SBC_SIMS=24` with the pack was
    refused ("has 200 simulations, more than the 24 asked for"; found in review)."""
    if shutil.which("make") is None:
        pytest.skip("no make")
    lines = [line.split("#")[0].split()[2:] for line in
             (ROOT / "docs/validation/sbc.md").read_text().splitlines()
             if line.startswith("make sbc")]
    assert any("SBC_MODELS=deaths-posterior" in words for words in lines), lines
    for words in lines:
        out = subprocess.run(
            ["make", "-n", "--always-make", "-C", str(ROOT), f"VENV={tmp_path / 'venv'}",
             f"MODELS={tmp_path / 'models'}", "sbc", *words],
            capture_output=True, text=True, check=True).stdout.replace("\\\n", " ")
        for command in (line for line in out.splitlines() if "validate sbc" in line):
            simulations = int(command.split("--simulations ")[1].split()[0])
            assert "--resume-from" not in command or simulations >= 200, (words, command)


def test_make_profile_runs_make_report_as_make_report_runs(tmp_path):
    """`make profile` profiles `make -jJOBS report` (every core, JOBS as `make report`
    uses it), the command behind README's `burden profile --jobs 2` numbers on 2 cores; it
    ran --jobs 1 (found in review)."""
    if shutil.which("make") is None:
        pytest.skip("no make")

    def dry_run(*args):
        return subprocess.run(["make", "-n", "-C", str(ROOT), f"VENV={tmp_path / 'venv'}",
                               *args], capture_output=True, text=True, check=True).stdout

    cores = subprocess.run(["nproc"], capture_output=True, text=True,
                           check=False).stdout.strip() or "1"
    assert f"/bin/burden profile --jobs {cores}\n" in dry_run("profile")
    assert "/bin/burden profile --jobs 3\n" in dry_run("profile", "JOBS=3")
    assert "`burden profile --jobs 2`" in (ROOT / "README.md").read_text()
