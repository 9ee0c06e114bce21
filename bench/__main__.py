"""`make bench`: run every benchmark and print one table. Not part of `make test`.

    .venv/bin/python -m bench            # the full set
    .venv/bin/python -m bench --quick    # smaller data sets, for a first look

Each benchmark is a standalone script in bench/ that prints a `BENCH-RESULT {json}` line and appends
its figures to bench/results/<name>.jsonl (the history, with the machine and the commit).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _django import machine  # noqa: E402

BENCHES = {
    # name: (script, full arguments, quick arguments)
    "allegro_sync": ("allegro_sync.py", ["--threads", "1000"], ["--threads", "200"]),
    "sla_tick": ("sla_tick.py", [], ["--clocks", "100000", "--records", "20000", "--runs", "3"]),
    "email_ingest": ("email_ingest.py", ["--count", "10000"], ["--count", "1000", "--skip-imap"]),
    "boards": ("boards.py", ["--conversations", "100000"], ["--conversations", "100000", "--runs", "3"]),
    # Both build (once) and reuse the data set of bench/dataset.py: 1,000,000 conversations /
    # 10,000,000 messages in full, 100,000 / 1,000,000 in the quick set.
    "inbox_pages": ("inbox_pages.py", [], ["--conversations", "100000"]),
    "load": ("load.py", [], ["--conversations", "100000", "--duration", "20"]),
    # Search (issue #9) on the same data set: 1,000,000 conversations in full, 100,000 quick.
    "search": ("search.py", ["--conversations", "1000000"], ["--conversations", "100000"]),
}


def flatten(prefix: str, value, rows: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            flatten(f"{prefix}.{key}" if prefix else key, inner, rows)
    else:
        rows.append((prefix, str(value)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("only", nargs="*", help="benchmark names (default: all)")
    args = parser.parse_args()
    rows: list[tuple[str, str, str]] = []
    failed = []
    for name, (script, full, quick) in BENCHES.items():
        if args.only and name not in args.only:
            continue
        cmd = [sys.executable, str(HERE / script), *(quick if args.quick else full)]
        print(f"running {name}: {' '.join(cmd[1:])}", flush=True)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        results = [line for line in proc.stdout.splitlines() if line.startswith("BENCH-RESULT ")]
        if proc.returncode != 0:
            failed.append(name)
            print(proc.stdout[-2000:], proc.stderr[-2000:], sep="\n")
            continue
        if not results:  # a benchmark that reports in prose (sla_tick): show its report as is
            print(proc.stdout)
            rows.append((name, "report", "printed above"))
        for line in results:
            figures = json.loads(line.removeprefix("BENCH-RESULT "))
            figures.pop("bench", None)
            flat: list[tuple[str, str]] = []
            flatten("", figures, flat)
            rows += [(name, key, value) for key, value in flat]
    width = max((len(r[1]) for r in rows), default=10)
    print(f"\nReplydesk benchmarks on {machine()}\n")
    print(f"{'benchmark':14} {'figure':{width}} value")
    for name, key, value in rows:
        print(f"{name:14} {key:{width}} {value}")
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
