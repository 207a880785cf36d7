"""`make install` puts the package and its command into the Python environment it is given."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from dynamic_dynamodb import __version__

INSPECT = """
import importlib.metadata as metadata, json
distribution = metadata.distribution("dynamic-dynamodb")
print(json.dumps({
    "version": distribution.version,
    "location": str(distribution.locate_file("dynamic_dynamodb/__init__.py")),
    "scripts": [entry.value for entry in distribution.entry_points
                if entry.group == "console_scripts" and entry.name == "dynamic-dynamodb"],
}))
"""


def test_make_install_into_the_given_python(source_tree: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    # Dependencies are pip's business (test_user_data installs them); skipping them saves time.
    env = {**os.environ, "PIP_NO_DEPS": "1"}
    subprocess.run(["make", "-C", str(source_tree), "install", f"PYTHON={python}"], env=env,
                   check=True, timeout=300, capture_output=True)

    # -I: neither the current directory (the work tree) nor PYTHONPATH is on sys.path.
    installed = json.loads(subprocess.run([str(python), "-I", "-c", INSPECT], capture_output=True,
                                          text=True, check=True, timeout=60).stdout)
    assert installed["version"] == __version__
    # A real install into the environment's site-packages, not a link to the source tree.
    assert installed["location"].startswith(str(venv))
    assert Path(installed["location"]).is_file()
    assert installed["scripts"] == ["dynamic_dynamodb.cli:main"]
    assert (venv / "bin" / "dynamic-dynamodb").is_file()
