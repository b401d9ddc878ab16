"""Settings: one `LEDGER_DATABASE_URL` picks the store; this maps it to eventsourcing.

    sqlite:///./ledger.db                (default: an embedded file)
    sqlite:///:memory:
    postgresql://user:password@host:5432/db?schema=ledger
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import SecretStr
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
    # How many reads may wait for the views at once; the next answers 503 at once.
    read_waiters: int = 100
    # Signs the sealed log's checkpoints (HMAC-SHA256, domain/sealing.py). Kept outside the
    # database, with no default: without it no checkpoint is given nor checked.
    checkpoint_key: SecretStr | None = None

    def checkpoint_secret(self) -> bytes:
        """The checkpoint key's bytes; `MissingSetting` when it is not set (or too short)."""
        return checkpoint_secret(self.checkpoint_key)

    def event_store_env(self) -> dict[str, str]:
        env = store_env(self.database_url, create_tables=self.create_tables)
        env["LEDGER_ID_KEY"] = self.id_key.get_secret_value()
        env["LEDGER_DATA_KEYS"] = self.data_keys.get_secret_value()
        env["LEDGER_TIMEZONE"] = self.timezone
        env["LEDGER_AGGREGATE_CACHE"] = str(self.aggregate_cache)
        return env


CHECKPOINT_KEY_SETTING = "LEDGER_CHECKPOINT_KEY"


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


def store_env(database_url: str, *, create_tables: bool = True) -> dict[str, str]:
    """The eventsourcing environment for a database URL."""
    parts = urlsplit(database_url)
    create = "y" if create_tables else "n"
    if parts.scheme == "sqlite":
        path = unquote(database_url[len("sqlite:///"):]) if database_url.startswith("sqlite:///") else ""
        if not path:
            raise ValueError("a SQLite URL looks like sqlite:///./ledger.db")
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": path if path != ":memory:" else "file::memory:?mode=memory&cache=shared",
            "SQLITE_LOCK_TIMEOUT": "10",
            "CREATE_TABLE": create,
        }
    if parts.scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        query = parse_qs(parts.query)
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            # Saves without eventsourcing's table lock; readers see the log in id order,
            # held back at a transaction still in flight (domain/pglog.py).
            "APPLICATION_RECORDER_TOPIC": "domain.ledger.recorders:PostgresRecorder",
            "POSTGRES_DBNAME": unquote(parts.path.lstrip("/")) or "postgres",
            "POSTGRES_HOST": parts.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": unquote(parts.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
            "POSTGRES_CONNECT_TIMEOUT": "5",
            "POSTGRES_LOCK_TIMEOUT": "5",
            "POSTGRES_POOL_SIZE": query.get("pool_size", ["5"])[0],
            "POSTGRES_MAX_OVERFLOW": "5",
            "POSTGRES_MAX_WAITING": "20",
            # Each pooled connection is checked as it is lent: after the database restarted, a
            # dead one is replaced instead of failing the command that got it.
            "POSTGRES_PRE_PING": "y",
            "CREATE_TABLE": create,
        }
        if "schema" in query:
            env["POSTGRES_SCHEMA"] = query["schema"][0]
        return env
    raise ValueError(f"unsupported LEDGER_DATABASE_URL scheme {parts.scheme!r}: use sqlite or postgresql")
