"""One fixture, two stores: every test that takes `ledger` runs on SQLite and PostgreSQL.

Each test gets an isolated store: a fresh SQLite file, or a fresh PostgreSQL schema that
is dropped afterwards. PostgreSQL is found at LEDGER_TEST_POSTGRES_URL (default
postgresql://postgres:postgres@127.0.0.1:5432/test); where it can't be reached the PostgreSQL
half is skipped, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from domain.ledger import Ledger
from domain.personal import new_key_entry
from domain.settings import store_env
from projections.db import ViewDatabase
from projections.engine import ProjectionEngine
from projections.queries import Queries

TODAY = date(2026, 11, 20)
POSTGRES_URL = os.environ.get("LEDGER_TEST_POSTGRES_URL", "postgresql://postgres:postgres@127.0.0.1:5432/test")
TEST_ID_KEY = "test-only-key-" + uuid.uuid4().hex
TEST_DATA_KEYS = new_key_entry("test1")  # a fresh key each run: nothing depends on its value
# Settings built directly by tests (and the commands they run) read the data keys from the
# environment, as a deployment's do.
os.environ["LEDGER_DATA_KEYS"] = TEST_DATA_KEYS

_postgres_error: str | None = None
_postgres_checked = False


def postgres_available() -> None:
    """Skip (or, under CI=true, fail) when PostgreSQL can't be reached."""
    global _postgres_checked, _postgres_error
    if not _postgres_checked:
        _postgres_checked = True
        try:
            with psycopg.connect(POSTGRES_URL, connect_timeout=5):
                pass
        except psycopg.Error as error:
            _postgres_error = str(error).strip()
    if _postgres_error is not None:
        message = f"PostgreSQL unreachable at {POSTGRES_URL}: {_postgres_error}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


class Store:
    """A database URL for one test, and a way to open more ledgers on it."""

    def __init__(self, kind: str, url: str) -> None:
        self.kind, self.url = kind, url
        self._opened: list[Ledger] = []
        self._engines: list[ProjectionEngine] = []
        self._dbs: list[ViewDatabase] = []

    def env(self, **overrides: str) -> dict[str, str]:
        env = store_env(self.url)
        env["LEDGER_ID_KEY"] = TEST_ID_KEY
        env["LEDGER_DATA_KEYS"] = TEST_DATA_KEYS
        if "POSTGRES_LOCK_TIMEOUT" in env:
            # The suite's workers share one PostgreSQL cluster: a write transaction of one
            # test (a rebuild's, an import's) holds back the log's readers of every other
            # (domain/pglog.py). A reader waits for its own process's last save at most this
            # long (the product's default, 5 s, is tested in tests/domain/test_settings.py;
            # the bound itself in tests/projections/test_event_log.py).
            env["POSTGRES_LOCK_TIMEOUT"] = "30"
        env.update(overrides)
        return env

    def ledger(self, today: Callable[[], date] = lambda: TODAY, **overrides: str) -> Ledger:
        ledger = Ledger(self.env(**overrides), today=today)
        self._opened.append(ledger)
        return ledger

    def engine(self, ledger: Ledger, **options: int) -> ProjectionEngine:
        """A projection engine writing this store's views (its own connection)."""
        engine = ProjectionEngine(ledger, ViewDatabase(self.url), **options)
        self._engines.append(engine)
        return engine

    def queries(self) -> Queries:
        db = ViewDatabase(self.url)
        self._dbs.append(db)
        return Queries(db)

    def close(self) -> None:
        for engine in self._engines:
            engine.stop()
            engine.db.close()
        for db in self._dbs:
            db.close()
        for ledger in self._opened:
            ledger.close()


@contextmanager
def new_store(kind: str, directory: Path | str, prefix: str = "t") -> Iterator[Store]:
    """An empty store of `kind`: a new SQLite file in `directory`, or a new PostgreSQL schema
    (named `prefix`_ and 16 random hex digits) that is dropped afterwards."""
    if kind == "sqlite":
        s = Store("sqlite", f"sqlite:///{directory}/ledger.db")
        try:
            yield s
        finally:
            s.close()
        return
    postgres_available()
    schema = f"{prefix}_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    separator = "&" if "?" in POSTGRES_URL else "?"
    s = Store("postgres", f"{POSTGRES_URL}{separator}schema={schema}")
    try:
        yield s
    finally:
        s.close()
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite" and request.node.get_closest_marker("postgres_only"):
        pytest.skip("PostgreSQL only")
    with new_store(request.param, tmp_path) as s:
        yield s


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def shared_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """Like `store`, for a whole module: one store per kind that the module's tests share
    (each test then makes what it reads, or only reads what a module-scoped fixture made)."""
    with new_store(request.param, tmp_path_factory.mktemp("ledger")) as s:
        yield s


@pytest.fixture
def ledger(store: Store) -> Ledger:
    return store.ledger()


@pytest.fixture
def env(store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """The store, with the command line's environment pointing at it."""
    monkeypatch.setenv("LEDGER_DATABASE_URL", store.url)
    monkeypatch.setenv("LEDGER_ID_KEY", TEST_ID_KEY)
    monkeypatch.setenv("LEDGER_DATA_KEYS", TEST_DATA_KEYS)
    yield store
