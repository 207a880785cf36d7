"""Fixtures of the deployment tests: the package's sources and its wheel."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.support import REPO, build_context_sources


@pytest.fixture(scope="session")
def source_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of exactly the files the Dockerfile builds from, plus the Makefile.

    Building in a copy keeps build/ and *.egg-info out of the work tree, and proves that these
    files are enough to build the package.
    """
    tree = tmp_path_factory.mktemp("source")
    for name in [*build_context_sources(), "Makefile"]:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, tree / name)
    return tree


@pytest.fixture(scope="session")
def wheel(source_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package's wheel, built as the Dockerfile's build stage builds it."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir",
                    str(out), str(source_tree)], check=True, timeout=300)
    (built,) = out.glob("dynamic_dynamodb-*.whl")
    return built
