"""Commits of this repository checked out side by side, for the A/B scripts
(``steps_ab.py``, ``gradient_ab.py``)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def commit_trees(commits: dict[str, str], folder: Path) -> Iterator[dict[str, Path]]:
    """Within: each ``label: commit`` checked out in a detached git worktree under
    ``folder``; every worktree made is removed on the way out, also when a later
    checkout fails (a bad commit name)."""
    trees: dict[str, Path] = {}
    try:
        for label, commit in commits.items():
            path = Path(folder) / label
            subprocess.run(["git", "worktree", "add", "--detach", "-q", str(path), commit],
                           cwd=ROOT, check=True)
            trees[label] = path
        yield trees
    finally:
        for path in trees.values():
            subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=ROOT,
                           check=False)
