"""The sealed log on the command line: `ledger checkpoint`, `ledger verify` and `ledger rebuild`,
and what `ledger export` does with the seals (domain/sealing.py,
projections/sealer.py).

- `ledger checkpoint [--output FILE]`: the last sealed position and its seal, signed with
  LEDGER_CHECKPOINT_KEY, as JSON `{position, root, signature}`; kept outside the database.
- `ledger verify [--checkpoint FILE]` recomputes the chain from the stored bytes (and that
  the log still extends the checkpoint); `ledger verify --file export.jsonl [--checkpoint
  FILE]` checks an exported file on its own, without the store.
- `ledger rebuild` refuses to rebuild the views from a log whose chain breaks.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import typer
from eventsourcing.persistence import JSONTranscoder, Mapper, StoredEvent
from eventsourcing.persistence import Transcoding as LibraryTranscoding
from eventsourcing.utils import TopicError
from rich.markup import escape
from rich.progress import Progress

from api.cli.common import emit, err, open_engine, open_ledger, progress_bar, settings
from api.services import event_record, stored_record
from domain.ledger import Ledger
from domain.personal import FIELD as PERSONAL_FIELD
from domain.personal import PERSONAL_FIELDS, DataKeys, PersonalDataMapper, PersonalDataUnreadable
from domain.sealing import (
    CHANGED,
    CHECKPOINT,
    GENESIS,
    INSERTED,
    MISSING,
    REORDERED,
    SEAL_CHANGED,
    SIGNATURE,
    Verdict,
    chain,
    digest,
    sign,
    signed_by,
)
from domain.settings import CheckpointSettings, MissingSetting, Settings, checkpoint_secret
from domain.transcodings import TRANSCODINGS
from projections import access
from projections.db import ViewDatabase
from projections.sealer import Sealer, events_log, last_seal, seal_with_progress, sealed_events, verify_chain

commands = typer.Typer()


def checkpoint_key(settings: Settings | None = None) -> bytes:
    """The checkpoint key from the settings; exit 2 naming the setting when it is not set."""
    try:
        if settings is not None:
            return settings.checkpoint_secret()
        return checkpoint_secret(CheckpointSettings().checkpoint_key)
    except MissingSetting as error:
        err.print(f"[red]configuration error:[/red] {error}", highlight=False)
        raise typer.Exit(2) from None


def read_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint file (exit 2 when it can't be read as one)."""
    try:
        found = json.loads(path.read_bytes())
    except (OSError, ValueError) as error:
        err.print(f"[red]validation_error:[/red] cannot read the checkpoint {path}: {error}", highlight=False)
        raise typer.Exit(2) from None
    if not isinstance(found, dict):
        err.print(f"[red]validation_error:[/red] {path} is no checkpoint", highlight=False)
        raise typer.Exit(2)
    return found


def unsigned(checkpoint: dict[str, Any] | None, key: bytes | None) -> Verdict | None:
    """A failed verdict when the checkpoint is not signed with the key, else None."""
    if checkpoint is None or key is None or signed_by(checkpoint, key):
        return None
    return Verdict(reason=SIGNATURE)


def verify_log(ledger: Ledger, db: ViewDatabase, checkpoint: dict[str, Any] | None,
               key: bytes | None, bar: Progress) -> Verdict:
    """Seal what is not yet, then recompute the chain, with a progress bar."""
    refused = unsigned(checkpoint, key)
    if refused is not None:
        return refused
    access.sealer(ledger, db).seal()  # the access log's rows (the events' come next, with progress)
    seal_with_progress(ledger, db, bar)
    task = bar.add_task("sealed log", total=ledger.max_position())
    return verify_chain(db, events_log(ledger, db), checkpoint,
                        progress=lambda done, total: bar.update(task, completed=done, total=total))


def verify_access_log(db: ViewDatabase) -> Verdict:
    """The access log's own chain, recomputed (after `verify_log` sealed it)."""
    access.setup(db)
    return verify_chain(db, access.access_log(db))


def report_break(verdict: Verdict, what: str = "sealed log") -> None:
    """The break, in words, on standard error."""
    if verdict.ok:
        return
    words = {CHANGED: "an event's stored bytes were changed", MISSING: "an event is missing",
             INSERTED: "an event was inserted", REORDERED: "events were moved or swapped",
             SEAL_CHANGED: "the seal stored for the event was altered",
             CHECKPOINT: "the log no longer ends in the checkpoint's root: an event at or before it was "
                         "changed and the seals recomputed",
             SIGNATURE: "the checkpoint is not signed with LEDGER_CHECKPOINT_KEY (altered, or another key)"}
    where = f" at position {verdict.first_bad_position}" if verdict.first_bad_position is not None else ""
    err.print(f"[red]{what} broken{where}:[/red] {verdict.reason}: {words.get(verdict.reason or '', '')}",
              highlight=False)


@commands.command()
def rebuild() -> None:
    """Rebuild every view from the first event, once the sealed log checks out: a log whose
    chain breaks is refused (exit 1, naming the position), never rebuilt over."""
    ledger = open_ledger()
    engine = open_engine(ledger)
    told = False

    def advance(done: int, total: int) -> None:
        nonlocal told
        bar.update(task, completed=done, total=total)
        if done >= total and not told:  # the rest takes a while on a large store: say what it is
            told = True
            bar.console.print("every event applied: writing the last batch, then building the views' indexes")

    with progress_bar("checking") as bar:
        verdict = verify_log(ledger, engine.db, None, None, bar)
    if not verdict.ok:
        report_break(verdict)
        typer.echo(json.dumps({"chain": verdict.as_dict()}, indent=2))
        err.print("[red]rebuild refused:[/red] the views would be derived from a log that is not the one "
                  "sealed; find out what changed it first")
        raise typer.Exit(1)
    with progress_bar("rebuilding") as bar:
        task = bar.add_task("events", total=ledger.max_position())
        position = engine.rebuild(progress=advance)
    typer.echo(f"rebuilt to position {position}")


def _difference(mismatch: dict[str, Any]) -> str:
    """A mismatch (`engine.difference`: names, never values) in words."""
    if mismatch["difference"] == "missing":
        return "missing from the view"
    if mismatch["difference"] == "extra":
        return "in the view but not re-derived from the events"
    return "differs in " + ", ".join(mismatch["columns"] or ["its values"])


@commands.command()
def verify(
    show: Annotated[int, typer.Option(min=1, help="list at most this many mismatches")] = 1000,
    checkpoint: Annotated[Path | None, typer.Option(
        help="a file of `ledger checkpoint`: also prove the log still extends it", dir_okay=False)] = None,
    file: Annotated[Path | None, typer.Option(
        help="check this file of `ledger export` on its own (no store), not the store", dir_okay=False)] = None,
) -> None:
    """Re-derive every view from the events and compare, and recompute the sealed log's
    chain from the stored bytes; exit 1 on any mismatch or break.

    Prints the result as JSON on standard output (`chain`: {ok, events, unsealed,
    first_bad_position, reason}; each mismatch as its view table, row key and the columns
    that differ, never their values), and each mismatch in words on standard error. The
    views are checked as they stand, at their position: `lag` says how far that trails the
    log, and standard error says so when it does. With --file only the exported file is
    checked."""
    found = read_checkpoint(checkpoint) if checkpoint is not None else None
    if file is not None:
        key = checkpoint_key() if found is not None else None
        try:
            with file.open("rb") as lines:
                verdict = verify_file(lines, found, key, file_keys())
        except OSError as error:
            err.print(f"[red]validation_error:[/red] cannot read {file}: {error.strerror}")
            raise typer.Exit(2) from None
        except PersonalDataUnreadable as error:  # as against the store: the keys, not the file, are at fault
            err.print(f"[red]configuration error:[/red] {escape(str(error))}", highlight=False)
            raise typer.Exit(2) from None
        typer.echo(json.dumps({"ok": verdict.ok, "chain": verdict.as_dict()}, indent=2))
        report_break(verdict)
        raise typer.Exit(0 if verdict.ok else 1)
    key = checkpoint_key(settings()) if found is not None else None
    ledger = open_ledger()
    engine = open_engine(ledger)
    with progress_bar("verifying") as bar:
        chain = verify_log(ledger, engine.db, found, key, bar)
        access_chain = verify_access_log(engine.db)
        task = bar.add_task("events", total=engine.position)
        result = engine.verify_sealed(chain, progress=lambda done, total: bar.update(task, completed=done,
                                                                                     total=total), limit=show)
    # the rows and the columns that differ, never their values (personal data), as the API gives them
    result["mismatches"] = [engine.difference(m) for m in result["mismatches"]]
    result["lag"] = lag = engine.lag(result["position"])
    result["chain"] = chain.as_dict()
    result["access_chain"] = access_chain.as_dict()
    views_ok = result["ok"]
    result["ok"] = views_ok and chain.ok and access_chain.ok
    typer.echo(json.dumps(result, ensure_ascii=False, indent=2, default=str))
    report_break(chain)
    report_break(access_chain, "access log")
    if lag["behind"]:
        err.print(f"[yellow]stale:[/yellow] the views trail the log by {lag['behind']} events: this answer is "
                  f"for position {lag['views_position']}, the log is at {lag['log_position']} (the views "
                  "catch up under `ledger serve` or the worker, or with any `ledger report`)", highlight=False)
    for mismatch in result["mismatches"]:
        err.print(f"[red]mismatch[/red] {mismatch['table']} {mismatch['key']}: {_difference(mismatch)}",
                  highlight=False)
    hidden = result["mismatch_count"] - len(result["mismatches"])
    if hidden > 0:
        err.print(f"... and {hidden} more mismatches (raise --show to list them)")
    if not result["views"]["checked"]:
        err.print(f"[red]views not checked:[/red] {result['views']['detail']}", highlight=False)
    elif not views_ok:
        err.print(f"[red]verify failed:[/red] {result['mismatch_count']} mismatches; `ledger rebuild` "
                  "re-derives the views from the events")
    raise typer.Exit(0 if result["ok"] else 1)


@commands.command("checkpoint")
def checkpoint_command(
    output: Annotated[Path | None, typer.Option(help="write the checkpoint to this file", dir_okay=False)] = None,
) -> None:
    """The sealed log's last position and root, signed with LEDGER_CHECKPOINT_KEY: keep it
    outside the database; `ledger verify --checkpoint FILE` later proves the log still
    extends it."""
    key = checkpoint_key(settings())
    ledger = open_ledger()
    db = ViewDatabase(settings().database_url)
    try:
        position, root = Sealer(ledger, db).checkpoint()
    finally:
        db.close()
        ledger.close()
    emit((json.dumps(sign(position, root, key), indent=2) + "\n").encode(), output)


# --- exported files ----------------------------------------------------------------------------


def export_lines(ledger: Ledger, db: ViewDatabase, after: int) -> Iterator[dict[str, Any]]:
    """The export's lines after `after`: each event's record (as GET /v1/audit/events gives
    it) with `sealed`, its stored bytes and seals: {originator_id, version, topic, state
    (base64), digest, previous, seal} (hex)."""
    Sealer(ledger, db).seal()
    previous: bytes | None = None
    for position, originator_id, version, topic, state, event_digest, seal in sealed_events(
            db, ledger.recorder.events_table_name, after):  # type: ignore[attr-defined]
        if previous is None:
            previous = last_seal(db, position - 1)[1]
        stored = StoredEvent(originator_id=UUID(str(originator_id)), originator_version=version, topic=topic,
                             state=bytes(state))
        line = stored_record(position, stored, ledger.mapper)  # flagged when it no longer decodes
        line["sealed"] = {"originator_id": str(originator_id), "version": version, "topic": topic,
                          "state": base64.b64encode(bytes(state)).decode(), "digest": bytes(event_digest).hex(),
                          "previous": previous.hex(), "seal": bytes(seal).hex()}
        previous = bytes(seal)
        yield line


def file_mapper(keys: DataKeys | None = None) -> Mapper[UUID]:
    """The Ledger's mapper without a store: its transcodings (and, given the data keys, the
    opening of the personal fields), to decode an exported line's stored state and compare
    it with the line's own fields."""
    from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, UUIDAsHex

    transcoder = JSONTranscoder()
    transcodings: list[LibraryTranscoding] = [UUIDAsHex(), DecimalAsStr(), DatetimeAsISO(), *TRANSCODINGS]
    for transcoding in transcodings:
        transcoder.register(transcoding)
    if keys is not None:
        return PersonalDataMapper(transcoder=transcoder, keys=keys)
    return Mapper(transcoder=transcoder)


def file_keys() -> DataKeys | None:
    """The data keys of LEDGER_DATA_KEYS, if set: with them an exported file's personal
    fields are opened and compared too (an auditor without them checks the rest)."""
    import os

    from domain.personal import SETTING, DataKeyError

    try:
        return DataKeys.from_env(os.environ) if os.environ.get(SETTING) else None
    except DataKeyError as error:  # malformed: named in one line, as every command does
        err.print(f"[red]configuration error:[/red] {escape(str(error))}", highlight=False)
        raise typer.Exit(2) from None


def without_personal(record: dict[str, Any], topic: str) -> dict[str, Any]:
    """An exported line's record without the personal fields of its event (nor their sealed
    value): what can be compared with the stored bytes without the data keys."""
    data = record.get("data")
    if isinstance(data, dict):
        record = {**record, "data": {k: v for k, v in data.items()
                                     if k != PERSONAL_FIELD and k not in PERSONAL_FIELDS.get(topic, ())}}
    return record


def verify_file(lines: Iterable[bytes], checkpoint: dict[str, Any] | None, key: bytes | None,
                keys: DataKeys | None = None) -> Verdict:
    """An exported file checked on its own: each line's stored bytes give its digest and
    its fields, each seal follows the line before it, and with a checkpoint the seal at the
    checkpoint's position is its root. The first line's `previous` is taken as given (the
    file may start after the first event) unless the file starts at the first position.
    Personal fields that the keys given don't open, in bytes that agree with their digest and
    seal, raise PersonalDataUnreadable: the keys are wrong, not the file (as against the store)."""
    verdict = unsigned(checkpoint, key) or Verdict()
    if not verdict.ok:
        return verdict
    mapper = file_mapper(keys)
    last_seal: bytes | None = None
    before_last: bytes | None = None
    last_position: int | None = None
    computed = GENESIS
    seen_checkpoint = False
    remaining = (raw for raw in lines if raw.strip())
    for raw in remaining:
        try:
            line = json.loads(raw)
            sealed = line.pop("sealed")
            position = int(line["position"])
            state = base64.b64decode(sealed["state"], validate=True)
            event_digest = digest(sealed["originator_id"], int(sealed["version"]), str(sealed["topic"]), state)
            previous, seal = bytes.fromhex(sealed["previous"]), bytes.fromhex(sealed["seal"])
            stored = StoredEvent(originator_id=UUID(str(sealed["originator_id"])),
                                 originator_version=int(sealed["version"]), topic=str(sealed["topic"]), state=state)
            unreadable: PersonalDataUnreadable | None = None
            try:
                decoded = json.loads(json.dumps(event_record(position, mapper.to_domain_event(stored)),
                                                ensure_ascii=False))
            except PersonalDataUnreadable as error:  # the keys' fault or the bytes': told apart by the seals
                decoded, unreadable = {}, error
        except (KeyError, TypeError, ValueError, AttributeError, TopicError):
            # the line's own position when it can be read, else the one after the last good line
            readable = _position(raw)
            return _broke(verdict, readable if readable != UNREADABLE else _after(last_position), CHANGED)
        if last_position is not None and position <= last_position:
            return _broke(verdict, position, REORDERED)
        if last_seal is None:
            computed = previous
        elif previous != last_seal:
            if previous == before_last:  # the line before this one was not in the log here
                return _broke(verdict, last_position, INSERTED)
            following = next(remaining, None)  # a later line moved before an earlier one?
            moved = following is not None and _position(following) < position
            # a line missing here: the position after the last good line (the store's check names it)
            return _broke(verdict, position if moved else _after(last_position), REORDERED if moved else MISSING)
        if keys is None:  # the personal fields can't be opened: compared as sealed bytes only
            decoded, line = without_personal(decoded, stored.topic), without_personal(line, stored.topic)
        if event_digest != bytes.fromhex(sealed["digest"]) or (unreadable is None and decoded != line):
            return _broke(verdict, position, CHANGED)
        computed = chain(computed, position, event_digest)
        if computed != seal:
            return _broke(verdict, position, SEAL_CHANGED)
        if unreadable is not None:  # the bytes are the ones sealed: the data keys given don't open them
            raise unreadable
        if checkpoint is not None and position == checkpoint.get("position"):
            seen_checkpoint = True
            if computed.hex() != checkpoint.get("root"):
                return _broke(verdict, position, CHECKPOINT)
        before_last, last_seal, last_position = last_seal, seal, position
        verdict.events += 1
        verdict.position, verdict.root = position, computed
    if checkpoint is not None and not seen_checkpoint:
        return _broke(verdict, checkpoint.get("position"), MISSING)
    return verdict


UNREADABLE = 2**63  # `_position` of a line whose position can't be read


def _position(raw: bytes) -> int:
    """A line's position, as far as it can be read (UNREADABLE, after any other, when it can't)."""
    try:
        return int(json.loads(raw)["position"])
    except (KeyError, TypeError, ValueError):
        return UNREADABLE


def _after(position: int | None) -> int | None:
    """The position after the last good line (none before the first line)."""
    return None if position is None else position + 1


def _broke(verdict: Verdict, position: int | None, reason: str) -> Verdict:
    verdict.first_bad_position, verdict.reason = position, reason
    return verdict
