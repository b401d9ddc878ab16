"""The store and the server: `ledger serve`, `ledger status`, `ledger new-data-key`."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated

import typer
from rich.markup import escape

from api.cli.common import err, first_root, open_engine, open_ledger, settings

commands = typer.Typer()


@commands.command()
def serve(
    host: str = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="the TCP port (0: any free one)")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help=(
        "serve processes on host:port; above 1 (PostgreSQL only) the tables are created first, "
        "once, and the views are kept by a projection worker this command starts too"))] = 1,
) -> None:
    """Run the HTTP API on the configured store (creates its tables if missing)."""
    import uvicorn

    from api.app import create_app

    if workers > 1:
        from api import cluster

        try:
            cluster.serve(settings(), host, port, workers)
        except ValueError as error:
            err.print(f"[red]usage_error:[/red] {escape(str(error))}", highlight=False)
            raise typer.Exit(2) from None
        return
    # A setting the ledger refuses (malformed data keys, a short LEDGER_ID_KEY), or data keys
    # that don't open the log when the views must be rebuilt (an upgrade changed their
    # tables): one line and exit 2 here, not a traceback from the server's start-up.
    ledger = open_ledger()
    open_engine(ledger).db.close()  # its set-up checks the keys before it drops views of an older version
    ledger.close()  # the server opens its own
    uvicorn.run(create_app(settings(), settle=True), host=host, port=port, log_level="info")


class StatusField(StrEnum):
    position = "position"
    root = "root"
    store = "store"
    lag = "lag"


@commands.command()
def status(field: Annotated[StatusField | None, typer.Option(help="print only this field")] = None) -> None:
    """The store's state: its last position, its first root department, and how far the
    views trail the log (`lag`: log_position, views_position, behind: events not yet
    applied to the views)."""
    import sqlite3

    import psycopg
    from eventsourcing.persistence import PersistenceError

    from projections.db import ViewDatabase
    from projections.engine import tracked_position, views_lag

    ledger = open_ledger()
    root = first_root(ledger)
    try:
        views = ViewDatabase(settings().database_url)
        try:
            lag = views_lag(ledger, tracked_position(views))
        finally:
            views.close()
    except (psycopg.Error, sqlite3.Error, PersistenceError) as error:
        err.print(f"[red]store_unavailable:[/red] {escape(str(error).strip())}")
        raise typer.Exit(2) from None
    info = {"position": ledger.max_position(), "root": root,
            "store": settings().database_url.split("@")[-1], "lag": lag}
    if field and isinstance(info.get(field.value), dict):
        typer.echo(json.dumps(info[field.value]))
    else:
        typer.echo(info[field.value] if field else json.dumps(info, ensure_ascii=False))


@commands.command("new-data-key")
def new_data_key(
    key_id: Annotated[str | None, typer.Option("--id", help="the key's id (default: k and the UTC date and time)")]
    = None,
) -> None:
    """A fresh data key as an `id:key` entry for LEDGER_DATA_KEYS, on standard output (to
    rotate, put it first and keep the older ones after it: README "Personal data at rest")."""
    from domain.personal import DataKeyError, DataKeys, new_key_entry

    if key_id is not None and not key_id:  # not the default id: an id typed empty by mistake
        err.print("[red]validation_error:[/red] --id is empty: give an id of 1-32 letters, digits, '_' or '-', "
                  "or leave --id out for the default", highlight=False)
        raise typer.Exit(2)
    entry = new_key_entry(key_id)
    try:
        DataKeys(entry)
    except DataKeyError as error:
        err.print(f"[red]validation_error:[/red] {escape(str(error))}", highlight=False)
        raise typer.Exit(2) from None
    typer.echo(entry)
