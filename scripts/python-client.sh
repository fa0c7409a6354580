#!/usr/bin/env bash
# The Python client (clients/python) against the gateway binary: installs the package with its
# test extra (skipped when this checkout's package is installed with the pinned versions),
# starts the gateway on a free port with the scripted interviewer at pace 0, and runs the
# client's tests against it. Prints its run time. Run from anywhere; scripts/test.sh calls it.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

# Installed already: this checkout's package (an editable install of another checkout would
# test that one), at the version and with the test tools pyproject.toml pins.
if ! python3 - <<'EOF'
import importlib.metadata as metadata
import pathlib
import sys
import tomllib

project = tomllib.loads(pathlib.Path("clients/python/pyproject.toml").read_text())["project"]
wanted = {"viva-client": project["version"]}
wanted.update(pin.split("==") for pin in project["optional-dependencies"]["test"])
try:
    if any(metadata.version(name) != version for name, version in wanted.items()):
        sys.exit(1)
    import viva_client
except (metadata.PackageNotFoundError, ImportError):
    sys.exit(1)
here = pathlib.Path("clients/python/src").resolve()
sys.exit(0 if pathlib.Path(viva_client.__file__).resolve().is_relative_to(here) else 1)
EOF
then
    echo "python-client: installing clients/python[test]"
    python3 -m pip install --quiet -e 'clients/python[test]'
fi

# shellcheck source=lib/gateway.sh
. scripts/lib/gateway.sh
start_gateway python-client --scripted-pace-ms 0

status=0
(cd clients/python && VIVA_BASE="$base" timeout 600 python3 -m pytest -q -p no:cacheprovider) || status=$?
[ "$status" -eq 0 ] || show_gateway_log
echo "python-client: run time $((SECONDS - started)) s"
exit "$status"
