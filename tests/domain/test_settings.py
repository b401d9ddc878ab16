"""One reader of LEDGER_DATABASE_URL (`parse_database_url`, `Settings.database()`): what it
reads from each form of URL, and the event store's environment made from it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from domain.settings import (
    SQLITE_SHARED_MEMORY,
    DatabaseURL,
    Settings,
    faulty_settings,
    named_problems,
    parse_database_url,
    store_env,
)


def test_a_sqlite_url_names_a_file_or_the_memory() -> None:
    assert parse_database_url("sqlite:///./ledger.db") == DatabaseURL("sqlite", path="./ledger.db")
    assert parse_database_url("sqlite:////tmp/a%20b.db").path == "/tmp/a b.db"
    memory = parse_database_url("sqlite:///:memory:")
    assert memory.in_memory and memory.sqlite_name == SQLITE_SHARED_MEMORY
    assert parse_database_url("sqlite:///x.db").sqlite_name == "x.db"


def test_a_postgresql_url_reads_every_part_and_defaults_the_missing_ones() -> None:
    db = parse_database_url("postgresql://ledger:p%40ss@db.example:6543/prod?schema=province&pool_size=9")
    assert db == DatabaseURL("postgres", host="db.example", port=6543, user="ledger", password="p@ss",
                             dbname="prod", schema="province", pool_size="9")
    assert db.connect_args() == {"host": "db.example", "port": 6543, "user": "ledger", "password": "p@ss",
                                 "dbname": "prod"}
    assert db.location == "db.example:6543/prod (schema province)"
    for scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        assert parse_database_url(f"{scheme}://") == DatabaseURL(
            "postgres", host="127.0.0.1", port=5432, user="postgres", password="", dbname="postgres")


def test_the_password_is_not_shown() -> None:
    db = parse_database_url("postgresql://ledger:hunter2-secret@db/prod")
    assert "hunter2" not in repr(db) and "hunter2" not in db.location


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:relative.db", "mysql://x/y", "ledger.db", ""])
def test_anything_else_is_refused(url: str) -> None:
    with pytest.raises(ValueError):
        parse_database_url(url)


def test_the_settings_read_their_url_with_it() -> None:
    settings = Settings(database_url="postgresql://u@h/d?schema=s", id_key="k", data_keys="d")  # type: ignore[arg-type]
    assert settings.database() == parse_database_url(settings.database_url)


def test_the_event_stores_environment_is_made_from_it() -> None:
    assert store_env("sqlite:///:memory:", create_tables=False) == {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": SQLITE_SHARED_MEMORY,
        "SQLITE_LOCK_TIMEOUT": "10", "CREATE_TABLE": "n",
    }
    env = store_env("postgresql://ledger:p%40ss@db.example:6543/prod?schema=province&pool_size=9")
    assert {k: v for k, v in env.items() if k.startswith("POSTGRES_")} == {
        "POSTGRES_DBNAME": "prod", "POSTGRES_HOST": "db.example", "POSTGRES_PORT": "6543",
        "POSTGRES_USER": "ledger", "POSTGRES_PASSWORD": "p@ss", "POSTGRES_CONNECT_TIMEOUT": "5",
        "POSTGRES_LOCK_TIMEOUT": "5", "POSTGRES_POOL_SIZE": "9", "POSTGRES_MAX_OVERFLOW": "5",
        "POSTGRES_MAX_WAITING": "20", "POSTGRES_PRE_PING": "y", "POSTGRES_SCHEMA": "province",
    }
    assert (env["PERSISTENCE_MODULE"], env["CREATE_TABLE"]) == ("eventsourcing.postgres", "y")
    assert "POSTGRES_SCHEMA" not in store_env("postgresql://h/d")


@pytest.mark.parametrize(("field", "value"), [("database_url", "mysql://x/y"), ("database_url", "sqlite:///"),
                                              ("timezone", "Mars/Base"), ("timezone", "")])
def test_the_settings_refuse_a_store_or_zone_that_is_none(field: str, value: str) -> None:
    """Refused as the settings are read, naming the setting (and not the value given)."""
    with pytest.raises(ValidationError) as refused:
        Settings(id_key="k", data_keys="d", **{field: value})  # type: ignore[arg-type]
    said = named_problems(refused.value)
    assert said.startswith(f"LEDGER_{field.upper()}: ") and "Value error" not in said
    assert faulty_settings(refused.value) == {f"LEDGER_{field.upper()}"}
    assert Settings(id_key="k", data_keys="d", timezone="Europe/Berlin").timezone == "Europe/Berlin"  # type: ignore[arg-type]
