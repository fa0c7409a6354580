"""The real gateway for the tests: `VIVA_BASE` (scripts/python-client.sh starts one), or else
the binary at `VIVA_GATEWAY` (default: the workspace's target/debug/viva-gateway), started
here on a free loopback port with the scripted interviewer at pace 0."""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def base() -> Iterator[str]:
    given = os.environ.get("VIVA_BASE")
    if given:
        yield given
        return
    binary = os.environ.get("VIVA_GATEWAY", str(REPO / "target" / "debug" / "viva-gateway"))
    if not Path(binary).exists():
        pytest.fail(f"no gateway: set VIVA_BASE to a running one, or VIVA_GATEWAY to its binary ({binary} is missing)")
    gateway = subprocess.Popen(
        [binary, "--listen", "127.0.0.1:0", "--scripted-pace-ms", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert gateway.stdout is not None
        first = gateway.stdout.readline()
        listening = re.search(r"listening on (http://\S+)", first)
        assert listening, f"the gateway did not say where it listens: {first!r}"
        yield listening.group(1)
    finally:
        gateway.terminate()
        gateway.wait(timeout=30)


@pytest.fixture
def token() -> str:
    """A user of its own per test: a user may have only two live sessions at once."""
    return f"dev:py-{uuid.uuid4().hex[:12]}"
