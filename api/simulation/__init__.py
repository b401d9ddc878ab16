"""Synthetic ledger histories for the demo, `ledger simulate` and the benchmarks:
deterministic, realistic in shape.

- `trees`: the scales (sizes, dates, yearly rates), the organization trees and the words
  people are made of;
- `generator`: the history day by day (`Generator`, `generate`), recorded through the
  Ledger's own commands; `acts`: what happens to whom, one act at a time; `stats`: what
  it counted;
- `runs`: a run of `ledger simulate` into a configured store (its dates, the check before
  a store is emptied, the summary); `command`: the script (`python -m api.simulation`).

As a library: `generate(ledger, scale, seed) -> stats` on an empty `Ledger`.
"""

from api.simulation.generator import (
    BENCH_DATA_KEYS,
    BENCH_ID_KEY,
    Generator,
    create_schema,
    generate,
    ledger_for,
)
from api.simulation.stats import Stats
from api.simulation.trees import GIVEN, HOLDING_KINDS, SCALES, SURNAMES, Scale, tree_province

__all__ = ["BENCH_DATA_KEYS", "BENCH_ID_KEY", "GIVEN", "HOLDING_KINDS", "SCALES", "SURNAMES", "Generator", "Scale",
           "Stats", "create_schema", "generate", "ledger_for", "tree_province"]
