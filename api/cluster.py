"""The deployment for more load: several `ledger serve` processes and one projection worker
on one PostgreSQL store, started by one command (`ledger serve --workers N`).

Each serve process has its own Ledger (its own writer thread, cache and connection pool);
their decisions stay correct together because each save is checked against everything its
commands read (domain/ledger/recorders.py). The views are kept by one projection worker
(`python -m projections.worker`), not inline by every serve process.

Start order matters: the event tables, the views and the idempotency table are created once,
here, before any process starts (several processes creating them at the same moment
collide), and every process started after runs with `LEDGER_CREATE_TABLES=false`. The serve
processes are uvicorn's workers on one listening socket (the kernel spreads the connections
among them); uvicorn restarts a worker that dies. Stopping the command (Ctrl-C, SIGTERM)
stops the serve processes, then the projection worker.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys

from api.idempotency import setup as setup_idempotency
from domain.ledger import Ledger
from domain.settings import Settings
from projections.db import ViewDatabase
from projections.engine import ProjectionEngine

log = logging.getLogger(__name__)

# Connections to PostgreSQL a process may hold at most: the Ledger's pool (5, plus 5
# overflow: domain/settings.py), and for a serve process with the views kept by the worker
# its view pool (4), its projection engine's connection and the one that reads the views'
# position for waiting reads; for the worker, its engine's connection.
LEDGER_POOL = 5 + 5
SERVE_CONNECTIONS = LEDGER_POOL + 4 + 1 + 1
WORKER_CONNECTIONS = LEDGER_POOL + 1


def connections(workers: int) -> int:
    """The most connections `ledger serve --workers N` holds: size max_connections above it."""
    return workers * SERVE_CONNECTIONS + WORKER_CONNECTIONS


def prepare(settings: Settings) -> None:
    """Create the store's tables (events, views, idempotency keys) once, in this process."""
    ledger = Ledger(settings.model_copy(update={"create_tables": True}).event_store_env())
    try:
        engine = ProjectionEngine(ledger, ViewDatabase(settings.database_url))  # creates the views
        engine.db.close()
        db = ViewDatabase(settings.database_url)
        try:
            setup_idempotency(db)
        finally:
            db.close()
    finally:
        ledger.close()


def serve(settings: Settings, host: str, port: int, workers: int) -> None:
    """Prepare the store, start the projection worker and `workers` serve processes on
    host:port; returns when they are stopped."""
    import uvicorn

    if settings.database().kind != "postgres":
        raise ValueError("several serve processes need PostgreSQL (LEDGER_DATABASE_URL=postgresql://…)")
    prepare(settings)
    os.environ["LEDGER_CREATE_TABLES"] = "false"
    os.environ["LEDGER_PROJECTIONS"] = "worker"
    log.info("%d serve processes and the projection worker hold at most %d connections to PostgreSQL",
             workers, connections(workers))
    worker = subprocess.Popen([sys.executable, "-m", "projections.worker"], env=os.environ.copy())
    try:
        uvicorn.run("api.app:served_app", factory=True, host=host, port=port, workers=workers,
                    log_level="info")
    finally:
        stop(worker)


def stop(process: subprocess.Popen[bytes], grace: float = 30.0) -> None:
    """SIGTERM, then SIGKILL once `grace` seconds have passed; waits for the end."""
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
