"""`import_file`: a roster file imported by this process alone, or, for a big members
file, in parts, each decided and recorded by a worker process of its own (the processes
and the split: api/importing/parts.py; the work of one part, or of a whole file:
api/importing/job.py)."""

from __future__ import annotations

import contextlib
import gc
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from api.importing.columns import Progress, Result, Row
from api.importing.job import _Import
from api.importing.parts import Channel, Workers, split, worker_count
from domain.ledger import Ledger


def import_file(
    ledger: Ledger, path: str | Path, kind: str, *, encoding: str | None = None, sheet: str | None = None,
    on: date | None = None, dry_run: bool = False, progress: Progress | None = None, workers: int | None = None,
) -> Result:
    """Check every row of a roster file and, if none has a problem (and not `dry_run`),
    record the rows the ledger does not hold yet. Raises `ImportFileError` for a file that
    can't be read, `LedgerError` for a bad `on` or `workers`; row problems are in the
    result. A big members file is split among `workers` processes (default:
    `parts.worker_count`; 1: this process alone)."""
    job = _Import(ledger, Path(path), kind, encoding=encoding, sheet=sheet, on=on, progress=progress)
    try:
        rows = job.start()
        count = worker_count(ledger.env, kind, len(rows), workers)
        parts = split(rows, count) if count > 1 else [rows]
        if len(parts) > 1:
            return run_in_parts(job, parts, dry_run)
        return job.run(rows, dry_run)
    finally:
        if job.freeze:
            gc.unfreeze()


def run_in_parts(job: _Import, parts: list[list[Row]], dry_run: bool) -> Result:
    """The rows split by organization (`split`: each branch's rows in one part), each part
    decided by a worker process as `_Import.decide` decides a whole file; recorded only when
    no part has a problem (nor the file's cells: `_Import.prepare`), each part by its worker."""
    result, clock = job.result, time.monotonic()
    result.workers = len(parts)
    env = dict(job.ledger.env)
    env["CREATE_TABLE"] = "n"  # made already, by this process: two making it at once fail
    tasks = [PartTask(env, job.ledger.today(), job.kind, job.file, job.tag, job.on, job.headings, job.index, part)
             for part in parts]
    before = job.ledger.max_position()
    with Workers(_decide_part, tasks, job.tick) as workers:
        checked = workers.gather("checked")
        for problems, skipped, _ in checked:
            result.problems.extend(problems)
            result.skipped += skipped
        result.seconds["check"] = time.monotonic() - clock
        job.sort_problems()
        go = not (result.problems or dry_run)
        workers.tell(go)
        if not go:
            if dry_run and not result.problems:
                result.recorded = sum(fresh for _, _, fresh in checked)
            return result
        clock = time.monotonic()
        for problems, recorded, position in workers.gather("recorded"):
            result.problems.extend(problems)
            result.recorded += recorded
            result.position = max(result.position, position)
    job.ledger.adopt_saves(result.position)  # this process reads back what its workers saved
    job.after_recording(before)
    result.seconds["record"] = time.monotonic() - clock
    job.sort_problems()
    return result


@dataclass(frozen=True)
class PartTask:
    """What a worker process needs to decide and record a part of a members file."""

    env: dict[str, str]  # the ledger's, secrets included: sent through a pipe, never on a command line
    today: date
    kind: str
    file: str
    tag: str
    on: date
    headings: list[str]
    index: dict[str, int]
    rows: list[Row]


def _decide_part(channel: Channel, task: PartTask) -> None:
    """In a worker process: decide the part's rows as `_Import.decide` does, answer
    ("checked", problems, skipped, fresh); then, told to go on, record them and answer
    ("recorded", problems, recorded, position)."""
    ledger = Ledger(task.env, today=lambda: task.today)
    try:
        job = _Import(ledger, Path(task.file), task.kind, encoding=None, sheet=None, on=task.on,
                      progress=channel.progress, tag=task.tag)
        job.headings, job.index = task.headings, task.index
        try:
            with contextlib.ExitStack() as kept:
                chunks, fresh = job.decide(task.rows, kept)
            channel.answer("checked", job.result.problems, job.result.skipped, len(fresh))
            if not channel.told():
                return
            job.record(chunks)
            channel.answer("recorded", job.result.problems, job.result.recorded, job.result.position)
        finally:
            if job.freeze:
                gc.unfreeze()
    finally:
        ledger.close()
