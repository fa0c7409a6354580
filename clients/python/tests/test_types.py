"""The package's type hints hold: mypy --strict over it and its tests (settings in
pyproject.toml), so that `py.typed` promises nothing false to the code that uses it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]


def test_mypy_strict_finds_nothing() -> None:
    checked = subprocess.run([sys.executable, "-m", "mypy"], cwd=PACKAGE, capture_output=True, text=True, timeout=300)
    assert checked.returncode == 0, checked.stdout + checked.stderr
