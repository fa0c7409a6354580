"""The README's example runs exactly as written, against the real gateway."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

from viva_client import Viva

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_example_runs_a_whole_interview(base: str) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    assert len(blocks) == 1, "the README has one Python example"
    example = blocks[0]
    assert len([line for line in example.splitlines() if line.strip()]) <= 12, "the example stays short"
    done = subprocess.run(
        [sys.executable, "-c", example],
        env={**os.environ, "VIVA_URL": base},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"overall score: \d+(\.\d)?\n", done.stdout), done.stdout
    # It ran the whole interview: alice's newest session ended with every question answered.
    newest = asyncio.run(Viva(base, "dev:alice").my_sessions(limit=1))["items"][0]
    assert (newest["plan_id"], newest["status"]) == ("senior-backend", "ended")
    assert newest["answers"] >= 5
