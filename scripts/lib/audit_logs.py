"""Audits every session log of a Viva Redis (Cluster) after a run: each log's seqs are 1, 2,
3, ... with none skipped or repeated, and the epoch that wrote each event (the stream entry's
`w` field) never goes down along the log: no writer wrote after a newer owner had taken the
session over (0 double writers). A finished session compacted into an archive
(`viva:{<session>}:archive`, field `w`: the writers of its entries, in order, 0 for none) is
audited the same way, counted as a log: its seqs are 1..n by construction (it is written only
from a whole log), so its writers are what is checked. Prints one JSON line of counts; exit
status 1 on any breach.

    python3 scripts/lib/audit_logs.py HOST:PORT [HOST:PORT ...]   # the masters (or any nodes)
"""

import json
import subprocess
import sys


def cli(node, *args):
    host, port = node.rsplit(":", 1)
    return subprocess.run(["redis-cli", "-h", host, "-p", port, *args],
                          check=True, capture_output=True, text=True).stdout


def masters(nodes):
    """The masters among `nodes` (a key lives on one master; replicas would repeat it)."""
    found = []
    for node in nodes:
        role = cli(node, "ROLE").split("\n", 1)[0]
        if "master" in role:
            found.append(node)
    return found


# Each entry's id and writer, computed by the server (the entries' bytes are binary).
IDS_AND_WRITERS = """
local out = {}
for _, entry in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do
  local writer = '-'
  for i = 1, #entry[2], 2 do if entry[2][i] == 'w' then writer = entry[2][i + 1] end end
  out[#out + 1] = entry[1] .. ' ' .. writer
end
return out
"""


def entries(node, key):
    """(seq, writer epoch or None) of each entry of a log."""
    lines = cli(node, "--raw", "EVAL", IDS_AND_WRITERS, "1", key).split("\n")
    result = []
    for line in filter(None, lines):
        parts = line.split(" ")
        if len(parts) != 2:  # Redis answered an error (the cluster down, a slot moved)
            sys.exit(f"cannot read {key} on {node}: {line}")
        entry_id, writer = parts
        result.append((int(entry_id.split("-")[0]), None if writer == "-" else int(writer)))
    return result


def archived(node, key):
    """(seq, writer epoch or None) of each entry of an archive (seqs implied: 1..n)."""
    writers = cli(node, "--raw", "HGET", key, "w").strip()
    if not writers or not all(w.isdigit() for w in writers.split(",")):
        sys.exit(f"cannot read {key} on {node}: {writers!r}")
    return [(seq, int(w) or None) for seq, w in enumerate(writers.split(","), 1)]


def main():
    nodes = sys.argv[1:]
    logs = sessions_moved = events = 0
    breaches = []
    for node in masters(nodes):
        found = [(key, entries) for key in cli(node, "--scan", "--pattern", "viva:{*}:log").split()]
        found += [(key, archived) for key in cli(node, "--scan", "--pattern", "viva:{*}:archive").split()]
        for key, read in found:
            log = read(node, key)
            logs += 1
            events += len(log)
            seqs = [seq for seq, _ in log]
            if seqs != list(range(1, len(log) + 1)):
                breaches.append(f"{key}: seqs {seqs[:5]}... not 1..{len(log)}")
            writers = [w for _, w in log]
            if any(w is None for w in writers):
                breaches.append(f"{key}: an entry without its writer's epoch")
                continue
            if any(b < a for a, b in zip(writers, writers[1:])):
                breaches.append(f"{key}: a stale epoch wrote after a newer one: {writers}")
            if len(set(writers)) > 1:
                sessions_moved += 1
    print(json.dumps({"logs": logs, "events": events, "logs_written_by_several_epochs": sessions_moved,
                      "breaches": len(breaches), "examples": breaches[:5]}))
    sys.exit(1 if breaches else 0)


if __name__ == "__main__":
    main()
