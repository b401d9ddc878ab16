"""The projection worker as a process of its own, following the store."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import date

from tests.conftest import TEST_ID_KEY, Store
from tests.factories import admit, build_tree
from tests.projections.reads import of_record


def test_a_separate_worker_process_brings_the_views_up_to_date(store: Store) -> None:
    ledger = store.ledger()
    build_tree(ledger)
    ledger_queries = store.queries()
    store.engine(ledger)  # creates the view tables, as set-up does
    env = {**os.environ, "LEDGER_DATABASE_URL": store.url, "LEDGER_ID_KEY": TEST_ID_KEY}
    worker = subprocess.Popen(
        [sys.executable, "-m", "projections.worker", "--poll-interval", "0.05"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        number = admit(ledger, 7)
        position = ledger.record_org_life(number, "XW-C1-B1", on=date(2026, 11, 2)).position
        deadline = time.monotonic() + 30
        while ledger_queries.position() < position:
            assert worker.poll() is None, worker.stdout.read() if worker.stdout else ""
            assert time.monotonic() < deadline, "the worker did not catch up within 30 s"
            time.sleep(0.05)
        assert of_record(ledger_queries, "XW-C1-B1", number) == [(number, "held", "XW-C1-B1")]
        # The org life recorded: the member's last active day, as the inactive list shows it.
        quiet, _ = ledger_queries.overdue("XW-C1-B1", date(2027, 6, 15), kind="inactive_6m")
        assert [(r["registration_no"], r["reference"]) for r in quiet] == [(number, "2026-11-02")]
    finally:
        worker.terminate()
        worker.wait(timeout=15)
    assert worker.returncode == 0


def test_a_worker_without_its_data_keys_says_which_setting_and_stops(store: Store, tmp_path: object) -> None:
    env = {k: v for k, v in os.environ.items() if k != "LEDGER_DATA_KEYS"}
    env.update(LEDGER_DATABASE_URL=store.url, LEDGER_ID_KEY=TEST_ID_KEY)
    for keys, says in ((None, "LEDGER_DATA_KEYS: Field required"), ("k1:short", "LEDGER_DATA_KEYS: the key of 'k1'")):
        if keys:
            env["LEDGER_DATA_KEYS"] = keys
        done = subprocess.run([sys.executable, "-m", "projections.worker"], env=env, cwd=str(tmp_path),
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith(f"configuration error: {says}") and "Traceback" not in done.stderr
        assert TEST_ID_KEY not in done.stderr
