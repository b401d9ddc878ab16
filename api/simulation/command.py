"""Synthetic ledger histories for the demo and the benchmarks: deterministic, realistic in shape.

The simulation as a script: a history into the store of a URL, its statistics as JSON on
standard output (`python -m api.simulation`, or scripts/synthetic.py).

    .venv/bin/python -m api.simulation --scale city --database-url sqlite:////tmp/city.db
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace

from api.simulation.generator import create_schema, generate, ledger_for
from api.simulation.trees import SCALES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=os.environ.get("LEDGER_DATABASE_URL"),
                        help="sqlite:////tmp/x.db or postgresql://...?schema=NAME (default $LEDGER_DATABASE_URL)")
    parser.add_argument("--create-schema", action="store_true", help="create the URL's PostgreSQL schema")
    parser.add_argument("--members", type=int, help="override the scale's number of members")
    parser.add_argument("--max-aggregates", type=int, default=250, help="aggregates per save")
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("give --database-url (or set LEDGER_DATABASE_URL)")
    scale = SCALES[args.scale]
    if args.members:
        scale = replace(scale, members=args.members)
    if args.create_schema:
        create_schema(args.database_url)
    ledger = ledger_for(args.database_url, scale)
    try:
        stats = generate(ledger, scale, args.seed, max_aggregates=args.max_aggregates,
                         progress=lambda line: print(line, file=sys.stderr, flush=True))
    finally:
        ledger.close()
    json.dump(stats, sys.stdout, indent=2, ensure_ascii=False, default=str)
    print()
    return 0
