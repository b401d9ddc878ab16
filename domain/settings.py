"""Settings: one `LEDGER_DATABASE_URL` picks the store; this maps it to eventsourcing.

    sqlite:///./ledger.db                (default: an embedded file)
    sqlite:///:memory:
    postgresql://user:password@host:5432/db?schema=ledger

The URL is read in one place, `parse_database_url` (`Settings.database()`): the event
store's environment and the views' connections are made from what it returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGER_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///./ledger.db"
    # Keys the digests that keep resident ID numbers unique. No default: a leaked or
    # guessable key would make the digests reversible.
    id_key: SecretStr
    # Encrypt the personal fields of stored events: `id:key` entries, the current key first,
    # the older ones kept to read what they sealed (domain/personal.py). No default either.
    data_keys: SecretStr
    timezone: str = "Asia/Shanghai"
    create_tables: bool = True
    # inline: this process keeps the views current after each command (the embedded
    # default); worker: a separate `python -m projections.worker` process does.
    projections: Literal["inline", "worker"] = "inline"
    # How long a read with min_position waits for the views before answering 503.
    read_wait_seconds: float = 5.0
    # How long a request holding an Idempotency-Key is taken to be still running: past it
    # (or at once when its process is known dead), a retry with the same key takes it over.
    idempotency_lease_seconds: float = 30.0
    # How many aggregates a ledger process keeps in memory to decide commands on.
    aggregate_cache: int = 10_000
    # Whether an import leaves a snapshot of each organization it saved (api/importing/job.py).
    import_snapshots: bool = True
    # How many reads may wait for the views at once; the next answers 503 at once.
    read_waiters: int = 100
    # Signs the sealed log's checkpoints (HMAC-SHA256, domain/sealing.py). Kept outside the
    # database, with no default: without it no checkpoint is given nor checked.
    checkpoint_key: SecretStr | None = None

    @field_validator("database_url")
    @classmethod
    def _a_store(cls, value: str) -> str:
        """A URL `parse_database_url` reads (refused here, so that every command and server
        names the setting in one line rather than failing later on it)."""
        parse_database_url(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _a_zone(cls, value: str) -> str:
        """A zone of the IANA database (`zoneinfo`), such as Asia/Shanghai."""
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("not a time zone of the IANA database, such as Asia/Shanghai") from None
        return value

    def database(self) -> DatabaseURL:
        """The store `database_url` names (ValueError when it names none)."""
        return parse_database_url(self.database_url)

    def checkpoint_secret(self) -> bytes:
        """The checkpoint key's bytes; `MissingSetting` when it is not set (or too short)."""
        return checkpoint_secret(self.checkpoint_key)

    def event_store_env(self) -> dict[str, str]:
        env = store_env(self.database_url, create_tables=self.create_tables)
        env["LEDGER_ID_KEY"] = self.id_key.get_secret_value()
        env["LEDGER_DATA_KEYS"] = self.data_keys.get_secret_value()
        env["LEDGER_TIMEZONE"] = self.timezone
        env["LEDGER_AGGREGATE_CACHE"] = str(self.aggregate_cache)
        env["LEDGER_IMPORT_SNAPSHOTS"] = "true" if self.import_snapshots else "false"
        return env


CHECKPOINT_KEY_SETTING = "LEDGER_CHECKPOINT_KEY"


def named_problems(error: ValidationError) -> str:
    """The settings pydantic refused, on one line: each by its variable (`LEDGER_...`) and
    the problem, never with the value given."""
    return "; ".join(f"LEDGER_{'.'.join(map(str, e['loc'])).upper()}: {e['msg'].removeprefix('Value error, ')}"
                     for e in error.errors())


def faulty_settings(error: ValidationError) -> set[str]:
    """The variables (`LEDGER_...`) of the settings pydantic refused."""
    return {f"LEDGER_{'.'.join(map(str, e['loc'])).upper()}" for e in error.errors()}


class MissingSetting(Exception):
    """A setting a feature needs is not set: the message names it."""


class CheckpointSettings(BaseSettings):
    """The checkpoint key alone, for commands that need no store (`ledger verify --file`)."""

    model_config = SettingsConfigDict(env_prefix="LEDGER_", env_file=".env", extra="ignore")

    checkpoint_key: SecretStr | None = None


def checkpoint_secret(key: SecretStr | None) -> bytes:
    if key is None or not key.get_secret_value():
        raise MissingSetting(f"{CHECKPOINT_KEY_SETTING} is not set: checkpoints are signed with it "
                             "(a secret of 32+ characters kept outside the database)")
    value = key.get_secret_value()
    if len(value) < 32:
        raise MissingSetting(f"{CHECKPOINT_KEY_SETTING} must be a secret of at least 32 characters")
    return value.encode()


SQLITE_SHARED_MEMORY = "file::memory:?mode=memory&cache=shared"  # one in-memory database per process


@dataclass(frozen=True)
class DatabaseURL:
    """A `LEDGER_DATABASE_URL`, read: SQLite (a file, or `:memory:`) or PostgreSQL."""

    kind: Literal["sqlite", "postgres"]
    path: str = ""  # SQLite: the file, or ":memory:"
    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "postgres"
    password: str = field(default="", repr=False)
    dbname: str = "postgres"
    schema: str | None = None  # PostgreSQL: `?schema=`, the tables' schema
    pool_size: str = "5"  # PostgreSQL: `?pool_size=`, the event store's pool

    @property
    def location(self) -> str:
        """Where the store is, without its credentials: the file, or host:port/db (schema)."""
        if self.kind == "sqlite":
            return self.path
        return f"{self.host}:{self.port}/{self.dbname}" + (f" (schema {self.schema})" if self.schema else "")

    @property
    def in_memory(self) -> bool:
        return self.kind == "sqlite" and self.path == ":memory:"

    @property
    def sqlite_name(self) -> str:
        """What sqlite3 opens: the file, or the process's shared in-memory database (a URI)."""
        return SQLITE_SHARED_MEMORY if self.in_memory else self.path

    def connect_args(self) -> dict[str, Any]:
        """PostgreSQL: the keyword arguments of `psycopg.connect`."""
        return {"host": self.host, "port": self.port, "user": self.user, "password": self.password,
                "dbname": self.dbname}


def parse_database_url(database_url: str) -> DatabaseURL:
    """Read a database URL: `sqlite:///PATH` (`sqlite:///:memory:`), or
    `postgresql://user:password@host:port/db?schema=NAME&pool_size=N` (also `postgres://`,
    `postgresql+psycopg://`; every part optional). ValueError for anything else."""
    parts = urlsplit(database_url)
    if parts.scheme == "sqlite":
        path = unquote(database_url[len("sqlite:///"):]) if database_url.startswith("sqlite:///") else ""
        if not path:
            raise ValueError("a SQLite URL looks like sqlite:///./ledger.db")
        return DatabaseURL("sqlite", path=path)
    if parts.scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        query = parse_qs(parts.query)
        return DatabaseURL(
            "postgres",
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            user=unquote(parts.username or "postgres"),
            password=unquote(parts.password or ""),
            dbname=unquote(parts.path.lstrip("/")) or "postgres",
            schema=query["schema"][0] if "schema" in query else None,
            pool_size=query.get("pool_size", ["5"])[0],
        )
    raise ValueError("not the URL of a store: use sqlite:///PATH or postgresql://user:password@host/db")


def store_env(database_url: str, *, create_tables: bool = True) -> dict[str, str]:
    """The eventsourcing environment for a database URL."""
    db = parse_database_url(database_url)
    create = "y" if create_tables else "n"
    if db.kind == "sqlite":
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": db.sqlite_name,
            "SQLITE_LOCK_TIMEOUT": "10",
            "CREATE_TABLE": create,
        }
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        # Saves without eventsourcing's table lock; readers see the log in id order,
        # held back at a transaction still in flight (domain/pglog.py).
        "APPLICATION_RECORDER_TOPIC": "domain.ledger.recorders:PostgresRecorder",
        "POSTGRES_DBNAME": db.dbname,
        "POSTGRES_HOST": db.host,
        "POSTGRES_PORT": str(db.port),
        "POSTGRES_USER": db.user,
        "POSTGRES_PASSWORD": db.password,
        "POSTGRES_CONNECT_TIMEOUT": "5",
        "POSTGRES_LOCK_TIMEOUT": "5",
        "POSTGRES_POOL_SIZE": db.pool_size,
        "POSTGRES_MAX_OVERFLOW": "5",
        "POSTGRES_MAX_WAITING": "20",
        # A pooled connection is checked as it is lent (unless lent within the last second,
        # domain/pgpool.py): after the database restarted, a dead one is replaced instead of
        # failing the command that got it.
        "POSTGRES_PRE_PING": "y",
        "CREATE_TABLE": create,
    }
    if db.schema is not None:
        env["POSTGRES_SCHEMA"] = db.schema
    return env
