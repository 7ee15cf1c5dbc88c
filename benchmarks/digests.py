"""Digests of every table a run makes, for checking that a speed-up changes no result.

A change that should leave the model's numbers alone (a vectorisation, a cache, a faster
write) must leave these digests alone. Run it before the change with ``--save`` and
after it with ``--check``::

    python benchmarks/digests.py --save /tmp/before.json      # on the old code
    python benchmarks/digests.py --check /tmp/before.json     # on the new code: exit 1 on any difference

The scenarios cover both configurations, the reform and its re-tender variant, another
budget and staffing cell, the calls of 2007-2013 and 2014-2020, a short window, and (with
``--region``) the whole register. A digest is the SHA-256 of each table's column names,
types and values (its Arrow IPC bytes, index included), so equal digests mean equal
tables to the bit.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time

import pandas as pd
import pyarrow as pa

from clustersim.config import load_config
from clustersim.runner import simulate

SCENARIOS: dict[str, list[str]] = {
    "small_twelve": ["population=small", "clusters=twelve"],
    "small_reform": ["population=small", "clusters=reform"],
    "small_seven": ["population=small", "clusters=seven"],
    "small_retender": ["population=small", "clusters=twelve_retender"],
    "small_cell": ["population=small", "clusters=reform", "funding=erdf_half", "staffing=lean"],
    "small_short": ["population=small", "clusters=reform", "end=2017-03", "report_start=2016-10"],
    "piedmont_twelve": ["clusters=twelve", "replication=3"],
    "piedmont_reform": ["clusters=reform", "replication=3"],
}
REGION = {"region": ["population=region_all_firms"]}


def digest(table: pd.DataFrame) -> str:
    sink = pa.BufferOutputStream()
    arrow = pa.Table.from_pandas(table, preserve_index=True)
    with pa.ipc.new_stream(sink, arrow.schema) as writer:
        writer.write_table(arrow)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()[:16]


def run(scenarios: dict[str, list[str]]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for name, overrides in scenarios.items():
        t = time.perf_counter()
        tables = simulate(load_config(["progress=false", "seed=11", *overrides]))
        out[name] = {k: digest(v) for k, v in sorted(tables.items())}
        print(f"{name}: {time.perf_counter() - t:.2f} s", file=sys.stderr)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--save", metavar="JSON", help="write the digests here")
    g.add_argument("--check", metavar="JSON", help="compare with the digests saved here; exit 1 on a difference")
    p.add_argument("--region", action="store_true", help="also the whole register (428,457 firms)")
    p.add_argument("--only", nargs="*", help="only these scenarios")
    a = p.parse_args(argv)
    scenarios = dict(SCENARIOS, **(REGION if a.region else {}))
    if a.only:
        scenarios = {k: v for k, v in scenarios.items() if k in a.only}
    got = run(scenarios)
    if a.save:
        with open(a.save, "w") as f:
            json.dump(got, f, indent=1, sort_keys=True)
        print(f"saved {sum(len(v) for v in got.values())} digests of {len(got)} scenarios to {a.save}")
        return 0
    with open(a.check) as f:
        want = json.load(f)
    bad = [
        f"{s}/{t}"
        for s in got
        for t in sorted(set(got[s]) | set(want.get(s, {})))
        if s in want and got[s].get(t) != want[s].get(t)
    ]
    if bad:
        print("DIFFERENT: " + ", ".join(bad))
        return 1
    print(f"identical: {sum(len(v) for v in got.values())} tables of {len(got)} scenarios")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
