"""The projection worker: follows the event store and keeps the views current, as a
process of its own (the way to run projections on PostgreSQL deployments).

    LEDGER_DATABASE_URL=postgresql://... LEDGER_ID_KEY=... LEDGER_DATA_KEYS=... python -m projections.worker
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import Any

from pydantic import ValidationError

from domain.ledger import Ledger
from domain.settings import Settings, named_problems
from projections import access
from projections.db import ViewDatabase
from projections.engine import ProjectionEngine


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m projections.worker", description=__doc__.splitlines()[0])
    parser.add_argument("--poll-interval", type=float, default=0.2, help="seconds between polls on SQLite")
    parser.add_argument("--batch-size", type=int, default=2000, help="events applied per transaction")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings(create_tables=False)  # type: ignore[call-arg]  # the event tables are created at set-up, once
        ledger = Ledger(settings.event_store_env())
    except ValidationError as error:  # named by field and problem, never with the values given
        print(f"configuration error: {named_problems(error)}", file=sys.stderr)
        return 2
    except ValueError as error:  # a setting the ledger refuses (a short LEDGER_ID_KEY, malformed LEDGER_DATA_KEYS)
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    engine = ProjectionEngine(ledger, ViewDatabase(settings.database_url), batch_size=args.batch_size)
    # The log's seals follow the log too (projections/sealer.py), and the access log's: woken
    # as the views move on.
    sealer = access.sealer(ledger, ViewDatabase(settings.database_url))
    engine.on_advanced.append(sealer.poke)
    sealer.start()

    def stop(*_: Any) -> None:
        engine.request_stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    logging.getLogger(__name__).info("projection worker following the store from position %d", engine.position)
    engine.run_forever(args.poll_interval)
    sealer.stop()
    ledger.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
