"""The test suite's own scheduling: tests that share a session fit run on one worker."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent

TESTS_A = '''
import os, pytest

@pytest.fixture(scope="session")
def pipeline():
    return os.environ.get("PYTEST_XDIST_WORKER")

def test_a1(pipeline):
    print("WORKER a1", os.environ.get("PYTEST_XDIST_WORKER"))

def test_a2(pipeline):
    print("WORKER a2", os.environ.get("PYTEST_XDIST_WORKER"))
'''

TESTS_B = '''
import os, pytest

@pytest.fixture(scope="session")
def deaths_simulated():
    return None

def test_b1(deaths_simulated):
    print("WORKER b1", os.environ.get("PYTEST_XDIST_WORKER"))

def test_b2():
    pass

def test_b3():
    pass
'''


def test_tests_sharing_a_session_fit_run_on_one_worker(tmp_path):
    """With ``-n 2 --dist loadgroup`` (``make test``), every test using the session
    pipeline or the simulated deaths world lands on the same worker, so neither is built
    twice (pytest-xdist 3.8 with pytest 9.2 needs the conftest's renaming for this)."""
    tests = tmp_path / "tests"
    tests.mkdir()
    shutil.copy(HERE / "conftest.py", tests / "conftest.py")
    (tests / "test_a.py").write_text(TESTS_A)
    (tests / "test_b.py").write_text(TESTS_B)
    done = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup",
                           "-v", "-p", "no:cacheprovider", str(tests)], check=False,
                          cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    workers = {}
    for line in done.stdout.splitlines():
        if "PASSED" in line and "::test_" in line:
            worker = line.split("]")[0].strip("[")
            workers[line.split("::")[-1].split()[0]] = worker
    names = ("test_a1@pipeline", "test_a2@pipeline", "test_b1@pipeline")
    assert set(names) <= set(workers), f"tests not named by their group: {workers}"
    assert len({workers[n] for n in names}) == 1, workers
