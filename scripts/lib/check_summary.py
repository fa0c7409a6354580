"""Checks viva-load's JSON summary of a replay through several nodes (cluster-test.sh,
cluster-failover.sh): every interview completed, no protocol violation, and with `--nodes N`
some sessions reconnected and sockets reached all N gateways. Prints one line of figures
prefixed by NAME; exit status 1 with the problems otherwise.

    python3 scripts/lib/check_summary.py NAME SUMMARY.json SESSIONS [--nodes N]
"""

import json
import sys


def main():
    name, path, sessions = sys.argv[1], sys.argv[2], int(sys.argv[3])
    nodes = int(sys.argv[5]) if len(sys.argv) > 5 and sys.argv[4] == "--nodes" else None
    summary = json.load(open(path))
    s, c, r = summary["sessions"], summary["connections"], summary["latency_ms"]["reconnect"]
    problems = []
    if s["completed"] != sessions or s["failed"]:
        problems.append(f"{s['completed']}/{sessions} completed, failures {s['failures']}")
    if summary["violations"]["total"]:
        problems.append(f"violations {summary['violations']['by_kind']}")
    if nodes is not None and c["reconnects"] == 0:
        problems.append("no session reconnected: the killed node ran none")
    if nodes is not None and len(c["by_node"]) != nodes:
        problems.append(f"sockets went to {sorted(c['by_node'])}, not the {nodes} gateways")
    print(f"{name}: {s['completed']}/{sessions} interviews completed, {summary['violations']['total']} violations; "
          f"{c['reconnects']} reconnects ({c['moved']} moved), reconnect p50 {r['p50']} ms p99 {r['p99']} ms "
          f"max {r['max']} ms; sockets by node {c['by_node']}; errors {summary.get('errors', {})}")
    if problems:
        print(f"{name}: FAIL " + "; ".join(problems), file=sys.stderr)
        sys.exit(1)


main()
