"""Synthetic ledger histories for benchmarks and the demo (the generator is api/simulation.py).

    .venv/bin/python scripts/synthetic.py --scale city --database-url sqlite:////tmp/city.db
    .venv/bin/python scripts/synthetic.py --scale province --create-schema \
        --database-url 'postgresql://postgres:postgres@127.0.0.1:5432/test?schema=bench_province'
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.simulation import (  # re-exported for the benchmark scripts
    BENCH_DATA_KEYS,
    BENCH_ID_KEY,
    SCALES,
    Generator,
    Scale,
    create_schema,
    generate,
    ledger_for,
    main,
)

__all__ = ["BENCH_DATA_KEYS", "BENCH_ID_KEY", "SCALES", "Generator", "Scale", "create_schema", "generate", "ledger_for"]

if __name__ == "__main__":
    sys.exit(main())
