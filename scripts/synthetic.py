"""Synthetic ledger histories for benchmarks and the demo (the generator is the package
api/simulation/; this script is `python -m api.simulation` under its older name).

    .venv/bin/python scripts/synthetic.py --scale city --database-url sqlite:////tmp/city.db
    .venv/bin/python scripts/synthetic.py --scale province --create-schema \
        --database-url 'postgresql://postgres:postgres@127.0.0.1:5432/test?schema=bench_province'

The project is installed in .venv (scripts/test does it), so `api` imports from anywhere.
"""

from __future__ import annotations

import sys

from api.simulation import (  # re-exported for the benchmark scripts
    BENCH_DATA_KEYS,
    BENCH_ID_KEY,
    SCALES,
    Generator,
    Scale,
    create_schema,
    generate,
    ledger_for,
)
from api.simulation.command import main

__all__ = ["BENCH_DATA_KEYS", "BENCH_ID_KEY", "SCALES", "Generator", "Scale", "create_schema", "generate", "ledger_for"]

if __name__ == "__main__":
    sys.exit(main())
