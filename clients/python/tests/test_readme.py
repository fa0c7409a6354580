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
TOP_README = Path(__file__).resolve().parents[3] / "README.md"


def examples(readme: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", readme.read_text(), re.DOTALL)


def test_the_readme_example_runs_a_whole_interview(base: str) -> None:
    blocks = examples(README)
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


def test_the_top_readmes_fragment_is_the_example_s_heart() -> None:
    """The repository's README shows a fragment of the example: it must not drift from it."""
    example = {line.strip() for line in examples(README)[0].splitlines()}
    (fragment,) = examples(TOP_README)
    for line in fragment.strip().splitlines():
        # The one line that differs: the example also reads the gateway's URL from VIVA_URL.
        if not line.startswith("viva = Viva("):
            assert line.strip() in example, f"not in clients/python/README.md's example: {line}"
